"""Stage 5, resolve: the resolver base, pins, overrides and the shared HTTP client."""
