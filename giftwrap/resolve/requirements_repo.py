"""upper-constraints.txt read from the openstack/requirements repository.

The most robust source of constraints (the protocol notes' advice): clone
the repository (through giftwrap's git cache) and read the file at a
commit.  EOL series live on as tags, so ``stable/X`` falls back to
``unmaintained/X``, then ``X-eol`` and ``X-eom``.  A ``date`` picks the last
commit at or before it, which is what a build on that day saw.
"""

from __future__ import annotations

import datetime
import logging
import re

from dulwich.repo import Repo

from giftwrap import errors
from giftwrap.fetch import git

LOG = logging.getLogger(__name__)

FILENAME = b'upper-constraints.txt'
_SERIES_BRANCH = re.compile(r'^(?:stable|unmaintained)/(.+)\Z')


def candidates(ref: str) -> list[str]:
    """The refs to try for ``ref``, in order."""
    match = _SERIES_BRANCH.match(ref)
    if not match:
        return [ref]
    series = match.group(1)
    return [ref] + [r for r in (f'unmaintained/{series}', f'{series}-eol',
                                f'{series}-eom') if r != ref]


def parse_date(text: str) -> datetime.datetime:
    """An ISO 8601 date or time; naive values are UTC."""
    try:
        value = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise errors.ResolveError(
            f'date {text!r} is not an ISO 8601 date or time',
            hint='e.g. 2025-06-01 or 2025-06-01T12:00:00Z') from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def read(context, *, repo: str, ref: str, date: str | None
         ) -> tuple[str, str, dict[str, str]]:
    """The constraints text, a location naming the commit, and provenance.

    :raises giftwrap.errors.ResolveError: no candidate ref exists, or the
        commit has no upper-constraints.txt.
    """
    when = parse_date(date) if date else None
    dest = context.work_dir / 'requirements'
    checkout, tried = None, []
    for candidate in candidates(ref):
        try:
            checkout = git.fetch(repo, candidate, dest,
                                 cache_dir=context.cache_dir,
                                 runner=context.runner,
                                 offline=context.offline)
            break
        except errors.SourceError as exc:
            tried.append(candidate)
            LOG.debug('requirements ref %s: %s', candidate, exc.what)
    if checkout is None:
        raise errors.ResolveError(
            f'the requirements repository {repo} has none of '
            + ', '.join(tried),
            hint='set resolver_options: {upper-constraints: {ref: ...}} to '
                 'an existing branch, tag or commit')
    commit, text = _at(dest, checkout.commit, when, repo)
    facts = {'requirements_repo': repo, 'requirements_ref': checkout.ref,
             'requirements_commit': commit}
    if date:
        facts['requirements_date'] = date
    return text, f'{repo}@{commit}:upper-constraints.txt', facts


def _at(path, tip: str, when, repo: str) -> tuple[str, str]:
    """Walk first parents from ``tip`` to the commit in force at ``when``."""
    with Repo(str(path)) as source:
        commit = source[tip.encode()]
        while when is not None and commit.commit_time > when.timestamp():
            if not commit.parents:
                raise errors.ResolveError(
                    f'the requirements repository {repo} has no commit at or '
                    f'before {when.isoformat()}',
                    hint='choose a later date')
            commit = source[commit.parents[0]]
        tree = source[commit.tree]
        if FILENAME not in tree:
            raise errors.ResolveError(
                f'{repo} has no upper-constraints.txt at '
                f'{commit.id.decode()[:12]}',
                hint='point repo at openstack/requirements (or a mirror)')
        _, blob = tree[FILENAME]
        return commit.id.decode(), source[blob].data.decode('utf-8', 'replace')
