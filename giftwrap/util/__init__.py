"""Helpers every stage uses: processes, atomic writes, container engines, the cache."""
