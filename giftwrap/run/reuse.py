"""Warm rebuilds: an artifact whose inputs have not changed is reused.

The inputs of an artifact (commit, pins, interpreter, the project's
settings, the builder and its options, giftwrap's version) form one key,
recorded in the output directory's index (``.giftwrap-artifacts.json``)
beside the artifact.  Same key and the artifact intact: it is reused.  A
different key for an existing file name: the error names what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import stat
from pathlib import Path
from typing import Any, Mapping

import giftwrap
from giftwrap.util import atomic
from giftwrap.util.hashing import sha256_file  # noqa: F401 (reuse.sha256_file)

INDEX = '.giftwrap-artifacts.json'

# Project fields that do not shape the artifact (smoke commands only
# check it).
_IGNORED = frozenset({'where', '_locations', 'source_dependent', 'output_dir',
                      'force_overwrite', 'builders', 'builder_options',
                      'manifest_dir', 'smoke'})


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def inputs(project, checkout, pins, interpreter, builder: str,
           options: Mapping[str, Any], extra: Mapping[str, Any] = None
           ) -> dict[str, str]:
    """What one artifact is made from, each input as a short string."""
    result = {
        'commit': checkout.commit,
        'pins': _digest(sorted((k, p.version, p.sha256)
                               for k, p in pins.pins.items())
                        + sorted(pins.requirements)),
        **settings(project, interpreter, builder, options),
    }
    for name, value in (extra or {}).items():
        result[name] = _digest(value)
    return result


def settings(project, interpreter, builder: str,
             options: Mapping[str, Any]) -> dict[str, str]:
    """The inputs that are not the source: manifest values, interpreter,
    builder and its options, the versions of giftwrap and virtualenv."""
    fields = {f.name: getattr(project, f.name)
              for f in dataclasses.fields(project) if f.name not in _IGNORED}
    return {
        'interpreter': f'{interpreter.path} {interpreter.version}',
        'manifest': _digest(fields),
        'builder': builder,
        'options': _digest(dict(options)),
        'giftwrap': giftwrap.__version__,
        # it seeds pip and setuptools, which build the project
        'virtualenv': _version('virtualenv'),
    }


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return '-'


def key(values: Mapping[str, str]) -> str:
    return _digest(dict(values))


def _read(output_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((output_dir / INDEX).read_text())
    except (OSError, ValueError):
        return {}


def reusable(output_dir: Path, project: str, builder: str,
             values: Mapping[str, str]) -> Path | None:
    """The artifact built earlier from exactly these inputs, if intact."""
    entry = _read(output_dir).get(f'{project}/{builder}')
    if not entry or entry.get('key') != key(values):
        return None
    return _intact(output_dir, entry)


def reusable_unchanged(output_dir: Path, project: str, builder: str,
                       memo: str) -> Path | None:
    """The artifact whose sources and settings (:func:`remember`) were
    ``memo``, if intact: a warm rebuild that needs no checkout."""
    entry = _read(output_dir).get(f'{project}/{builder}')
    if not entry or entry.get('memo') != memo:
        return None
    return _intact(output_dir, entry)


def remembered(output_dir: Path, project: str, builder: str) -> bool:
    """Whether an artifact of ``project`` by ``builder`` is recorded with a
    memo: without one, :func:`reusable_unchanged` finds nothing, whatever
    the memo asked for."""
    entry = _read(output_dir).get(f'{project}/{builder}')
    return isinstance(entry, dict) and bool(entry.get('memo'))


def recorded(output_dir: Path) -> dict[str, str]:
    """Artifact file name -> the project key (``nova``, ``nova@target``)
    that built it, as the output directory's index records them."""
    return {entry['artifact']: name.rpartition('/')[0]
            for name, entry in _read(output_dir).items()
            if isinstance(entry, dict) and 'artifact' in entry}


def _intact(output_dir: Path, entry: Mapping[str, Any]) -> Path | None:
    """The entry's artifact, if it is still what was recorded.

    The same size, modification time and inode as recorded are taken as
    "untouched" (as make and ninja do: hashing keystone's .deb costs a
    tenth of a warm rebuild); anything else is hashed.
    """
    name = entry.get('artifact')
    if not plain_name(name):
        return None  # a tampered index names no file of ours
    path = output_dir / name
    try:
        st = path.lstat()
    except OSError:
        return None
    if not _is_regular(st):
        return None
    if entry.get('stat') == _stat(st):
        return path
    if sha256_file(path) != entry.get('sha256'):
        return None
    return path


def plain_name(name: Any) -> bool:
    """Whether an index entry's ``artifact`` is a file name of the output
    directory itself: no directory, no hidden or staging file."""
    return isinstance(name, str) and bool(name) and '/' not in name and \
        '\0' not in name and not name.startswith('.')


def _is_regular(st) -> bool:
    return stat.S_ISREG(st.st_mode)


def _write(output_dir: Path, index: Mapping[str, Any]) -> None:
    """Replace the index (the caller holds the output directory's lock)."""
    atomic.write_text(output_dir / INDEX,
                      json.dumps(index, indent=2, sort_keys=True) + '\n')


def _stat(stat) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def remember(output_dir: Path, project: str, builder: str,
             values: Mapping[str, str], memo: str) -> None:
    """Record that the entry built from ``values`` came from ``memo``: the
    commit, tags, manifest values, resolver fingerprint... of its run."""
    with atomic.locked_dir(output_dir):
        index = _read(output_dir)
        entry = index.get(f'{project}/{builder}')
        if not entry or entry.get('key') != key(values) \
                or entry.get('memo') == memo:
            return
        entry['memo'] = memo
        _write(output_dir, index)


def changed(output_dir: Path, artifact: str, values: Mapping[str, str]
            ) -> str | None:
    """What differs from the inputs recorded for the file ``artifact``."""
    for entry in _read(output_dir).values():
        if entry.get('artifact') == artifact:
            old = entry.get('inputs', {})
            names = [n for n in sorted(set(old) | set(values))
                     if old.get(n) != values.get(n)]
            return ', '.join(_describe(n, old.get(n), values.get(n))
                             for n in names) or None
    return None


def _describe(name: str, old: str | None, new: str | None) -> str:
    if name in ('commit', 'giftwrap', 'interpreter', 'builder'):
        return f'{name} {(old or "-")[:12]} -> {(new or "-")[:12]}'
    return name


def record(output_dir: Path, project: str, builder: str,
           values: Mapping[str, str], artifact: Path,
           sha256: str | None = None) -> None:
    """Remember that ``artifact`` (whose ``sha256`` the caller may know
    already) was built from ``values``."""
    sha256 = sha256 or sha256_file(artifact)  # outside the lock
    with atomic.locked_dir(output_dir):
        index = _read(output_dir)
        index[f'{project}/{builder}'] = {
            'key': key(values), 'inputs': dict(values),
            'artifact': artifact.name, 'sha256': sha256,
            'stat': _stat(artifact.stat())}
        _write(output_dir, index)
