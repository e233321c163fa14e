"""``pip_overrides`` and ``pip_exclude``: the operator's word over a pin.

Both are recorded in the lock and the summary, so a release says where it
departs from what upstream tested.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from giftwrap import errors
from giftwrap.sources.base import Pin, Pins


def apply(pins: Pins, project) -> tuple[Pins, dict]:
    """The resolver's pins with ``pip_exclude`` removed and
    ``pip_overrides`` replacing (or adding) versions.

    :returns: the pins and what changed, for the lock and the summary.
    :raises giftwrap.errors.ManifestError: an override is no exact version.
    """
    for name, version in project.pip_overrides.items():
        try:
            Version(version)
        except InvalidVersion:
            raise errors.ManifestError(
                f'pip_overrides: {version!r} is not a version of {name}',
                where=project.where_key('pip_overrides'),
                hint='give an exact version, e.g. "9.1.0"') from None

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
