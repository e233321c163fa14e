"""Smaller packages: the ``strip`` options, applied to the staged tree.

They run after the virtualenv is built and relocated, before any packager
reads the tree:

``tests``
    drop the ``tests/`` directories of the installed distributions;
``pycache``
    ship no ``__pycache__``: the package's post-install script byte-compiles
    the virtualenv where it is installed (see
    :attr:`giftwrap.package.description.PackageDescription.compile_at_install`);
``sources``
    ship the project's own modules as byte-code only (``module.pyc``
    beside where ``module.py`` was, which Python imports without a source).

Every ``RECORD`` stays true to the files left, so pip can still uninstall
or check what is there.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import logging
import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.util import atomic
from giftwrap.venv.build import site_packages

LOG = logging.getLogger(__name__)

#: The ``strip`` options, in the order they are applied.
OPTIONS = ('sources', 'tests', 'pycache')


@dataclasses.dataclass(frozen=True)
class Stripped:
    """What one option removed: files and bytes (net of what it added)."""

    option: str
    files: int
    saved: int


def apply(venv: Path, project: str, options: Sequence[str]
          ) -> tuple[Stripped, ...]:
    """Apply the ``strip`` options to the virtualenv at ``venv``.

    :param project: the project's distribution name (for ``sources``).
    :returns: what each option saved.
    :raises giftwrap.errors.BuildError: an unknown option, or no
        site-packages in ``venv``.
    """
    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise errors.BuildError(f'unknown strip option {unknown[0]!r}',
                                hint=f'strip options: {", ".join(OPTIONS)}')
    site = site_packages(venv)
    actions = {'sources': lambda: _sources(site, project),
               'tests': lambda: _remove_dirs(site, site, 'tests'),
               'pycache': lambda: _remove_dirs(venv, site, '__pycache__')}
    done = []
    for option in OPTIONS:
        if option in options:
            files, saved = actions[option]()
            LOG.info('strip %s: %d files, %d bytes less', option, files, saved)
            done.append(Stripped(option, files, saved))
    return tuple(done)


def _remove_dirs(top: Path, site: Path, name: str) -> tuple[int, int]:
    """Remove every directory called ``name`` below ``top``."""
    found = []
    for dirpath, dirnames, _ in os.walk(top):
        for dirname in list(dirnames):
            path = Path(dirpath, dirname)
            if dirname == name and not path.is_symlink():
                found.append(path)
                dirnames.remove(dirname)  # nothing to find inside
    files = saved = 0
    for path in found:
        count, size = _usage(path)
        files, saved = files + count, saved + size
        shutil.rmtree(path)
    _update_records(site, removed=found)
    return files, saved


def _usage(path: Path) -> tuple[int, int]:
    count = size = 0
    for dirpath, _, filenames in os.walk(path):
        for filename in filenames:
            count += 1
            size += os.lstat(os.path.join(dirpath, filename)).st_size
    return count, size


def _sources(site: Path, project: str) -> tuple[int, int]:
    """Replace the project's modules by their byte-code (``x.py`` ->
    ``x.pyc``, moved from ``__pycache__``, compiled with the install path
    by the virtualenv stage)."""
    record = _record_of(site, project)
    if record is None:
        LOG.warning('strip sources: %s is not installed in %s', project, site)
        return 0, 0
    replaced: dict[Path, Path] = {}
    saved = 0
    for source in _record_paths(site, record):
        if source.suffix != '.py' or site not in source.parents:
            continue
        compiled = _compiled(source)
        if compiled is None:
            LOG.warning('strip sources: %s has no byte-code; its source is '
                        'kept', source.relative_to(site))
            continue
        target = source.with_suffix('.pyc')
        saved += source.stat().st_size
        os.replace(compiled, target)
        source.unlink()
        replaced[source] = target
    _update_records(site, replaced=replaced)
    return len(replaced), saved


def _compiled(source: Path) -> Path | None:
    """The (non-optimised) byte-code of ``source`` in its ``__pycache__``."""
    cache = source.parent / '__pycache__'
    found = [p for p in sorted(cache.glob(f'{source.stem}.*.pyc'))
             if p.name.count('.') == 2]  # not x.cpython-311.opt-1.pyc
    return found[0] if found else None


def _record_of(site: Path, project: str) -> Path | None:
    wanted = canonicalize_name(project)
    for dist_info in sorted(site.glob('*.dist-info')):
        name = dist_info.name[:-len('.dist-info')].split('-')[0]
        if canonicalize_name(name) == wanted and \
                (dist_info / 'RECORD').is_file():
            return dist_info / 'RECORD'
    return None


def _record_paths(site: Path, record: Path) -> list[Path]:
    rows = csv.reader(io.StringIO(record.read_text(encoding='utf-8')))
    return [Path(os.path.normpath(site / row[0])) for row in rows if row]


def _update_records(site: Path, *, removed: Iterable[Path] = (),
                    replaced: dict[Path, Path] | None = None) -> None:
    """Drop the rows of ``removed`` directories; rewrite ``replaced`` files
    (old -> new) with their new hash and size."""
    removed = tuple(removed)
    replaced = replaced or {}
    if not removed and not replaced:
        return
    for record in site.glob('*.dist-info/RECORD'):
        text = record.read_text(encoding='utf-8')
        kept, dirty = [], False
        for row in csv.reader(io.StringIO(text)):
            path = Path(os.path.normpath(site / row[0])) if row else None
            if path is not None and any(d == path or d in path.parents
                                        for d in removed):
                dirty = True
                continue
            if path in replaced:
                new = replaced[path]
                row = [os.path.relpath(new, site), _hash(new),
                       str(new.stat().st_size)]
                dirty = True
            kept.append(row)
        if dirty:
            out = io.StringIO()
            csv.writer(out, lineterminator='\n').writerows(kept)
            # a new file: RECORD may be a hard link into uv's cache
            atomic.replace_bytes(record, out.getvalue().encode('utf-8'))


def _hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return 'sha256=' + base64.urlsafe_b64encode(digest).rstrip(b'=').decode()
