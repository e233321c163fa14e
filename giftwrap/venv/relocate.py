"""Relocation: a virtualenv built under a staging root, made to name the
path it will be installed at.

Everything that names the staging path is rewritten (scripts in ``bin``,
the activate scripts, ``pyvenv.cfg``), each script's first line is written
as the installer would have written it for the install path (a shebang, or
``/bin/sh`` re-executing Python when the path is too long for one), and
installer bookkeeping that names the build machine is dropped; each
distribution's ``RECORD`` then lists what is there.  Every write is a new
file renamed over the old one: a staged file may be a hard link into uv's
cache.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Mapping

from giftwrap.util import atomic
from giftwrap.venv.installers import site_packages

LOG = logging.getLogger(__name__)

ELF_MAGIC = b'\x7fELF'
# Installer bookkeeping that varies with how a closure was installed, not
# with what: uv's cache records (meaningless on the target; uv_cache.json
# holds a timestamp), and REQUESTED (pip writes it for top-level
# requirements only, uv and a lock replay for everything).
_UV_FILES = ('uv_cache.json', 'uv_build.json', 'REQUESTED')
#: The longest interpreter path pip (distlib) and uv write as a shebang:
#: ``#!`` + path + newline within the kernel's historical 127 bytes.  A
#: longer one, or one with a space, gets the /bin/sh form below.
_SHEBANG_PATH_MAX = 124
_SHEBANG = re.compile(rb'#!(\S+)\n')
#: what pip and uv write instead of a shebang for such a path (pip leaves
#: the path unquoted, uv quotes it)
_SH_EXEC = re.compile(rb'#!/bin/sh\n\'\'\'exec\' (?:\'([^\'\n]+)\'|"([^"\n]+)"|'
                      rb'(\S+)) "\$0" "\$@"\n\' \'\'\'\n')


def relocate(venv: Path, install_path: PurePosixPath) -> None:
    """Replace the staging path by ``install_path`` in the virtualenv.

    Rewrites the scripts and activate scripts in ``bin`` and ``pyvenv.cfg``
    (a script that runs the virtualenv's Python starts as it would have,
    had it been installed at ``install_path``: :func:`script_head`),
    removes ``direct_url.json`` of distributions installed from a local path
    (it names the checkout) and uv's cache records (``uv_cache.json``,
    ``uv_build.json``), and updates the ``RECORD`` of each distribution
    whose files changed.

    :param venv: the virtualenv inside the staging root.
    :param install_path: where it will live.
    """
    old, new = str(venv).encode(), str(install_path).encode()
    changed: dict[Path, bytes] = {}
    for path in [*sorted((venv / 'bin').iterdir()), venv / 'pyvenv.cfg']:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and not data.startswith(ELF_MAGIC):
            data = script_head(data.replace(old, new), new + b'/bin/')
            _rewrite(path, data)
            changed[path] = data
    site = site_packages(venv)
    removed = _remove_local_direct_urls(site) | _remove_uv_files(site)
    _fix_records(site, changed, removed)
    _sort_records(site)
    # virtualenv marks the venv as a cache: backup tools would skip it.
    (venv / 'CACHEDIR.TAG').unlink(missing_ok=True)
    LOG.debug('relocated %d files to %s', len(changed), install_path)


def script_head(data: bytes, bin_dir: bytes) -> bytes:
    """``data`` (a script) starting as pip and uv start a script for its
    interpreter, when that is in ``bin_dir``: ``#!PYTHON`` where the path
    fits a shebang, else ``/bin/sh`` re-executing it (uv's form).

    The form the installer chose depended on the staging path's length, so
    without this a long work directory would change the package (and a
    long install path built under a short one would get a shebang the
    kernel cuts).  Anything else is returned as it is.
    """
    found = _SH_EXEC.match(data) or _SHEBANG.match(data)
    if found is None:
        return data
    python = next(group for group in found.groups() if group is not None)
    if not python.startswith(bin_dir):
        return data
    if len(python) <= _SHEBANG_PATH_MAX and b' ' not in python:
        head = b'#!' + python + b'\n'
    else:
        head = b"#!/bin/sh\n'''exec' '" + python + b"' \"$0\" \"$@\"\n' '''\n"
    return head + data[found.end():]


def _sort_records(site: Path) -> None:
    """Write every ``RECORD`` in a stable order.

    virtualenv's seeder lists byte-code in set order, and a rewritten
    RECORD ends its lines otherwise, so two builds of the same inputs would
    differ; neither order nor line ending means anything to a RECORD.
    """
    for record in sorted(site.glob('*.dist-info/RECORD')):
        data = record.read_bytes()
        lines = data.decode('utf-8').splitlines()
        # one line ending too: csv writes \r\n where pip wrote \n
        ordered = ('\n'.join(sorted(set(filter(None, lines)))) + '\n').encode()
        if ordered != data:
            _rewrite(record, ordered)


def _rewrite(path: Path, data: bytes) -> None:
    """Replace ``path``'s content, keeping its mode: a new file renamed
    over it, for ``path`` may be a hard link into uv's cache."""
    atomic.replace_bytes(path, data)


def _remove_local_direct_urls(site: Path) -> set[Path]:
    removed = set()
    for path in site.glob('*.dist-info/direct_url.json'):
        url = json.loads(path.read_text()).get('url', '')
        if url.startswith('file:'):
            path.unlink()
            removed.add(path)
    return removed


def _remove_uv_files(site: Path) -> set[Path]:
    removed = set()
    for name in _UV_FILES:
        for path in site.glob(f'*.dist-info/{name}'):
            path.unlink()
            removed.add(path)
    return removed


def _fix_records(site: Path, changed: Mapping[Path, bytes],
                 removed: set[Path]) -> None:
    """Update hashes and sizes of ``changed`` and drop ``removed`` in RECORDs."""
    for record in site.glob('*.dist-info/RECORD'):
        rows = list(csv.reader(io.StringIO(record.read_text())))
        kept, dirty = [], False
        for row in rows:
            target = Path(os.path.normpath(site / row[0])) if row else None
            if target in removed:
                dirty = True
                continue
            if target in changed:
                row = [row[0], _record_hash(changed[target]),
                       str(len(changed[target]))]
                dirty = True
            kept.append(row)
        if dirty:
            out = io.StringIO()
            csv.writer(out, lineterminator='\n').writerows(kept)
            _rewrite(record, out.getvalue().encode())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return 'sha256=' + digest.rstrip(b'=').decode()
