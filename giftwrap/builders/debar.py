"""The ``ar`` container of a .deb: its members, and one swapped for another.

The dpkg-deb builder runs dpkg-deb twice: once on the whole tree while the
tree is checked and the md5sums gathered, once on ``DEBIAN/`` alone, beside
it, as soon as they are complete.  The package is the first one's
``debian-binary`` and ``data.tar``, and the second one's ``control.tar``:
every member as dpkg-deb wrote it, byte for byte, header included, so the
file is the one a single ``dpkg-deb -b`` would have written.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from giftwrap.api import BuildError

MAGIC = b'!<arch>\n'
_HEADER = 60


@dataclasses.dataclass(frozen=True)
class Member:
    """One member: its name, where its header starts, header + data +
    padding length."""

    name: str
    offset: int
    length: int


def members(path: Path) -> list[Member]:
    """The members of the .deb at ``path``, in order.

    :raises giftwrap.errors.BuildError: not a .deb of three members.
    """
    found = []
    with open(path, 'rb') as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise BuildError(f'{path} is not an ar archive')
        offset = len(MAGIC)
        while header := handle.read(_HEADER):
            if len(header) < _HEADER or header[58:60] != b'`\n':
                raise BuildError(f'{path}: a truncated ar member header')
            size = int(header[48:58].decode('ascii').strip() or 0)
            name = header[:16].decode('ascii', 'replace').strip().rstrip('/')
            length = _HEADER + size + size % 2
            found.append(Member(name, offset, length))
            offset += length
            handle.seek(offset)
    names = [m.name.split('.')[0] for m in found]
    if names != ['debian-binary', 'control', 'data']:
        raise BuildError(f'{path} has the members {names}, not a .deb\'s')
    return found


def swap_control(package: Path, control: Path, output: Path) -> None:
    """Write ``output``: ``package`` with the control member of
    ``control`` (both written by dpkg-deb)."""
    binary, _, data = members(package)
    control_member = members(control)[1]
    with open(package, 'rb') as first, open(control, 'rb') as second, \
            open(output, 'wb') as out:
        out.write(MAGIC)
        for source, member in ((first, binary), (second, control_member),
                               (first, data)):
            out.flush()
            _copy(source.fileno(), out.fileno(), member.offset,
                  member.length)


def _copy(src: int, dst: int, offset: int, length: int) -> None:
    """``length`` bytes of ``src`` from ``offset`` appended to ``dst``, in
    the kernel where it can (the data member is most of the package)."""
    while length:
        try:
            done = os.copy_file_range(src, dst, length, offset)
        except OSError:  # another filesystem on an old kernel, ENOSYS...
            done = 0
        if not done:
            chunk = os.pread(src, min(length, 1 << 20), offset)
            if not chunk:
                raise BuildError('a .deb ended in the middle of a member')
            done = os.write(dst, chunk)
        offset += done
        length -= done
