"""Stage 8, trust: locks, SBOMs, signatures, repositories, reproducibility, verification."""
