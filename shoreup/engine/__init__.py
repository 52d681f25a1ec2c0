"""Engines that hold the normalized tables and run detections: DuckDB (embedded, default)."""
