"""Stage 4, fetch: the git checkout, its patches and the wheels an offline build needs."""
