"""Deprecated package: resolvers moved to giftwrap.resolve and giftwrap.resolvers."""
