"""Stage 3, the run: a job per project, sequencing the stages below, and reuse."""
