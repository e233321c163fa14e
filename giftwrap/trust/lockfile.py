"""``giftwrap.lock``: what a build used, so it can be rebuilt exactly.

One JSON file in the output directory, keyed by project: the git url, ref
and commit; the resolver and where its pins came from; every pin with the
sha256 of the file pip installed; the interpreter.  Builds merge their
successful projects into it atomically, under a file lock, so concurrent
runs sharing an output directory keep each other's entries.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import giftwrap
from giftwrap import errors
from giftwrap.util import atomic, identifiers
from giftwrap.resolve.base import Pin, Pins

FILENAME = 'giftwrap.lock'
#: 2: ``build_tool_hashes`` (the sha256s of each locked build tool).
#: Format 1 locks still load; their build tools are checked by version.
FORMAT = 2
READABLE = (1, 2)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One project's locked inputs."""

    giturl: str
    gitref: str
    commit: str
    resolver: str
    provenance: Mapping[str, Any]
    pins: Mapping[str, Mapping[str, Any]]
    interpreter: Mapping[str, str]
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: pip, setuptools, wheel and build backends the build used
    build_tools: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: name -> the sha256s any file of that build tool's version may have
    build_tool_hashes: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict)
    unpinned: tuple[str, ...] = ()
    #: the patches applied after checkout: ``{"file": ..., "sha256": ...}``
    #: in order (giftwrap.fetch.patches).
    patches: tuple[Mapping[str, str], ...] = ()
    #: the distribution packages whose modules the virtualenv links:
    #: ``{"name", "version", "arch", "format"}`` (giftwrap.venv.syspython).
    system_python_packages: tuple[Mapping[str, str], ...] = ()

    def to_pins(self, lock_path: Path) -> Pins:
        """The locked pins, each with its sha256, as resolver output."""
        pins = [Pin(p['name'], p['version'], p.get('sha256'))
                for p in self.pins.values()]
        provenance = {'resolver': 'lock', 'lock': str(lock_path),
                      'locked_resolver': self.resolver}
        return Pins.of(pins, provenance)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data['unpinned'] = list(self.unpinned)
        data['build_tool_hashes'] = {n: list(h) for n, h in
                                     sorted(self.build_tool_hashes.items())}
        data['patches'] = [dict(p) for p in self.patches]
        # Only where there are some: other locks stay as they were.
        data['system_python_packages'] = [
            dict(p) for p in self.system_python_packages]
        if not data['system_python_packages']:
            del data['system_python_packages']
        return data


def entry_for(project, checkout, pins: Pins, report, interpreter) -> Entry:
    """The lock entry of a project that was just built."""
    locked = {}
    for name, version in report.closure.items():
        pin = pins.pins.get(name)
        locked[name] = {'name': pin.name if pin else name, 'version': version,
                        'sha256': report.hashes.get(name)}
    return Entry(
        giturl=project.provenance_url, gitref=project.gitref, commit=checkout.commit,
        resolver=project.resolver,
        provenance={k: str(v) for k, v in pins.provenance.items()},
        pins=locked,
        interpreter={'path': str(interpreter.path),
                     'version': interpreter.version},
        build_tools=dict(report.build_tools),
        build_tool_hashes={n: tuple(h) for n, h in
                           report.build_tool_hashes.items()},
        unpinned=tuple(sorted(report.unpinned)))


def read(path: Path, *, check_values: bool = True) -> dict[str, Entry]:
    """The entries of the lock file at ``path``.

    :param check_values: refuse values that are not plain (:func:`check`);
        only for locks whose values go nowhere (``giftwrap diff`` shows
        them; merging keeps other projects' entries as they are) may this
        be False.
    :raises giftwrap.errors.ManifestError: unreadable or not a lock file.
    """
    try:
        data = json.loads(Path(path).read_text())
        if data.get('format') not in READABLE:
            raise ValueError(f'unknown lock format {data.get("format")!r} '
                             f'(this giftwrap reads formats '
                             f'{", ".join(map(str, READABLE))})')
        entries = {name: Entry(**{**e,
                                  'build_tool_hashes': {
                                      n: tuple(h) for n, h in
                                      e.get('build_tool_hashes', {}).items()},
                                  'unpinned': tuple(e.get('unpinned', ())),
                                  'patches': tuple(e.get('patches', ())),
                                  'system_python_packages': tuple(e.get(
                                      'system_python_packages', ()))})
                   for name, e in data['projects'].items()}
        for name, entry in entries.items() if check_values else ():
            check(entry, where=f'{path}: project {name}')
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise errors.ManifestError(
            f'cannot read the lock file: {exc}', where=str(path),
            hint='give a giftwrap.lock written by giftwrap build or '
                 'giftwrap lock') from None
    return entries


def check(entry: Entry, *, where: str) -> None:
    """Every value of ``entry`` that reaches git or pip, checked: the commit
    (40 hex digits, never a branch), each pin's name, version and sha256,
    each build tool's name, version and sha256s, each patch's sha256.

    :raises giftwrap.errors.ManifestError: the first that is not plain.
    """
    hint = ('the lock is not as giftwrap wrote it; regenerate it with '
            'giftwrap lock')
    identifiers.check('commit', entry.commit, 'commit', where=where, hint=hint)
    for key, pin in entry.pins.items():
        if not isinstance(pin, Mapping):
            raise errors.ManifestError(f'pin {key!r} is not a mapping',
                                       where=where, hint=hint)
        for kind in ('name', 'version', 'sha256'):
            if kind != 'sha256' or pin.get(kind) is not None:
                identifiers.check(kind, pin.get(kind), f'pin {key!r}: {kind}',
                                  where=where, hint=hint)
    for name, version in entry.build_tools.items():
        identifiers.check('name', name, 'build tool', where=where, hint=hint)
        identifiers.check('version', version, f'build tool {name}: version',
                          where=where, hint=hint)
    for name, hashes in entry.build_tool_hashes.items():
        if name not in entry.build_tools or isinstance(hashes, str):
            raise errors.ManifestError(
                f'build tool hashes {name!r}: not a list for a locked build '
                'tool', where=where, hint=hint)
        for sha in hashes:
            identifiers.check('sha256', sha, f'build tool {name}: sha256',
                              where=where, hint=hint)
    for patch in entry.patches:
        identifiers.check('sha256', patch.get('sha256'), 'patch sha256',
                          where=where, hint=hint)


def merge(path: Path, entries: Mapping[str, Entry]) -> None:
    """Merge ``entries`` into the lock file at ``path``, atomically."""
    if not entries:
        return
    path = Path(path)
    with atomic.locked_dir(path.parent):
        current: dict[str, Any] = {}
        # an empty file is a new lock: one made to be bind-mounted into a
        # container (-v giftwrap.lock:/work/giftwrap.lock needs it to exist)
        if path.exists() and path.stat().st_size:
            current = {k: v.to_json() for k, v in
                       read(path, check_values=False).items()}
        current.update({k: v.to_json() for k, v in entries.items()})
        text = json.dumps({'format': FORMAT,
                           'giftwrap': giftwrap.__version__,
                           'projects': current}, indent=2, sort_keys=True)
        atomic.write_text(path, text + '\n')
