"""A fake OpenDev on 127.0.0.1: Gerrit REST, Zuul's API, logs, constraints.

It speaks the real formats (see shared/reference/openstack-ci-protocols.md):
Gerrit's ``)]}'`` prefix, ``/changes/?q=`` with its search terms and
``n``/``S``/``_more_changes`` paging, Zuul's report messages with their
tags, ``/api/tenant/openstack/build/<uuid>`` (the nested ``ref`` shape or
the old flat one) and ``/builds?...``, log trees whose files may be sent
with ``Content-Encoding: gzip``, and upper-constraints by commit::

    with FakeOpenDev() as opendev:
        uuid = opendev.publish(CHANGE_ID, commit, log=tox4_log)
        options = opendev.options()       # gerrit_url, zuul_api, ...

Static routes of :class:`tests.httpserver.LoopbackServer` (``add``,
``hang``) win over the dynamic ones, so a test can break any endpoint.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tests.httpserver import LoopbackServer, Request, Response

TENANT = '/api/tenant/openstack'
GERRIT_PREFIX = b")]}'\n"
ZUUL = {'_account_id': 22348, 'name': 'Zuul', 'username': 'zuul'}
REVIEWER = {'_account_id': 8313, 'name': 'Stephen Finucane',
            'username': 'stephenfin'}
THIRD_PARTY = {'_account_id': 30112, 'name': 'Acme CI', 'username': 'acme-ci'}
FIXTURES = Path(__file__).resolve().parent / 'functional' / 'opendev'
#: The requirements commit the inventory fixture names.
REQUIREMENTS_COMMIT = '3353677727f8351bc58ba98efafe6bc884a0257c'
_START = datetime.datetime(2026, 8, 18, 10, 58)


def fixture(name: str) -> str:
    """The text of a file under ``tests/functional/opendev``."""
    return (FIXTURES / name).read_text(encoding='utf-8')


def uuid_for(*parts: object) -> str:
    """A stable 32-hex build or buildset id."""
    return hashlib.md5('/'.join(map(str, parts)).encode()).hexdigest()


def gerrit_date(minutes: int) -> str:
    """Gerrit's timestamp format, ``minutes`` after the fixtures' start."""
    when = _START + datetime.timedelta(minutes=minutes)
    return when.strftime('%Y-%m-%d %H:%M:%S.000000000')


class FakeOpenDev(LoopbackServer):
    """review.opendev.org, zuul.opendev.org, the log server and opendev.org.

    :ivar changes: ChangeInfo dicts, as Gerrit stores them.
    :ivar builds: uuid -> Zuul build record (nested shape).
    """

    def __init__(self, hang_limit: float = 10.0):
        super().__init__(hang_limit=hang_limit)
        self.changes: list[dict] = []
        self.builds: dict[str, dict] = {}
        self.flat: set[str] = set()
        self._next_number = 950001

    # -- addresses -----------------------------------------------------------

    @property
    def zuul_api(self) -> str:
        return self.url(TENANT)

    def log_url(self, uuid: str) -> str:
        """Where a build's logs live (the post-2024 swift layout)."""
        return self.url(f'/logs/{uuid[:3]}/openstack/{uuid}/')

    @property
    def constraints_url_template(self) -> str:
        return self.url('/openstack/requirements/raw/commit/{commit}/'
                        'upper-constraints.txt')

    def options(self, **extra: Any) -> dict[str, Any]:
        """gerrit-logs resolver options pointing here."""
        return {'gerrit_url': self.base_url, 'zuul_api': self.zuul_api,
                'constraints_url_template': self.constraints_url_template,
                **extra}

    def gerrit_requests(self) -> list[Request]:
        """The requests that went to Gerrit's REST API."""
        return [r for r in self.requests if r.path.startswith('/changes/')]

    # -- content -------------------------------------------------------------

    def add_change(self, change: dict) -> dict:
        self.changes.append(change)
        return change

    def add_build(self, build: dict, *, flat: bool = False) -> dict:
        """Serve ``build``; ``flat`` answers in the old top-level shape."""
        self.builds[build['uuid']] = build
        if flat:
            self.flat.add(build['uuid'])
        return build

    def add_logs(self, uuid: str, files: Mapping[str, str | bytes], *,
                 gzip: Iterable[str] = ()) -> str:
        """Serve a build's log files; those in ``gzip`` are sent encoded."""
        base = self.log_url(uuid)
        path = urllib.parse.urlsplit(base).path
        encoded = set(gzip)
        for name, body in files.items():
            self.add(path + name, body, gzip=name in encoded)
        return base

    def add_constraints(self, commit: str, text: str) -> str:
        return self.add(urllib.parse.urlsplit(
            self.constraints_url_template.replace('{commit}', commit)).path,
            text)

    def publish(self, change_id: str, commit: str, *,
                project: str = 'openstack/python-openstackclient',
                branch: str = 'master', job: str = 'openstack-tox-py312',
                pipelines: Sequence[str] = ('gate',), log: str | None = None,
                log_gzip: bool = False, inventory: str | None = None,
                flat: bool = False, link: bool = True,
                patchsets: int = 2, number: int | None = None) -> str:
        """A merged change with Zuul's reports, its build and its logs.

        ``commit`` is the last patch set; the build of ``job`` in the last
        of ``pipelines`` is the one whose logs are served.
        :returns: that build's uuid.
        """
        number = number or self._take_number()
        revisions = [uuid_for(number, ps) + uuid_for(ps)[:8]
                     for ps in range(1, patchsets)] + [commit]
        messages, uuid = [], ''
        for pipeline in pipelines:
            uuid = uuid_for(number, patchsets, pipeline, job)
            jobs = [('openstack-tox-pep8', uuid_for(uuid, 'pep8'), 'SUCCESS', '3m 41s'),
                    (job, uuid, 'SUCCESS', '7m 23s'),
                    (f'{job}-with-sqlalchemy-main', uuid_for(uuid, 'sqla'),
                     'SUCCESS', '8m 02s')]
            messages += zuul_messages(self.base_url, pipeline, patchsets,
                                      jobs, link=link, at=len(messages) * 10)
            self.add_build(build_record(
                uuid, job, project=project, branch=branch, change=number,
                patchset=patchsets, pipeline=pipeline,
                log_url=self.log_url(uuid)), flat=flat)
        self.add_change(change_info(
            number, project, branch, change_id, revisions,
            messages=[review_message(patchsets), *messages,
                      merged_message(patchsets, len(messages) * 10 + 1)]))
        files = {}
        if log is not None:
            files['job-output.txt'] = log
        if inventory is not None:
            files['zuul-info/inventory.yaml'] = inventory
        self.add_logs(uuid, files, gzip=['job-output.txt'] if log_gzip else [])
        return uuid

    def _take_number(self) -> int:
        self._next_number += 1
        return self._next_number

    # -- the dynamic endpoints ------------------------------------------------

    def _record(self, handler) -> Response:
        path, _, query = handler.path.partition('?')
        with self._lock:
            static = path in self._routes
        answer = None if static else self._answer(path, query)
        if answer is None:
            return super()._record(handler)
        with self._lock:
            self.requests.append(Request(handler.command, handler.path,
                                         dict(handler.headers.items())))
        return answer

    def _answer(self, path: str, query: str) -> Response | None:
        params = urllib.parse.parse_qs(query)
        if path == '/changes/':
            return self._query_changes(params)
        if path == f'{TENANT}/builds':
            return self._query_builds(params)
        if path.startswith(f'{TENANT}/build/'):
            uuid = path.rsplit('/', 1)[-1]
            if uuid not in self.builds:
                return Response(404, b'Build not found')
            return _json(flatten(self.builds[uuid]) if uuid in self.flat
                         else self.builds[uuid])
        return None

    def _query_changes(self, params: Mapping[str, list[str]]) -> Response:
        terms = params.get('q', [''])[0].split()
        hits = [c for c in self.changes if all(_matches(c, t) for t in terms)]
        hits.sort(key=lambda c: c['updated'], reverse=True)
        skip = int(params.get('S', ['0'])[0])
        size = int(params.get('n', ['500'])[0])
        page = [_view(c, params.get('o', [])) for c in hits[skip:skip + size]]
        if skip + size < len(hits) and page:
            page[-1]['_more_changes'] = True
        body = GERRIT_PREFIX + json.dumps(page, indent=2).encode()
        return Response(200, body, {'Content-Type': 'application/json; charset=UTF-8'})

    def _query_builds(self, params: Mapping[str, list[str]]) -> Response:
        def keep(build: dict) -> bool:
            flat = flatten(build)
            return all(str(flat.get(key)) == values[0]
                       for key, values in params.items()
                       if key not in ('limit', 'skip'))
        found = sorted((b for b in self.builds.values() if keep(b)),
                       key=lambda b: b['_id'], reverse=True)
        skip = int(params.get('skip', ['0'])[0])
        limit = int(params.get('limit', ['50'])[0])
        return _json(found[skip:skip + limit])


def _json(data: Any) -> Response:
    return Response(200, json.dumps(data).encode(),
                    {'Content-Type': 'application/json'})


def _matches(change: dict, term: str) -> bool:
    """One Gerrit search term (the operators the resolver uses)."""
    key, _, value = term.partition(':')
    if key == 'change':
        return value in (change['change_id'], str(change['_number']))
    if key == 'project':
        return change['project'] == value
    if key == 'branch':
        return change['branch'] == value
    if key == 'status':
        return change['status'].lower() == value.lower()
    if key == 'commit':
        return any(sha.startswith(value) for sha in change['revisions'])
    return False


def _view(change: dict, options: Sequence[str]) -> dict:
    """What Gerrit returns for ``change`` with these ``o=`` options."""
    view = {k: v for k, v in change.items()
            if k not in ('messages', 'revisions', 'current_revision')}
    if 'MESSAGES' in options:
        view['messages'] = change['messages']
    if 'ALL_REVISIONS' in options or 'CURRENT_REVISION' in options:
        view['current_revision'] = change['current_revision']
        view['revisions'] = (
            change['revisions'] if 'ALL_REVISIONS' in options else
            {change['current_revision']:
             change['revisions'][change['current_revision']]})
    return view


# -- realistic records ---------------------------------------------------------

def change_info(number: int, project: str, branch: str, change_id: str,
                revisions: Sequence[str], *, status: str = 'MERGED',
                subject: str = 'Add network trunk subport commands',
                messages: Sequence[dict] = ()) -> dict:
    """A Gerrit ChangeInfo; ``revisions`` are the patch sets' commits."""
    encoded = urllib.parse.quote(project, safe='')
    return {
        'id': f'{encoded}~{branch.replace("/", "%2F")}~{change_id}',
        'triplet_id': f'{encoded}~{branch.replace("/", "%2F")}~{change_id}',
        'project': project, 'branch': branch, 'topic': 'trunk-subports',
        'hashtags': [], 'change_id': change_id, 'subject': subject,
        'status': status, 'created': gerrit_date(-7200),
        'updated': gerrit_date(len(messages) * 10 + number % 7),
        'submitted': gerrit_date(len(messages) * 10) if status == 'MERGED' else None,
        'insertions': 212, 'deletions': 4, 'total_comment_count': 3,
        'unresolved_comment_count': 0, 'has_review_started': True,
        '_number': number, 'owner': {'_account_id': 27900},
        'current_revision': revisions[-1],
        'revisions': {sha: {'kind': 'REWORK', '_number': ps,
                            'created': gerrit_date(-7200 + ps),
                            'uploader': {'_account_id': 27900},
                            'ref': f'refs/changes/{number % 100:02d}/{number}/{ps}'}
                      for ps, sha in enumerate(revisions, 1)},
        'messages': list(messages),
    }


def zuul_messages(base_url: str, pipeline: str, patchset: int,
                  jobs: Sequence[tuple[str, str, str, str]], *,
                  link: bool = True, at: int = 0,
                  succeeded: bool = True) -> list[dict]:
    """Zuul's start and report messages for one buildset."""
    buildset = uuid_for(pipeline, patchset, jobs[0][1])
    lines = []
    for name, uuid, result, took in jobs:
        url = f'{base_url}/t/openstack/build/{uuid}' if link else name
        lines.append(f'- {name} {url} : {result} in {took}')
    outcome = ('Build succeeded' if succeeded else 'Build failed')
    vote = {'gate': 'Verified+2', 'check': 'Verified+1'}.get(pipeline, 'Verified+1')
    if not succeeded:
        vote = 'Verified-2' if pipeline == 'gate' else 'Verified-1'
    tag = f'autogenerated:zuul:{pipeline}'
    start = {'id': uuid_for('start', pipeline, patchset, at), 'author': ZUUL,
             'real_author': ZUUL, 'date': gerrit_date(at), 'tag': tag,
             '_revision_number': patchset,
             'message': f'Patch Set {patchset}: -Verified\n\nStarting '
                        f'{pipeline} jobs.'}
    report = {'id': uuid_for('report', pipeline, patchset, at),
              'author': ZUUL, 'real_author': ZUUL, 'date': gerrit_date(at + 9),
              'tag': tag, '_revision_number': patchset,
              'message': f'Patch Set {patchset}: {vote}\n\n{outcome} '
                         f'({pipeline} pipeline).\n{base_url}/t/openstack/'
                         f'buildset/{buildset}\n\n' + '\n'.join(lines) + '\n'}
    return [start, report] if pipeline == 'gate' else [report]


def third_party_message(patchset: int, at: int) -> dict:
    """An untagged report of another CI: never Zuul's."""
    return {'id': uuid_for('acme', patchset, at), 'author': THIRD_PARTY,
            'date': gerrit_date(at), '_revision_number': patchset,
            'message': f'Patch Set {patchset}: Verified+1\n\nBuild succeeded '
                       '(gate pipeline).\n\n- openstack-tox-py312 '
                       'https://ci.acme.example/build/0123456789abcdef0123456789'
                       'abcdef : SUCCESS in 2m 01s\n'}


def review_message(patchset: int) -> dict:
    return {'id': uuid_for('review', patchset), 'author': REVIEWER,
            'date': gerrit_date(-5), '_revision_number': patchset,
            'message': f'Patch Set {patchset}: Code-Review+2 Workflow+1\n\n'
                       'Looks good, thanks!'}


def merged_message(patchset: int, at: int) -> dict:
    return {'id': uuid_for('merged', patchset, at), 'author': ZUUL,
            'date': gerrit_date(at), 'tag': 'autogenerated:gerrit:merged',
            '_revision_number': patchset,
            'message': 'Change has been successfully merged'}


def build_record(uuid: str, job: str, *, project: str, branch: str,
                 change: int, patchset: int, pipeline: str,
                 log_url: str | None, result: str = 'SUCCESS',
                 final: bool = True, build_id: int | None = None) -> dict:
    """A Zuul build record in the current (nested ``ref``) shape."""
    return {
        '_id': build_id or int(uuid[:7], 16), 'uuid': uuid, 'job_name': job,
        'result': result, 'held': False, 'start_time': '2026-08-18T11:02:10',
        'end_time': '2026-08-18T11:09:33', 'duration': 443.0, 'voting': True,
        'log_url': log_url, 'nodeset': 'ubuntu-noble', 'error_detail': None,
        'final': final,
        'artifacts': [] if log_url is None else [
            {'name': 'Zuul Manifest', 'url': log_url + 'zuul-manifest.json',
             'metadata': {'type': 'zuul_manifest'}}],
        'provides': [],
        'ref': {'project': project, 'branch': branch, 'change': change,
                'patchset': str(patchset),
                'ref': f'refs/changes/{change % 100:02d}/{change}/{patchset}',
                'oldrev': None, 'newrev': None,
                'ref_url': f'https://review.opendev.org/{change}'},
        'pipeline': pipeline, 'event_id': uuid_for('event', uuid)[:16],
        'event_timestamp': '2026-08-18T10:58:00',
        'buildset': {'uuid': uuid_for('buildset', uuid)},
    }


def flatten(build: dict) -> dict:
    """The pre-2023 shape: the change's fields at the top level."""
    flat = {k: v for k, v in build.items() if k != 'ref'}
    ref = build.get('ref') or {}
    flat.update(project=ref.get('project'), branch=ref.get('branch'),
                change=ref.get('change'), patchset=ref.get('patchset'),
                ref=ref.get('ref'), newrev=ref.get('newrev'),
                ref_url=ref.get('ref_url'))
    return flat
