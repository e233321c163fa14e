"""``giftwrap build`` end to end: git -> pins -> virtualenv -> .deb and .rpm.

Real dulwich repositories, real virtualenv and pip (from the package index),
real nfpm, dpkg and rpm; constraints served from 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from giftwrap.run.job import AHEAD_NOTE
from tests import httpserver, projectutil

pytestmark = pytest.mark.skipif(shutil.which('dpkg-deb') is None,
                                reason='dpkg-deb is not installed')


def shown(result) -> str:
    """What the operator sees: the summary table, and below it (on stderr)
    each failure's output tail and hint."""
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('git') / 'hello-app'
    projectutil.pinned_repo(path)
    return path


@pytest.fixture(scope='module')
def base() -> str:
    """A unique base path under /opt, removed afterwards."""
    root = f'/opt/giftwrap-e2e-{uuid.uuid4().hex[:8]}'
    yield root
    shutil.rmtree(root, ignore_errors=True)


def manifest(tmp_path: Path, text: str) -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture(scope='module')
def built(tmp_path_factory, repo, base):
    """One real build of both packages, shared by the checks below."""
    tmp = tmp_path_factory.mktemp('build')
    path = manifest(tmp, f"""
        settings:
          version: '2025.1-acme1'
          base_path: '{base}/{{{{ version }}}}'
          package_name_format: 'e2e-{{{{ project.name }}}}'
          builders: [nfpm-deb, nfpm-rpm]
          resolver: requirements-file
          include_config: true
        projects:
          - name: hello-app
            giturl: {repo}
        """)
    out = tmp / 'out'
    cache = tmp / 'cache'
    result = subprocess.run(
        ['giftwrap', 'build', '-m', path, '-o', str(out), '--cache-dir',
         str(cache), '-f', 'json'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return {'out': out, 'cache': cache, 'tmp': tmp,
            'rows': json.loads(result.stdout), 'stderr': result.stderr}


def test_summary(built):
    rows = {r['Builder']: r for r in built['rows']}
    assert rows['nfpm-deb']['Status'] == 'built'
    assert rows['nfpm-deb']['Artifact'].endswith(
        'e2e-hello-app_2025.1-acme1_all.deb')
    assert rows['nfpm-rpm']['Artifact'].endswith(
        'e2e-hello-app-2025.1-acme1.noarch.rpm')
    assert sorted(p.name for p in built['out'].iterdir()) == [
        '.giftwrap-artifacts.json', 'e2e-hello-app-2025.1-acme1.noarch.rpm',
        'e2e-hello-app-2025.1-acme1.noarch.rpm.cdx.json',
        'e2e-hello-app_2025.1-acme1_all.deb',
        'e2e-hello-app_2025.1-acme1_all.deb.cdx.json', 'giftwrap.lock']
    assert '[hello-app] virtualenv' in built['stderr']


def test_deb_installs_and_runs(built, base):
    deb = built['out'] / 'e2e-hello-app_2025.1-acme1_all.deb'
    fields = subprocess.run(['dpkg-deb', '-f', str(deb)], capture_output=True,
                            text=True, check=True).stdout
    assert 'Package: e2e-hello-app' in fields
    assert 'Version: 2025.1-acme1' in fields
    assert 'Depends: python3.11' in fields
    install = f'{base}/2025.1-acme1/hello-app'
    subprocess.run(['dpkg', '-i', str(deb)], check=True, capture_output=True)
    try:
        run = subprocess.run([f'{install}/bin/hello-app'], capture_output=True,
                             text=True, check=True)
        assert projectutil.GREETING in run.stdout
        freeze = subprocess.run([f'{install}/bin/python', '-m', 'pip', 'freeze'],
                                capture_output=True, text=True).stdout
        assert 'six==1.16.0' in freeze
        assert Path(f'{install}/etc/hello/hello.conf').is_file()
    finally:
        subprocess.run(['dpkg', '--purge', 'e2e-hello-app'], check=True,
                       capture_output=True)
    assert not Path(install).exists()


@pytest.mark.skipif(shutil.which('rpm') is None, reason='rpm is not installed')
def test_rpm_metadata(built, base):
    rpm = built['out'] / 'e2e-hello-app-2025.1-acme1.noarch.rpm'
    info = subprocess.run(['rpm', '-qip', str(rpm)], capture_output=True,
                          text=True, check=True).stdout
    assert 'Version     : 2025.1' in info and 'Release     : acme1' in info
    files = subprocess.run(['rpm', '-qlp', str(rpm)], capture_output=True,
                           text=True, check=True).stdout.split()
    assert f'{base}/2025.1-acme1/hello-app/bin/hello-app' in files
    config = subprocess.run(['rpm', '-qcp', str(rpm)], capture_output=True,
                            text=True, check=True).stdout.split()
    assert config == [f'{base}/2025.1-acme1/hello-app/etc/hello/hello.conf']
    requires = subprocess.run(['rpm', '-qp', '--requires', str(rpm)],
                              capture_output=True, text=True).stdout
    assert 'python3.11' in requires


def test_no_build_path_in_any_packaged_file(built, tmp_path):
    deb = built['out'] / 'e2e-hello-app_2025.1-acme1_all.deb'
    subprocess.run(['dpkg-deb', '-x', str(deb), str(tmp_path / 'x')], check=True)
    needles = [str(built['tmp']).encode(), str(built['cache']).encode(),
               b'/tmp/pytest']
    for item in (tmp_path / 'x').rglob('*'):
        if item.is_file() and not item.is_symlink():
            data = item.read_bytes()
            assert not any(n in data for n in needles), item


def test_existing_artifact_is_not_replaced(built, repo, base):
    # A second build of the same version with other inputs (a system
    # dependency more) refuses to replace the artifact, saying what changed.
    (built['tmp'] / 'again').mkdir()
    path = manifest(built['tmp'] / 'again', f"""
        settings:
          version: '2025.1-acme1'
          base_path: '{base}/{{{{ version }}}}'
          package_name_format: 'e2e-{{{{ project.name }}}}'
          builders: [nfpm-deb]
          resolver: requirements-file
          include_config: true
          system_dependencies: [libc6]
        projects:
          - name: hello-app
            giturl: {repo}
        """)
    result = subprocess.run(
        ['giftwrap', 'build', '-m', path, '-o', str(built['out']),
         '--cache-dir', str(built['cache'])], capture_output=True, text=True)
    assert result.returncode == 7, result.stderr
    assert 'exists already and was not replaced' in shown(result)
    assert 'these inputs changed: manifest' in shown(result)
    assert 'force_overwrite' in shown(result)
    assert 'Traceback' not in result.stderr


def test_upper_constraints_from_loopback_and_failure_isolation(
        cli, tmp_path, repo, base):
    with httpserver.LoopbackServer() as server:
        url = server.add('/constraints/upper/2025.1',
                         'six===1.16.0\nidna===3.10\n')
        path = manifest(tmp_path, f"""
            settings:
              version: '2025.1-acme2'
              base_path: '{base}/{{{{ version }}}}'
              builders: [nfpm-deb]
              resolver: upper-constraints
              resolver_options:
                upper-constraints: {{url: '{url}'}}
            projects:
              - name: hello-app
                giturl: {repo}
              - name: broken
                giturl: {repo}
                gitref: no-such-branch
            """)
        out = tmp_path / 'out'
        result = cli('build', '-m', path, '-o', str(out), '-f', 'json')
    rows = {r['Project']: r for r in json.loads(result.stdout)}
    assert rows['hello-app']['Status'] == 'built'
    assert rows['broken']['Status'] == 'failed'
    assert "no branch, tag or commit 'no-such-branch'" in rows['broken']['Message']
    assert 'project broken (clone)' in rows['broken']['Message']
    assert result.status == 5  # SourceError
    assert sorted(p.name for p in out.iterdir()) == [
        '.giftwrap-artifacts.json', 'giftwrap.lock',
        'openstack-hello-app_2025.1-acme2_all.deb',
        'openstack-hello-app_2025.1-acme2_all.deb.cdx.json']
    lock = json.loads((out / 'giftwrap.lock').read_text())
    assert list(lock['projects']) == ['hello-app']  # only what succeeded


def _log_of(cache: Path, project: str) -> str:
    logs = sorted(cache.glob(f'logs/*/{project}.log'),
                  key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text()


def test_the_virtualenv_is_made_while_cloning(built):
    """virtualenv needs no checkout: it runs beside the clone."""
    log = _log_of(built['cache'], 'hello-app')
    assert log.index(AHEAD_NOTE) < log.index('== clone:')


def test_a_failed_clone_waits_for_the_virtualenv_and_leaves_nothing(
        tmp_path, repo, base):
    path = manifest(tmp_path, f"""
        settings:
          version: '2025.1-acme1'
          base_path: '{base}/{{{{ version }}}}'
          builders: [nfpm-deb]
          resolver: requirements-file
        projects:
          - name: hello-app
            giturl: {repo}
            gitref: no-such-branch
        """)
    work = tmp_path / 'work'
    result = subprocess.run(
        ['giftwrap', 'build', '-m', path, '-o', str(tmp_path / 'out'),
         '--cache-dir', str(tmp_path / 'cache'), '--work-dir', str(work)],
        capture_output=True, text=True)
    assert result.returncode == 5, result.stderr
    assert "no branch, tag or commit 'no-such-branch'" in shown(result)
    assert not (work / 'hello-app').exists()


def test_an_install_path_from_the_source_gets_its_virtualenv_after_the_clone(
        tmp_path, repo, base):
    path = manifest(tmp_path, f"""
        settings:
          version: '2025.1-acme1'
          base_path: '{base}/g{{{{ project.commit_short }}}}'
          builders: [nfpm-deb]
          resolver: requirements-file
        projects:
          - name: hello-app
            giturl: {repo}
        """)
    out, cache = tmp_path / 'out', tmp_path / 'cache'
    result = subprocess.run(
        ['giftwrap', 'build', '-m', path, '-o', str(out), '--cache-dir',
         str(cache)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    log = _log_of(cache, 'hello-app')
    assert AHEAD_NOTE not in log
    assert log.index('== clone:') < log.index(' -m virtualenv ')
    deb, = out.glob('*.deb')
    listing = subprocess.run(['dpkg-deb', '-c', str(deb)], check=True,
                             capture_output=True, text=True).stdout
    from dulwich.repo import Repo
    with Repo(str(repo)) as git:
        short = git.head().decode()[:7]
    assert f'{base}/g{short}/hello-app/bin/'.lstrip('/') in listing
