"""One way to hash a file, in blocks, so a 500 MB package never sits in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of the file at ``path``, read in blocks."""
    return _hexdigest(path, hashlib.sha256())


def md5_file(path: Path | str) -> str:
    """The md5 (hex) of the file at ``path``, read in blocks: what a .deb's
    ``md5sums`` lists (a check of the files, not of anyone's trust)."""
    return _hexdigest(path, hashlib.md5(usedforsecurity=False))


def _hexdigest(path: Path | str, digest) -> str:
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
