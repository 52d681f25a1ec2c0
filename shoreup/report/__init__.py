"""Outputs: they know findings, incidents and ingest summaries — never file formats or detectors."""
