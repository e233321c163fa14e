"""Stage 2, the plan: every check that needs no clone, and the drivers chosen per project."""
