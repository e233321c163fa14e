"""Stage 1, the manifest: YAML with line numbers, the schema, templating, versions."""
