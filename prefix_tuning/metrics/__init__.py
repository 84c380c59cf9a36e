"""Metrics that match each task's official scoring scripts."""
