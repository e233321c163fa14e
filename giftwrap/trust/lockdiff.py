"""What changed between two lock files: a release's changelog of inputs.

``giftwrap diff OLD.lock NEW.lock`` shows, per project, the commit range,
the patches added or removed and every pin added, removed, upgraded or
downgraded.  Versions are compared
as PEP 440 versions; two versions that do not parse are only "changed".  A
pin whose version stayed but whose file hash changed is reported too: the
same name and version built from a different file is worth a look.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Mapping

from packaging.version import InvalidVersion, Version

from giftwrap.trust.lockfile import Entry

# The kinds of change, in the order a project's rows are shown.
PROJECT_ADDED = 'project added'
PROJECT_REMOVED = 'project removed'
SOURCE = 'source'
COMMIT = 'commit'
INTERPRETER = 'interpreter'
#: a linked distribution package (system_python_packages) added, removed
#: or at another version: Debian and rpm versions are no PEP 440 versions
SYSTEM_PACKAGE = 'system package'
PATCH_ADDED = 'patch added'
PATCH_REMOVED = 'patch removed'
ADDED = 'added'
REMOVED = 'removed'
UPGRADED = 'upgraded'
DOWNGRADED = 'downgraded'
CHANGED = 'changed'
REHASHED = 'hash changed'

COLUMNS = ('Project', 'Change', 'Name', 'Old', 'New')


@dataclasses.dataclass(frozen=True)
class Change:
    """One difference: a row of ``giftwrap diff``.

    :ivar project: the project's name in the lock.
    :ivar change: one of the kinds above (``upgraded``, ``commit``...).
    :ivar name: what changed: a distribution, the git url, the interpreter.
    :ivar old: its value in the old lock (``''`` if it was absent).
    :ivar new: its value in the new lock (``''`` if it is gone).
    """

    project: str
    change: str
    name: str
    old: str = ''
    new: str = ''

    def row(self) -> tuple[str, str, str, str, str]:
        return (self.project, self.change, self.name, self.old, self.new)


def diff(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> list[Change]:
    """Every difference between two locks, project by project.

    :param old: the entries of the older lock (:func:`lockfile.read`).
    :param new: the entries of the newer lock.
    :returns: changes sorted by project; within one, the project and its
        source first, then pins by canonical name.
    """
    changes: list[Change] = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            changes.append(Change(name, PROJECT_REMOVED, old[name].giturl,
                                  old=old[name].commit))
        elif name not in old:
            changes.append(Change(name, PROJECT_ADDED, new[name].giturl,
                                  new=new[name].commit))
        else:
            changes.extend(_project(name, old[name], new[name]))
    return changes


def _project(name: str, old: Entry, new: Entry) -> Iterator[Change]:
    if old.giturl != new.giturl:
        yield Change(name, SOURCE, 'giturl', old.giturl, new.giturl)
    if old.commit != new.commit:
        yield Change(name, COMMIT, new.giturl, old.commit, new.commit)
    old_python = old.interpreter.get('version', '')
    new_python = new.interpreter.get('version', '')
    if old_python != new_python:
        yield Change(name, INTERPRETER, 'python', old_python, new_python)
    yield from _patches(name, old, new)
    yield from _system_packages(name, old, new)
    yield from _pins(name, old.pins, new.pins)


def _system_packages(project: str, old: Entry, new: Entry
                     ) -> Iterator[Change]:
    before = {p['name']: str(p.get('version', ''))
              for p in old.system_python_packages}
    after = {p['name']: str(p.get('version', ''))
             for p in new.system_python_packages}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            yield Change(project, SYSTEM_PACKAGE, name, before.get(name, ''),
                         after.get(name, ''))


def _patches(project: str, old: Entry, new: Entry) -> Iterator[Change]:
    """Patches by file and content: an edited patch is removed and added."""
    def keyed(entry: Entry) -> dict[tuple[str, str], None]:
        return dict.fromkeys((str(p.get('file', '')), str(p.get('sha256', '')))
                             for p in entry.patches)

    before, after = keyed(old), keyed(new)
    for file, sha in before:
        if (file, sha) not in after:
            yield Change(project, PATCH_REMOVED, file, old=sha)
    for file, sha in after:
        if (file, sha) not in before:
            yield Change(project, PATCH_ADDED, file, new=sha)


def _pins(project: str, old: Mapping[str, Mapping[str, Any]],
          new: Mapping[str, Mapping[str, Any]]) -> Iterator[Change]:
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        shown = str((after or before or {}).get('name') or key)
        if after is None:
            yield Change(project, REMOVED, shown, old=_version(before))
        elif before is None:
            yield Change(project, ADDED, shown, new=_version(after))
        elif _version(before) != _version(after):
            yield Change(project, _direction(_version(before),
                                             _version(after)),
                         shown, _version(before), _version(after))
        elif before.get('sha256') and after.get('sha256') and \
                before['sha256'] != after['sha256']:
            yield Change(project, REHASHED, shown, before['sha256'],
                         after['sha256'])


def _version(pin: Mapping[str, Any] | None) -> str:
    return str((pin or {}).get('version') or '')


def _direction(old: str, new: str) -> str:
    """``upgraded``, ``downgraded``, or ``changed`` when either does not
    parse or both are equal as versions (``1.0`` and ``1.0.0``)."""
    try:
        before, after = Version(old), Version(new)
    except InvalidVersion:
        return CHANGED
    if after > before:
        return UPGRADED
    if after < before:
        return DOWNGRADED
    return CHANGED
