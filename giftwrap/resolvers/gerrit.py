"""Gerrit's anonymous REST API, the Change-Id of a commit, Zuul's reports.

A commit merged through Gerrit carries a ``Change-Id: I<40 hex>`` footer;
:func:`find_change_commit` walks back from the built commit to the nearest
one that does.  :class:`Gerrit` finds the merged change with that Change-Id
for one project and branch (a Change-Id is reused by backports and by
abandoned duplicates, so both filters and ``status:merged`` always apply),
and :meth:`Change.zuul_reports` reads Zuul's ``Build succeeded (gate
pipeline).`` messages on it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Sequence

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from giftwrap.api import HttpClient
from giftwrap import errors

LOG = logging.getLogger(__name__)

#: OpenDev's Zuul account (zuul-results-summary's ZUUL_PRIORITY).
ZUUL_ACCOUNT_ID = 22348
PAGE_SIZE = 25
#: How far back the Change-Id search goes before giving up.
WALK_LIMIT = 1000

_CHANGE_ID = re.compile(r'^Change-Id:[ \t]*(I[0-9a-f]{40})[ \t]*$', re.M)
_SUCCEEDED = re.compile(r'^Build succeeded(?: \((?P<pipeline>[\w.-]+) '
                        r'pipeline\))?\.', re.M)
_FAILED = re.compile(r'^Build failed(?: \((?P<pipeline>[\w.-]+) '
                     r'pipeline\))?\.', re.M)
_PATCH_SET = re.compile(r'^Patch Set (\d+)')
# zuul-results-summary's line format; a missing URL is replaced by the
# job name ("- job job : SKIPPED").
_JOB_LINE = re.compile(
    r'^- (?P<job>\S+) (?:(?P<link>https?://\S+)|(?P<rel>build/[0-9a-f]+)'
    r'|\S+) : (?:ERROR .*|(?P<result>\S+)(?: .*)?)$', re.M)
_BUILD_UUID = re.compile(r'(?:^|/)build/([0-9a-f]{6,64})/?$')


@dataclasses.dataclass(frozen=True)
class ChangeCommit:
    """The nearest ancestor reviewed on Gerrit.

    :ivar commit: the commit carrying the footer.
    :ivar depth: how many commits back from the built one it is.
    """

    change_id: str
    commit: str
    depth: int


def find_change_commit(repo_path: Path, commit: str, *,
                       limit: int = WALK_LIMIT) -> ChangeCommit:
    """Walk first parents from ``commit`` to the first ``Change-Id:`` footer.

    A Gerrit merge commit (``Merge "subject"``) has no footer of its own:
    the change is its second parent.  Of several footers the last counts
    (backports keep the original's and may add lines after it).

    :raises giftwrap.errors.ResolveError: none within ``limit`` commits, or
        the history is cut (a shallow clone).
    """
    try:
        repo = Repo(str(repo_path))
    except NotGitRepository as exc:
        raise errors.ResolveError(
            f'{repo_path} is not a git work tree', hint='gerrit-logs reads '
            'the history of the checkout') from exc
    with repo:
        shallow = repo.get_shallow()
        sha = commit.encode('ascii')
        for depth in range(limit):
            try:
                obj = repo[sha]
            except KeyError:
                if depth == 0:
                    raise errors.ResolveError(
                        f'commit {commit} is not in the checkout '
                        f'{repo_path}') from None
                raise _cut(commit, sha, depth) from None
            message = obj.message.decode('utf-8', errors='replace')
            found = _CHANGE_ID.findall(message)
            if found:
                return ChangeCommit(found[-1], sha.decode(), depth)
            if message.startswith('Merge "') and len(obj.parents) > 1:
                sha = obj.parents[1]
            elif obj.parents and sha not in shallow:
                sha = obj.parents[0]
            else:
                raise _cut(commit, sha, depth, root=not obj.parents)
    raise errors.ResolveError(
        f'none of the {limit} commits before {commit[:12]} has a Change-Id '
        'footer', hint='gerrit-logs needs a commit reviewed on Gerrit; use '
        'the upper-constraints resolver or set fallback: upper-constraints')


def _cut(commit: str, sha: bytes, depth: int, root: bool = False
         ) -> errors.ResolveError:
    if root:
        what = (f'no commit from {commit[:12]} back to the root commit has a '
                'Change-Id footer')
        hint = ('gerrit-logs needs a commit reviewed on Gerrit; use the '
                'upper-constraints resolver or set fallback: upper-constraints')
    else:
        what = (f'the history of {commit[:12]} ends at {sha.decode()[:12]} '
                f'({depth} commits back) before any Change-Id footer')
        hint = 'the clone is shallow: raise or remove gitdepth'
    return errors.ResolveError(what, hint=hint)


@dataclasses.dataclass(frozen=True)
class JobResult:
    """One ``- job url : RESULT in 5m 01s`` line of a Zuul report."""

    name: str
    url: str | None
    result: str | None

    @property
    def build_uuid(self) -> str | None:
        """The build's id, from its build page URL."""
        match = _BUILD_UUID.search(self.url or '')
        return match.group(1) if match else None


@dataclasses.dataclass(frozen=True)
class ZuulReport:
    """Zuul's report on one patch set in one pipeline."""

    pipeline: str | None
    patchset: int
    succeeded: bool
    date: str
    jobs: tuple[JobResult, ...]


@dataclasses.dataclass(frozen=True)
class Change:
    """The fields of Gerrit's ChangeInfo that giftwrap reads.

    :ivar revisions: commit id -> patch set number.
    """

    number: int
    project: str
    branch: str
    change_id: str
    status: str
    revisions: Mapping[str, int]
    current_revision: str | None
    messages: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_json(cls, data: Any, source: str) -> 'Change':
        """:raises giftwrap.errors.ResolveError: not a ChangeInfo."""
        try:
            revisions = {str(sha): int(info['_number']) for sha, info in
                         (data.get('revisions') or {}).items()}
            messages = tuple(m for m in data.get('messages') or ()
                             if isinstance(m, dict))
            return cls(int(data['_number']), str(data['project']),
                       str(data['branch']), str(data['change_id']),
                       str(data['status']), revisions,
                       data.get('current_revision'), messages)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise errors.ResolveError(
                f'{source} answered with a change that is not a Gerrit '
                f'ChangeInfo ({type(exc).__name__}: {exc})',
                hint='check gerrit_url: it must be a Gerrit server') from exc

    def patchset_of(self, commit: str) -> int | None:
        """The patch set whose commit is ``commit``, else the current one."""
        if commit in self.revisions:
            return self.revisions[commit]
        return self.revisions.get(self.current_revision or '')

    def zuul_reports(self, patchset: int) -> list[ZuulReport]:
        """Zuul's success and failure reports on ``patchset``, oldest first."""
        reports = []
        ordered = sorted(self.messages, key=lambda m: str(m.get('date', '')))
        for message in ordered:
            report = parse_report(message)
            if report is not None and report.patchset == patchset:
                reports.append(report)
        return reports


def is_zuul(message: Mapping[str, Any]) -> bool:
    """Whether Zuul wrote ``message`` (third-party CIs post untagged)."""
    tag = str(message.get('tag') or '')
    if tag.startswith('autogenerated:zuul:'):
        return True
    author = message.get('author') or {}
    return not tag and isinstance(author, dict) and (
        author.get('username') == 'zuul'
        or author.get('_account_id') == ZUUL_ACCOUNT_ID)


def parse_report(message: Mapping[str, Any]) -> ZuulReport | None:
    """A Zuul ``Build succeeded``/``Build failed`` message, else ``None``."""
    if not is_zuul(message):
        return None
    text = str(message.get('message') or '')
    match = _SUCCEEDED.search(text) or _FAILED.search(text)
    if match is None:
        return None  # "Starting gate jobs." and the like
    tag = str(message.get('tag') or '')
    pipeline = (tag.split(':', 2)[2] if tag.startswith('autogenerated:zuul:')
                else match['pipeline'])
    patchset = message.get('_revision_number')
    if not isinstance(patchset, int):
        number = _PATCH_SET.match(text)
        if number is None:
            return None
        patchset = int(number.group(1))
    jobs = tuple(JobResult(m['job'], m['link'] or m['rel'],
                           m['result'] or 'ERROR')
                 for m in _JOB_LINE.finditer(text))
    return ZuulReport(pipeline, patchset, match.re is _SUCCEEDED,
                      str(message.get('date', '')), jobs)


class Gerrit:
    """Anonymous reads of a Gerrit server's REST API.

    :param cache_scope: the commit being built; answers are cached under it
        so a rebuild of that commit does not ask again.  ``None`` caches
        nothing.
    """

    def __init__(self, http: HttpClient, base_url: str, *,
                 cache_scope: str | None = None, page_size: int = PAGE_SIZE):
        self.http = http
        self.base_url = base_url.rstrip('/')
        self.cache_scope = cache_scope
        self.page_size = page_size

    def query(self, terms: Sequence[str],
              options: Sequence[str] = ('MESSAGES', 'ALL_REVISIONS')
              ) -> list[dict]:
        """Every change matching all ``terms`` (``project:openstack/nova``).

        :raises giftwrap.resolve.http.HttpError: the server failed or
            answered with something that is not JSON.
        :raises giftwrap.errors.ResolveError: the JSON is not a change list.
        """
        changes: list[dict] = []
        while True:
            url = self._query_url(terms, options, len(changes))
            key = f'gerrit:{self.cache_scope}:{url}' if self.cache_scope else None
            page = self.http.get_json(url, cache_key=key, gerrit=True,
                                      what='Gerrit')
            if not isinstance(page, list) or not all(
                    isinstance(c, dict) for c in page):
                raise errors.ResolveError(
                    f'Gerrit answered {url} with JSON that is not a list of '
                    f'changes: {str(page)[:80]}',
                    hint='check gerrit_url: it must be a Gerrit server')
            changes.extend(page)
            if not page or not page[-1].get('_more_changes'):
                return changes

    def merged_change(self, change_id: str, project: str, branch: str
                      ) -> Change | None:
        """The change ``change_id`` merged on ``project`` and ``branch``."""
        terms = [f'change:{change_id}', f'project:{project}',
                 f'branch:{branch}', 'status:merged']
        for data in self.query(terms):
            change = Change.from_json(data, self.base_url)
            # Gerrit filters already; a wrong answer must not pin anything.
            if (change.project, change.branch, change.status) == (
                    project, branch, 'MERGED') and change.change_id == change_id:
                return change
        return None

    def elsewhere(self, change_id: str) -> list[str]:
        """Where ``change_id`` is: ``openstack/nova stable/2025.1 (MERGED)``...,
        to explain why the merged change was not found."""
        try:
            found = self.query([f'change:{change_id}'], options=())
        except errors.ResolveError as exc:
            LOG.debug('cannot look for %s on other branches: %s', change_id, exc)
            return []
        return sorted({f'{c.get("project")} {c.get("branch")} ({c.get("status")})'
                       for c in found})

    def change_url(self, change: Change) -> str:
        """The change's page: ``https://review.opendev.org/c/<project>/+/<n>``."""
        return f'{self.base_url}/c/{change.project}/+/{change.number}'

    def _query_url(self, terms: Sequence[str], options: Sequence[str],
                   skip: int) -> str:
        query = '+'.join(urllib.parse.quote(t, safe=':/~') for t in terms)
        params = ''.join(f'&o={o}' for o in options)
        return (f'{self.base_url}/changes/?q={query}{params}'
                f'&n={self.page_size}&S={skip}')
