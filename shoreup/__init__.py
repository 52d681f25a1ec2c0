"""shoreup: find the phish → password attack → compromise → wiper chain in logs and mail."""

__version__ = "0.1.0"
__all__ = ["__version__"]
