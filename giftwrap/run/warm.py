"""The first reuse layer: unchanged inputs, found before any checkout.

The commit the ref names now (and the tags), the manifest's values, the
patches, the resolver's fingerprint and the lock entry make a *memo* per
builder, recorded beside each artifact built or reused
(:func:`giftwrap.run.reuse.remember`).  The same memo again means the same
inputs, so the checkout, the resolution and the full key
(:func:`giftwrap.run.reuse.inputs`, the second layer) are not needed.

What the check learns is returned as a :class:`Warm`, which the job hands
to its clone stage and to :func:`remember`: the check keeps nothing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from giftwrap import errors
from giftwrap.fetch import git, patches
from giftwrap.run import reuse
from giftwrap.run.outcome import Outcome, Progress, reused

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.plan.planner import ProjectPlan
    from giftwrap.trust.lockfile import Entry
    from giftwrap.util.process import Runner


@dataclasses.dataclass(frozen=True)
class Warm:
    """What the reuse check found.

    :ivar outcomes: every builder's artifact reused (the job is done), or
        None: build.
    :ivar memo: (commit, builder -> memo) to record once built, or None.
    :ivar fetch_error: why the mirror could not be updated: the clone
        stage raises it rather than asking the same server again.
    :ivar refreshed: the mirror is up to date: the clone need not fetch.
    """

    outcomes: list[Outcome] | None = None
    memo: tuple[str, dict[str, str]] | None = None
    fetch_error: errors.SourceError | None = None
    refreshed: bool = False


def check(pp: 'ProjectPlan', locked: 'Entry | None',
          fingerprint: Callable[[], str | None], *, cache_dir: Path,
          offline: bool, runner: 'Runner', progress: Progress) -> Warm:
    """Reuse the artifacts of ``pp`` if its inputs did not change.

    :param locked: the lock's entry being replayed, if any.
    :param fingerprint: the resolver's fingerprint (asked only when there
        is no lock entry).
    """
    project = pp.project
    try:
        state = git.remote_state(
            project.giturl, locked.commit if locked else project.gitref,
            cache_dir, runner=runner, offline=offline)
        found = (reuse.key(dataclasses.asdict(locked)) if locked
                 else fingerprint())
        patch_digest = patches.digest(patches.find(project))
    except errors.SourceError as exc:
        # Fetching again would ask the same server (or read the same
        # broken repository) twice, and a half-made mirror would only
        # say "no such branch".
        return Warm(fetch_error=exc, refreshed=True)
    except errors.GiftwrapError:
        return Warm(refreshed=True)  # the usual path says why
    if state is None or found is None:
        return Warm(refreshed=True)
    memo = (state[0], {c.name: reuse.key({
        'commit': state[0], 'tags': state[1], 'resolver': found,
        'patches': patch_digest,
        'epoch': os.environ.get('SOURCE_DATE_EPOCH', ''),
        **reuse.settings(project, pp.interpreter, c.name, c.options)})
        for c in pp.builders})
    artifacts = {c.name: reuse.reusable_unchanged(
        project.output_dir, project.name, c.name, memo[1][c.name])
        for c in pp.builders}
    if not all(artifacts.values()):
        return Warm(memo=memo, refreshed=True)
    progress(project.name, 'unchanged: reusing the artifacts')
    return Warm([reused(project.name, n, p) for n, p in artifacts.items()],
                memo, refreshed=True)


def possible(pp: 'ProjectPlan') -> bool:
    """Whether :func:`check` could reuse ``pp``'s artifacts: each builder
    has one recorded with a memo.  Reads only the output directory's
    index, so an executor can skip the mirror's update when it cannot."""
    return all(reuse.remembered(pp.project.output_dir, pp.project.name,
                                c.name) for c in pp.builders)


def remember(memo: tuple[str, dict[str, str]] | None, output_dir: Path,
             key: str, commit: str, keys: dict[str, str]) -> None:
    """Record ``memo`` beside each artifact this run built or reused (only
    for the commit it was made for: another process may have moved the
    mirror in between)."""
    if memo is None or memo[0] != commit:
        return
    for builder, value in memo[1].items():
        reuse.remember(output_dir, key, builder, keys[builder], value)
