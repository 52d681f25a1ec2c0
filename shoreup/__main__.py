from shoreup.cli import run

run()
