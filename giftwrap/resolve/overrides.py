"""``pip_overrides`` and ``pip_exclude``: the operator's word over a pin.

Both are recorded in the lock and the summary, so a release says where it
departs from what upstream tested.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from giftwrap.util import identifiers
from giftwrap.resolve.base import Pin, Pins


def check(project) -> None:
    """Every ``pip_overrides`` key a distribution name and value an exact
    version, every ``pip_exclude`` item a name: they are written into
    pip's constraints file.

    :raises giftwrap.errors.ManifestError: naming the key's line.
    """
    where = project.where_key('pip_overrides')
    for name, version in project.pip_overrides.items():
        identifiers.check('name', name, 'pip_overrides key', where=where)
        identifiers.check('version', version, f'pip_overrides: {name}:',
                          where=where,
                          hint='give an exact version, e.g. "9.1.0"')
    for name in project.pip_exclude:
        identifiers.check('name', name, 'pip_exclude item',
                          where=project.where_key('pip_exclude'))


def apply(pins: Pins, project) -> tuple[Pins, dict]:
    """The resolver's pins with ``pip_exclude`` removed and
    ``pip_overrides`` replacing (or adding) versions.

    :returns: the pins and what changed, for the lock and the summary.
    :raises giftwrap.errors.ManifestError: an override is no exact version.
    """
    check(project)

    def was(name):
        pin = pins.pins.get(canonicalize_name(name))
        return pin.version if pin else None

    changes = {}
    if project.pip_exclude:
        changes['pip_exclude'] = {n: was(n) for n in project.pip_exclude}
    if project.pip_overrides:
        changes['pip_overrides'] = {
            n: {'version': v, 'replaced': was(n)}
            for n, v in project.pip_overrides.items()}
    if not changes:
        return pins, changes
    kept = pins.without(*project.pip_exclude).pins.values()
    return Pins.of([*kept, *(Pin(n, v) for n, v in
                             project.pip_overrides.items())],
                   pins.provenance, pins.requirements,
                   complete=pins.complete), changes


def summary(changes) -> list[str]:
    """Lines for the build summary."""
    notes = []
    changed = changes.get('pip_overrides', {})
    if changed:
        notes.append('pip_overrides: ' + ', '.join(
            f'{n}=={c["version"]} (was {c["replaced"] or "not pinned"})'
            for n, c in sorted(changed.items())))
    removed = changes.get('pip_exclude', {})
    if removed:
        notes.append('pip_exclude: ' + ', '.join(
            f'{n} (was {v or "not pinned"})' for n, v in sorted(
                removed.items())))
    return notes
