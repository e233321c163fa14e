"""Stage 6, the virtualenv: interpreter, installers, build requirements, relocation."""
