"""Finding the first difference between two builds of the same artifact.

``giftwrap build --check-reproducible`` builds twice and compares; a bare
"files differ" helps nobody, so for .deb files the archive members and the
tar entries inside them are compared, naming the first entry that differs
and how (content, mode, owner, time).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Iterator

_AR_MAGIC = b'!<arch>\n'


def first_difference(a: Path, b: Path) -> str | None:
    """None if ``a`` and ``b`` are identical, else where they first differ."""
    data_a, data_b = Path(a).read_bytes(), Path(b).read_bytes()
    if data_a == data_b:
        return None
    if data_a.startswith(_AR_MAGIC) and data_b.startswith(_AR_MAGIC):
        found = _ar_difference(data_a, data_b)
        if found:
            return found
    return f'byte {_first_byte(data_a, data_b)} differs'


def _first_byte(a: bytes, b: bytes) -> int:
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    """(name, header, content) of each member of an ar archive (a .deb)."""
    offset = len(_AR_MAGIC)
    while offset + 60 <= len(data):
        header = data[offset:offset + 60]
        name = header[:16].decode('ascii', 'replace').strip().rstrip('/')
        size = int(header[48:58].decode('ascii').strip() or 0)
        yield name, header, data[offset + 60:offset + 60 + size]
        offset += 60 + size + (size % 2)


def _ar_difference(a: bytes, b: bytes) -> str | None:
    members_a, members_b = list(_ar_members(a)), list(_ar_members(b))
    names_a = [m[0] for m in members_a]
    names_b = [m[0] for m in members_b]
    if names_a != names_b:
        return f'archive members differ: {names_a} != {names_b}'
    for (name, head_a, body_a), (_, head_b, body_b) in zip(members_a,
                                                           members_b):
        if body_a != body_b:
            return _tar_difference(name, body_a, body_b) or \
                f'{name}: content differs'
        if head_a != head_b:
            return f'{name}: member header (time, owner or mode) differs'
    return None


def _tar_difference(name: str, a: bytes, b: bytes) -> str | None:
    """The first tar entry of ``name`` that differs, if the tar is readable."""
    try:
        tar_a = tarfile.open(fileobj=io.BytesIO(a))
        tar_b = tarfile.open(fileobj=io.BytesIO(b))
    except (tarfile.TarError, OSError):  # e.g. zstd, which tarfile lacks
        return None
    with tar_a, tar_b:
        entries_b = {m.name: m for m in tar_b.getmembers()}
        for entry in tar_a.getmembers():
            other = entries_b.pop(entry.name, None)
            if other is None:
                return f'{name}: {entry.name} only in the first build'
            for field in ('mode', 'uid', 'gid', 'uname', 'gname', 'mtime',
                          'linkname', 'size', 'type'):
                if getattr(entry, field) != getattr(other, field):
                    return (f'{name}: {entry.name}: {field} '
                            f'{getattr(entry, field)!r} != '
                            f'{getattr(other, field)!r}')
            if entry.isfile() and _read(tar_a, entry) != _read(tar_b, other):
                return f'{name}: {entry.name}: content differs'
        if entries_b:
            return f'{name}: {sorted(entries_b)[0]} only in the second build'
        return f'{name}: the order of entries differs'


def _read(tar: tarfile.TarFile, entry: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(entry)
    return handle.read() if handle else b''
