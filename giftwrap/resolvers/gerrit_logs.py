"""The ``gerrit-logs`` resolver: the versions OpenStack's CI installed.

From the built commit back to the nearest one with a ``Change-Id`` footer;
from there to its merged change in Gerrit, Zuul's last successful gate
report on the merged patch set (check when there is none), the unit test
job for the target interpreter (``openstack-tox-py312``), its build record
in Zuul's API and, in the build's logs, what tox installed (see
:mod:`giftwrap.resolvers.cilogs`).  When the logs show only what pip newly
installed, the rest comes from upper-constraints at the exact
openstack/requirements commit the job used.

It never falls back silently: when there are no pins (expired logs, no
report, no such job...) the project fails with the reason, unless
``fallback: upper-constraints`` is set; then the provenance says why.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import re
import urllib.parse
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from giftwrap.api import HttpError, Option, Pin, Pins, Resolver
from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.resolve import reqfiles
from giftwrap.resolvers import cilogs, gerrit
from giftwrap.resolvers.upper_constraints import UpperConstraints
from giftwrap.resolvers.zuul import Build, Zuul

LOG = logging.getLogger(__name__)

GERRIT_URL = 'https://review.opendev.org'
ZUUL_API = 'https://zuul.opendev.org/api/tenant/openstack'
CONSTRAINTS_URL_TEMPLATE = ('https://opendev.org/openstack/requirements/raw/'
                            'commit/{commit}/upper-constraints.txt')
FALLBACK = 'upper-constraints'
_FALLBACK_HINT = ('set resolver_options: {gerrit-logs: {fallback: '
                  'upper-constraints}} to use upper-constraints instead, or '
                  'use the upper-constraints resolver')
_OPTIONS_HINT = ('set resolver_options: {gerrit-logs: {project: openstack/'
                 'nova, branch: stable/2025.1}}: they are needed when giturl '
                 'is a mirror and when gitref is a tag or a commit id')
_PATH_PART = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*\Z')
_SCP_URL = re.compile(r'^[\w.-]+@[\w.-]+:(?!//)(.*)\Z')
_COMMIT_REF = re.compile(r'^[0-9a-f]{7,40}\Z')


class GerritLogs(Resolver):
    """Pins OpenStack's CI tested: Gerrit change, Zuul build, job logs."""

    options = {
        'gerrit_url': Option(str, GERRIT_URL, help='the Gerrit server'),
        'zuul_api': Option(str, ZUUL_API, help="the Zuul tenant's API"),
        'project': Option(str, None, help='the Gerrit project (openstack/'
                          'nova); default: from giturl'),
        'branch': Option(str, None, help='the branch the commit merged on; '
                         'default: gitref'),
        'job': Option(str, None, help='the CI job (a glob); default: '
                      'openstack-tox-pyXY for the target interpreter'),
        'constraints_url_template': Option(
            str, CONSTRAINTS_URL_TEMPLATE, help='upper-constraints at the '
            "job's requirements commit ({commit})"),
        'fallback': Option(str, None, choices=(FALLBACK,), help='when the CI '
                           'logs give no pins, use this resolver instead'),
        'fallback_options': Option(dict, None, help='options of the '
                                   'fallback resolver'),
    }

    def resolve(self) -> Pins:
        fallback_options = self._fallback_options()
        self._check_template()
        facts = {'resolver': 'gerrit-logs'}
        try:
            return self._from_ci(facts)
        except errors.ResolveError as exc:
            exc.located(self._where())
            if fallback_options is None:
                raise
            return self._fallback(exc, facts, fallback_options)

    def _where(self) -> str:
        project = self.context.project_info
        return project.where_key('resolver_options') or f'project {project.name}'

    def _from_ci(self, facts: dict[str, str]) -> Pins:
        project, branch = self._target()
        checkout = self.context.checkout
        found = gerrit.find_change_commit(checkout.path, checkout.commit)
        if found.depth:
            LOG.info('%s: the nearest reviewed commit is %s, %d commits back',
                     self.context.project_info.name, found.commit[:12], found.depth)
        facts.update(change_id=found.change_id, change_commit=found.commit)
        review = gerrit.Gerrit(self.context.http,
                               str(self.context.options['gerrit_url']),
                               cache_scope=checkout.commit)
        change, patchset = self._merged_change(review, found, project, branch)
        facts.update(gerrit_change=str(change.number), patchset=str(patchset),
                     change_url=review.change_url(change))
        report = self._report(change, patchset)
        job = self._job(report, change.number, patchset)
        facts.update(pipeline=str(report.pipeline), job=job.name)
        build = self._build(job, change, patchset, report)
        facts.update(zuul_build=build.uuid, log_url=str(build.log_url))
        pins, method = self._pins_from_logs(build, project, facts)
        facts['method'] = method
        LOG.info('%s: %d pins from %s of %s (change %s, patch set %s)',
                 self.context.project_info.name, len(pins), method, job.name,
                 change.number, patchset)
        # A CI job's freeze is the whole closure: the build refuses to
        # install anything it does not pin.
        return Pins.of(pins, facts, complete=True)

    def _target(self) -> tuple[str, str]:
        """The Gerrit project and branch: the options, else giturl/gitref."""
        options, project = self.context.options, self.context.project_info
        name = options.get('project') or project_from_url(project.giturl)
        if not name:
            raise errors.ResolveError(
                f'cannot tell the Gerrit project from giturl {project.giturl!r}',
                hint=_OPTIONS_HINT)
        branch = options.get('branch') or branch_from_ref(
            project.gitref, self.context.checkout.path)
        if not branch:
            raise errors.ResolveError(
                f'cannot tell the branch from gitref {project.gitref!r}: it is '
                'a tag or a commit id', hint=_OPTIONS_HINT)
        return str(name), str(branch)

    def _merged_change(self, review: gerrit.Gerrit,
                       found: gerrit.ChangeCommit, project: str, branch: str
                       ) -> tuple[gerrit.Change, int]:
        change = review.merged_change(found.change_id, project, branch)
        if change is None:
            others = review.elsewhere(found.change_id)
            known = (f'; Gerrit has it on: {", ".join(others)}' if others
                     else '; Gerrit does not know it')
            raise errors.ResolveError(
                f'no change {found.change_id} (commit {found.commit[:12]}) '
                f'merged on {project} {branch} in {review.base_url}{known}',
                hint='if that is not where the commit merged (a mirror, a tag, '
                     'a renamed branch), set resolver_options: {gerrit-logs: '
                     '{project: ORG/REPO, branch: BRANCH}}')
        patchset = change.patchset_of(found.commit)
        if patchset is None:
            raise errors.ResolveError(
                f'change {change.number} in {review.base_url} lists no patch '
                'sets', hint='check gerrit_url: it must be a Gerrit server')
        if found.commit not in change.revisions:
            LOG.warning('commit %s is no patch set of change %s (rebased on '
                        'submit?): using its merged patch set %s',
                        found.commit[:12], change.number, patchset)
        return change, patchset

    def _report(self, change: gerrit.Change, patchset: int
                ) -> gerrit.ZuulReport:
        """Zuul's last successful gate report, else its last check report."""
        reports = change.zuul_reports(patchset)
        for pipeline in ('gate', 'check'):
            passed = [r for r in reports
                      if r.succeeded and r.pipeline == pipeline]
            if passed:
                if pipeline != 'gate':
                    LOG.warning('change %s patch set %s has no successful gate '
                                'report: using its check report', change.number,
                                patchset)
                return passed[-1]
        seen = ', '.join(f'{r.pipeline} {"succeeded" if r.succeeded else "failed"}'
                         for r in reports) or 'none'
        raise errors.ResolveError(
            f'change {change.number} patch set {patchset} has no successful '
            f'Zuul gate or check report (its Zuul reports: {seen})',
            hint=_FALLBACK_HINT)

    def _job(self, report: gerrit.ZuulReport, number: int, patchset: int
             ) -> gerrit.JobResult:
        version = self.context.interpreter.short_version.replace('.', '')
        pattern = str(self.context.options.get('job')
                      or f'openstack-tox-py{version}')
        matches = [j for j in report.jobs if fnmatch.fnmatchcase(j.name, pattern)]
        names = sorted({j.name for j in matches})
        where = f'the {report.pipeline} report on change {number} patch set {patchset}'
        if not matches:
            ran = ', '.join(sorted({j.name for j in report.jobs})) or 'no jobs'
            raise errors.ResolveError(
                f'no job matching {pattern!r} in {where}; it ran: {ran}',
                hint='set resolver_options: {gerrit-logs: {job: GLOB}}: a job '
                     'that runs tox for the target interpreter')
        if len(names) > 1:
            raise errors.ResolveError(
                f'the job glob {pattern!r} matches {", ".join(names)} in {where}',
                hint='make job match only one job')
        job = matches[-1]
        if job.result != 'SUCCESS':
            raise errors.ResolveError(
                f'{job.name} ended {job.result} in {where}', hint=_FALLBACK_HINT)
        return job

    def _build(self, job: gerrit.JobResult, change: gerrit.Change,
               patchset: int, report: gerrit.ZuulReport) -> Build:
        zuul = Zuul(self.context.http, str(self.context.options['zuul_api']),
                    cache_scope=self.context.checkout.commit)
        if job.build_uuid:
            build = zuul.build(job.build_uuid)
        else:
            build = zuul.find_build(
                project=change.project, change=change.number,
                patchset=patchset, pipeline=str(report.pipeline),
                job_name=job.name)
            if build is None:
                raise errors.ResolveError(
                    f'Zuul has no successful {job.name} build of change '
                    f'{change.number} patch set {patchset} ({report.pipeline})',
                    hint=_FALLBACK_HINT)
        if build.change and build.change != str(change.number):
            raise errors.ResolveError(
                f'Zuul build {build.uuid} is of change {build.change}, not '
                f'{change.number}', hint='check zuul_api: it must be the '
                'tenant that reports on gerrit_url')
        if build.log_url is None:
            raise errors.ResolveError(
                f'Zuul build {build.uuid} ({build.job_name}, {build.result}) '
                'has no logs', hint=_FALLBACK_HINT)
        return build

    def _pins_from_logs(self, build: Build, project: str,
                        facts: dict[str, str]) -> tuple[list[Pin], str]:
        """The pins in the build's logs and how they were found."""
        url = f'{build.log_url}job-output.txt'
        found = cilogs.find_pins(self._log(build, url))
        if found is None:
            raise errors.ResolveError(
                f'{url} shows no installed versions: no tox "installed:" '
                'line, no pip freeze, no "Successfully installed" line of tox',
                hint=_FALLBACK_HINT)
        own = reqfiles.project_name(self.context.checkout.path,
                                    self.context.project_info.name)
        drop = {own, project.rsplit('/', 1)[-1], *found.source_names}
        pins, method = list(found.pins), found.method
        if method == cilogs.PIP:
            inventory = self._inventory(build)
            drop.update(short for name, short in inventory.projects.items()
                        if name not in (cilogs.REQUIREMENTS_PROJECT, project))
            pins = self._constraints(inventory, build, facts) + pins
            method += '+upper-constraints'
        kept = cilogs.drop(pins, drop)
        dropped = sorted({p.key for p in pins} - {p.key for p in kept}
                         - cilogs.INSTALLERS)
        if dropped:
            facts['dropped'] = ' '.join(dropped)
        return kept, method

    def _log(self, build: Build, url: str) -> str:
        """A log file's text; the legacy ``.gz`` name too; 404 = expired."""
        for candidate in (url, url + '.gz'):
            try:
                return self.context.http.get_text(
                    candidate, cache_key=f'zuul-log:{candidate}', what='CI log')
            except HttpError as exc:
                if exc.status != 404:
                    raise
        raise errors.ResolveError(
            f'the logs of Zuul build {build.uuid} ({build.job_name}, change '
            f'{build.change or "?"}, finished {build.end_time or "?"}) are '
            f'gone: {url} answers 404 (expired)',
            hint='OpenDev deletes CI logs after some months; ' + _FALLBACK_HINT)

    def _inventory(self, build: Build) -> cilogs.Inventory:
        url = f'{build.log_url}zuul-info/inventory.yaml'
        return cilogs.parse_inventory(self._log(build, url), url)

    def _constraints(self, inventory: cilogs.Inventory, build: Build,
                     facts: dict[str, str]) -> list[Pin]:
        """upper-constraints at the requirements commit the job used."""
        commit = inventory.requirements_commit
        if not commit:
            raise errors.ResolveError(
                f'the inventory of Zuul build {build.uuid} names no '
                f'{cilogs.REQUIREMENTS_PROJECT} commit, and its log shows only '
                'what pip newly installed', hint=_FALLBACK_HINT)
        template = str(self.context.options['constraints_url_template'])
        url = template.replace('{commit}', commit)
        text = self.context.http.get_text(url, cache_key=url,
                                          what='upper constraints')
        env = self.context.interpreter.marker_environment()
        pins = reqfiles.parse_constraints(text, url, env)
        if not pins:
            raise errors.ResolveError(f'{url} holds no constraints',
                                      hint='check constraints_url_template')
        facts.update(requirements_commit=commit, constraints_url=url)
        return pins

    def _check_template(self) -> None:
        template = str(self.context.options.get('constraints_url_template')
                       or CONSTRAINTS_URL_TEMPLATE)
        if '{commit}' not in template:
            raise errors.DriverError(
                f'constraints_url_template {template!r} has no {{commit}}',
                where=self._where(), hint=f'e.g. {CONSTRAINTS_URL_TEMPLATE}')

    def _fallback_options(self) -> dict | None:
        """The fallback's validated options; ``None`` without a fallback."""
        options = self.context.options
        given = options.get('fallback_options') or {}
        if options.get('fallback') is None:
            if given:
                LOG.warning('%s: fallback_options are ignored: fallback is '
                            'not set', self._where())
            return None
        return drivers.validate_options(
            UpperConstraints.options, given,
            driver_name=f'{FALLBACK} (the gerrit-logs fallback)',
            where=self._where())

    def _fallback(self, exc: errors.ResolveError, facts: dict[str, str],
                  options: dict) -> Pins:
        LOG.warning('%s: no pins from the CI logs (%s); using %s instead',
                    self._where(), exc.what, FALLBACK)
        context = dataclasses.replace(self.context, options=options)
        result = UpperConstraints(context).resolve()
        provenance = {**result.provenance, **facts, 'fallback': exc.what,
                      'fallback_resolver': FALLBACK}
        return Pins.of(result.pins.values(), provenance, result.requirements)


def project_from_url(giturl: str) -> str | None:
    """``openstack/nova`` for ``https://opendev.org/openstack/nova(.git)``.

    :returns: ``None`` unless the path is exactly ``<org>/<repo>``.
    """
    scp = _SCP_URL.match(giturl)
    path = scp.group(1) if scp else urllib.parse.urlsplit(giturl).path
    parts = [p for p in path.split('/') if p]
    if parts and parts[-1].endswith('.git'):
        parts[-1] = parts[-1][:-len('.git')]
    if len(parts) != 2 or not all(_PATH_PART.match(p) for p in parts):
        return None
    return '/'.join(parts)


def branch_from_ref(gitref: str, checkout: Path) -> str | None:
    """The branch ``gitref`` names, or ``None`` for a tag or a commit id."""
    ref = gitref
    for prefix in ('refs/heads/', 'refs/remotes/origin/', 'origin/'):
        if ref.startswith(prefix):
            return ref[len(prefix):] or None
    if not ref or ref.startswith('refs/') or _COMMIT_REF.match(ref):
        return None
    try:
        repo = Repo(str(checkout))
    except NotGitRepository:
        return ref  # find_change_commit says what is wrong with it
    with repo:
        name = ref.encode('utf-8')
        if (b'refs/tags/' + name in repo.refs
                and b'refs/heads/' + name not in repo.refs):
            return None
    return ref
