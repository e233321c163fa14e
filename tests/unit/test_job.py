"""One project's job (giftwrap.run.job) up to where it fails: outcomes,
the stage each error names, progress, the log and the work directory.
Real git repositories (tests/gitutil.py) and GNU patch; no build."""

from __future__ import annotations

import errno
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.resolve.http import HttpClient
from giftwrap.run import job as jobs, outcome
from giftwrap.run.build import Options
from giftwrap.venv.installers import InstallReport
from tests import gitutil
from tests.planutil import make

MANIFEST = """\
    settings:
      version: '1.0'
      python: PYTHON
      builders: [nfpm-deb, nfpm-rpm]
      resolver: requirements-file
    projects:
      - name: nova
        giturl: {giturl}
    """


class Recorder:
    """The progress callback: every (project, stage) line."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def __call__(self, project: str, stage: str) -> None:
        self.lines.append((project, stage))


def make_job(tmp_path, giturl, extra: str = '', **options
             ) -> tuple[jobs.Job, Recorder]:
    """The job of project nova (``extra``: more of its keys), and the
    progress it reports."""
    text = textwrap.dedent(MANIFEST).format(giturl=giturl) + extra
    plan = make(tmp_path, text)
    progress = Recorder()
    opts = Options(work_dir=tmp_path / 'work', cache_dir=tmp_path / 'cache',
                   log_dir=tmp_path / 'logs', **options)
    http = HttpClient(opts.cache_dir, offline=True)
    return jobs.Job(plan, plan.projects[0], opts, http, {}, progress), progress


@pytest.fixture
def repo(tmp_path):
    """A project's repository: a README and no requirements."""
    path = tmp_path / 'nova.git'
    gitutil.make_repo(path, {'README': 'nova\n', 'setup.py': 'x = 1\n'})
    return path


# -- the summary's rows -------------------------------------------------------

def test_a_failure_row_has_one_line_details_and_a_hint(tmp_path):
    log = tmp_path / 'nova.log'
    error = errors.BuildError('pip failed\nwhile installing six',
                              where='project nova (virtualenv)',
                              output='ERROR: no six\n', hint='pin six')
    row = jobs.Outcome.failed('nova', 'nfpm-deb', error, log)
    assert (row.status, row.message) == (
        jobs.FAILED, 'project nova (virtualenv): pip failed')
    assert row.details == 'while installing six\nERROR: no six'
    assert (row.hint, row.log, row.error) == ('pin six', '', error)
    log.write_text('$ pip install six\n')
    assert jobs.Outcome.failed('nova', 'x', error, log).log == str(log)


def test_a_failure_without_where_or_output():
    row = jobs.Outcome.failed('nova', 'nfpm-deb', errors.SourceError('gone'))
    assert (row.message, row.details, row.hint, row.log) == ('gone', '', '',
                                                             '')


def test_a_reused_row_and_its_notes():
    row = outcome.reused('nova', 'nfpm-deb', Path('/out/n.deb'))
    assert (row.status, row.artifact) == (jobs.REUSED, '/out/n.deb')
    report = InstallReport({}, {}, {'idna': '3.7', 'six': '1.16.0'})
    assert outcome.notes(report, (), {}) == \
        'not pinned by the resolver: idna==3.7, six==1.16.0'
    assert outcome.notes(InstallReport({}, {}, {}), (), {}) == ''


def test_a_failed_build_gets_the_missing_headers_in_its_hint():
    def fail(hint):
        raise errors.BuildError('gcc failed', hint=hint)

    for hint, shown in ((None, 'install libxml2-dev'),
                        ('see the log', 'see the log; install libxml2-dev')):
        with pytest.raises(errors.BuildError) as caught:
            jobs._hinted('install libxml2-dev', lambda: fail(hint))
        assert caught.value.hint == shown
    assert jobs._hinted('', lambda: 3) == 3


# -- failures, by stage -------------------------------------------------------

def test_a_clone_failure_fails_every_builder_in_the_clone_stage(tmp_path):
    missing = tmp_path / 'no-such-repo'
    job, progress = make_job(tmp_path, missing)
    outcomes, entries = job.run()
    assert entries == {}
    assert [(o.project, o.builder, o.status) for o in outcomes] == [
        ('nova', 'nfpm-deb', jobs.FAILED), ('nova', 'nfpm-rpm', jobs.FAILED)]
    assert outcomes[0].message.startswith('project nova (clone): ')
    assert str(missing) in outcomes[0].message
    assert progress.lines == [('nova', 'clone')]
    assert not (tmp_path / 'work' / 'nova').exists()
    log = (tmp_path / 'logs' / 'nova.log')
    assert outcomes[0].log == str(log)
    assert '== reuse check: ' in log.read_text()  # where the time went
    assert '== clone: ' in log.read_text()


def test_a_patch_that_does_not_apply_fails_in_the_patch_stage(tmp_path, repo):
    (tmp_path / 'fix.patch').write_text(
        '--- a/README\n+++ b/README\n@@ -1 +1 @@\n-glance\n+nova!\n')
    job, progress = make_job(tmp_path, repo, '    patches: [fix.patch]\n')
    (outcome, _), _ = job.run()
    assert outcome.message.startswith(
        f'project nova (patch): {tmp_path}/manifest.yml:9: ')
    assert progress.lines == [('nova', 'clone'), ('nova', 'patch')]


def test_a_resolver_failure_fails_in_the_resolve_stage(tmp_path, repo):
    job, progress = make_job(tmp_path, repo)  # no requirements.txt
    (outcome, _), _ = job.run()
    assert outcome.message.startswith('project nova (resolve): ')
    assert 'requirements.txt' in outcome.message + outcome.details
    assert progress.lines == [('nova', 'clone'), ('nova', 'resolve')]


def test_a_lock_only_job_fails_as_the_lock(tmp_path):
    job, _ = make_job(tmp_path, tmp_path / 'no-such-repo', lock_only=True)
    outcomes, _ = job.run()
    assert [(o.builder, o.status) for o in outcomes] == [('lock', jobs.FAILED)]


def test_keep_work_leaves_the_work_directory(tmp_path, repo):
    job, _ = make_job(tmp_path, repo, keep_work=True)
    job.run()
    assert (tmp_path / 'work' / 'nova' / 'src' / 'README').read_text() == \
        'nova\n'


# A bug or a full disk cannot be had on demand: the clone raises them in
# place of git (a stand-in, said so here).

def test_a_bug_fails_the_project_with_its_traceback_in_the_log(
        tmp_path, repo, monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError('commit')

    monkeypatch.setattr(jobs.git, 'fetch', bug)
    job, _ = make_job(tmp_path, repo)
    outcomes, entries = job.run()
    log = tmp_path / 'logs' / 'nova.log'
    assert [o.message for o in outcomes] == [
        "project nova: internal error: KeyError: 'commit'"] * 2
    assert outcomes[0].hint == ('this is a bug in giftwrap or a driver; the '
                                'traceback is in the log')
    assert outcomes[0].log == str(log)  # shown once, in the Log column
    assert 'Traceback' in log.read_text() and "KeyError: 'commit'" in \
        log.read_text()
    assert entries == {}


def test_a_system_error_fails_the_project_with_what_to_do(
        tmp_path, repo, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device', '/work/x')

    monkeypatch.setattr(jobs.git, 'fetch', full)
    job, _ = make_job(tmp_path, repo)
    (outcome, _), _ = job.run()
    assert outcome.message == \
        'project nova: No space left on device: /work/x'
    assert outcome.hint.startswith('free space on that filesystem')


def test_the_reuse_check_remembers_the_commit_it_saw(tmp_path, repo):
    commit = gitutil.commit(repo, {'README': 'nova 2\n'}, 'Second')
    (tmp_path / 'uc.txt').write_text('six===1.16.0\n')
    # (a resolver that can tell what its pins depend on without a checkout)
    job, progress = make_job(tmp_path, repo, (
        '    resolver: upper-constraints\n'
        '    resolver_options: {upper-constraints: {url: ./uc.txt}}\n'))
    found = job.warm()
    assert found.outcomes is None  # nothing built yet
    assert found.refreshed and found.fetch_error is None
    assert found.memo[0] == commit
    assert set(found.memo[1]) == {'nfpm-deb', 'nfpm-rpm'}
    assert progress.lines == []


def test_the_reuse_check_is_not_made_for_a_lock(tmp_path, repo):
    job, _ = make_job(tmp_path, repo, lock_only=True)
    found = job.warm()
    assert found.outcomes is None
    assert found.memo is None and not found.refreshed
