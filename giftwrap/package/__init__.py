"""Stage 7, the package: what a builder is given (description, scripts, dependencies)."""
