"""Executors: where a build's jobs run (``giftwrap.executors`` drivers)."""
