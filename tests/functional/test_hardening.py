"""Bad input and hostile values end in clear errors, never a partial artifact.

Each case runs the real command line and checks the message (what, where,
how to fix), the exit status of the error's class, that no traceback is
shown and that the output directory holds no artifact.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests import httpserver, projectutil


def shown(result) -> str:
    """What the operator sees: the summary table, and below it (on stderr)
    each failure's output tail and hint."""
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('hardening') / 'hello-app'
    projectutil.sample_repo(path, requirements=['six<1.10'],
                            extra_files={'requirements.txt': 'six==1.16.0\n'})
    return path


@pytest.fixture(scope='module')
def good_repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('hardening-good') / 'hello-app'
    projectutil.pinned_repo(path)
    return path


def run(tmp_path: Path, manifest: str, *args: str, env=None, preexec=None,
        cwd=None) -> subprocess.CompletedProcess:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(manifest))
    return subprocess.run(
        ['giftwrap', 'build', '-m', str(path), '-o', str(tmp_path / 'out'),
         '--cache-dir', str(tmp_path / 'cache'), *args],
        capture_output=True, text=True, env=env, preexec_fn=preexec, cwd=cwd)


def no_artifacts(tmp_path: Path) -> bool:
    out = tmp_path / 'out'
    return not out.exists() or not [p for p in out.iterdir()
                                    if p.suffix in ('.deb', '.rpm', '.tar')]


def settings(**extra) -> str:
    values = {'version': '1.0-1', 'builders': ['nfpm-deb'],
              'resolver': 'requirements-file', **extra}
    return 'settings: ' + json.dumps(values) + '\n'


def test_unsatisfiable_pins_name_the_conflict(tmp_path, repo):
    result = run(tmp_path, settings() + f"projects: [{{name: hello-app, "
                 f"giturl: '{repo}'}}]\n")
    assert result.returncode == 7, result.stdout
    assert 'project hello-app (virtualenv)' in shown(result)
    assert 'six' in shown(result) and 'conflict' in shown(result).lower()
    assert 'Traceback' not in result.stderr
    assert no_artifacts(tmp_path)


def test_missing_requirements_file(tmp_path, good_repo):
    result = run(tmp_path, settings(resolver_options={
        'requirements-file': {'file': 'no-such.txt'}}) +
        f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n")
    assert result.returncode == 6, result.stdout
    assert 'no-such.txt' in shown(result) and 'does not exist' in shown(result)
    assert 'hint:' in shown(result)
    assert no_artifacts(tmp_path)


def test_missing_constraints_url(tmp_path, good_repo):
    with httpserver.LoopbackServer() as server:
        url = server.url('/missing.txt')
        result = run(tmp_path, settings(resolver='upper-constraints',
                                        resolver_options={'upper-constraints':
                                                          {'url': url}}) +
                     f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n")
    assert result.returncode == 6, result.stdout
    assert '404' in shown(result) and url in shown(result)
    assert no_artifacts(tmp_path)


def test_unreachable_git_url(tmp_path):
    url = httpserver.free_port_url() + 'nova.git'
    result = run(tmp_path, settings() + f"projects: [{{name: nova, "
                 f"giturl: '{url}'}}]\n")
    assert result.returncode == 5, result.stdout
    assert 'project nova (clone)' in shown(result)
    assert url in shown(result)
    assert no_artifacts(tmp_path)


def test_missing_tool_fails_before_cloning(tmp_path, good_repo):
    env = dict(os.environ, PATH=str(tmp_path / 'empty'))
    result = subprocess.run(
        [sys.executable, '-m', 'giftwrap', 'build', '-m', '/dev/null'],
        capture_output=True, text=True, env=env)  # warm-up: runs at all
    path = tmp_path / 'm.yml'
    path.write_text(settings(builders=['docker'], builder_options={
        'docker': {'engine': 'buildah'}}) +
        f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n")
    result = subprocess.run(
        [sys.executable, '-m', 'giftwrap', 'build', '-m', str(path), '-o',
         str(tmp_path / 'out'), '--cache-dir', str(tmp_path / 'cache')],
        capture_output=True, text=True, env=env)
    assert result.returncode == 4, result.stderr
    assert 'buildah is not installed' in result.stderr
    assert 'hint:' in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()  # nothing was cloned
    assert no_artifacts(tmp_path)


def test_pip_dependency_cannot_be_an_option(tmp_path, good_repo):
    with httpserver.LoopbackServer() as server:
        evil = server.url('/simple/')
        result = run(tmp_path, settings() + textwrap.dedent(f"""
            projects:
              - name: hello-app
                giturl: '{good_repo}'
                pip_dependencies: ['--index-url={evil}']
            """))
        assert server.requests == []
    # refused with the manifest, before anything runs
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'pip_dependencies' lists '--index-url=" in result.stderr
    assert 'manifest.yml:' in result.stderr
    assert no_artifacts(tmp_path)


def test_gitref_cannot_be_an_option(tmp_path, good_repo):
    marker = tmp_path / 'pwned'
    result = run(tmp_path, settings() + textwrap.dedent(f"""
        projects:
          - name: hello-app
            giturl: '{good_repo}'
            gitref: '--upload-pack=touch {marker}'
        """))
    assert result.returncode == 5, result.stdout
    assert 'no branch, tag or commit' in shown(result)
    assert not marker.exists()


def test_environment_does_not_leak_into_metadata(tmp_path, good_repo):
    env = dict(os.environ, GIFTWRAP_SECRET='s3cr3t-value')
    result = run(tmp_path, settings(maintainer='Ops <ops@example.com>') +
                 f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n",
                 env=env)
    assert result.returncode == 0, result.stdout
    deb, = (tmp_path / 'out').glob('*.deb')
    assert b's3cr3t-value' not in deb.read_bytes()
    control = subprocess.run(['dpkg-deb', '-I', str(deb)], capture_output=True,
                             text=True).stdout
    assert 's3cr3t' not in control


def test_dollar_in_metadata_is_refused(tmp_path, good_repo):
    # the manifest's own value: refused with the manifest, before cloning
    result = run(tmp_path, settings(maintainer='$HOME <x@example.com>') +
                 f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n")
    assert result.returncode == 2, result.stderr
    assert '$' in result.stderr and 'hint:' in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()
    assert no_artifacts(tmp_path)


@pytest.mark.parametrize('values, message', [
    ({'install_path': '/opt/$(id)'}, 'install_path'),
    ({'user': 'root;id'}, "user 'root;id'"),
    ({'user': 'nova', 'directories': ['/etc']}, 'directory /etc'),
    ({'systemd_units': {'../x.service': 'x'}}, 'systemd unit file name'),
    ({'sudoers': {'a/b': 'x'}}, 'sudoers.d file name'),
    ({'maintainer': 'a\nDepends: evil'}, 'control character'),
    ({'extras': ['x]']}, 'extra name'),
    ({'pip_dependencies': ['{{ "-" }}-index-url=http://127.0.0.1:9/']},
     'which is not a requirement'),
])
def test_manifest_values_refused_before_cloning(tmp_path, good_repo, values,
                                                message):
    project = {'name': 'hello-app', 'giturl': str(good_repo), **values}
    result = run(tmp_path, settings() + 'projects: ' + json.dumps([project]))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and 'manifest.yml:' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()  # nothing was cloned
    assert no_artifacts(tmp_path)


def test_open_files_limit(tmp_path, good_repo):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    result = run(tmp_path, settings() +
                 f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n",
                 '-s', preexec=limit)
    assert result.returncode == 7
    assert 'Traceback' not in result.stderr
    assert 'the limit of open files is 16' in result.stderr
    assert 'ulimit -n' in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()  # before any work
    assert no_artifacts(tmp_path)


def test_full_disk_in_work_dir(tmp_path, good_repo):
    work = tmp_path / 'work'
    work.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=6m', 'tmpfs',
                              str(work)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (needs root)')
    try:
        result = run(tmp_path, settings() +
                     f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n",
                     '--work-dir', str(work))
    finally:
        subprocess.run(['umount', str(work)], check=True)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    # the failing tool's own output may hold its traceback; giftwrap's not
    assert 'giftwrap/run/build.py' not in text and 'giftwrap/cli/app.py' not in text
    assert 'no space left' in text.lower()
    assert no_artifacts(tmp_path)


def test_two_builds_share_an_output_directory(tmp_path, good_repo):
    path = tmp_path / 'manifest.yml'
    path.write_text(settings() + textwrap.dedent(f"""
        projects:
          - {{name: one, giturl: '{good_repo}'}}
          - {{name: two, giturl: '{good_repo}'}}
        """))
    results = {}

    def build(name):
        results[name] = subprocess.run(
            ['giftwrap', 'build', '-m', str(path), '-p', name, '-o',
             str(tmp_path / 'out'), '--cache-dir', str(tmp_path / 'cache')],
            capture_output=True, text=True)
    threads = [threading.Thread(target=build, args=(n,)) for n in ('one', 'two')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results.values()), results
    lock = json.loads((tmp_path / 'out' / 'giftwrap.lock').read_text())
    assert sorted(lock['projects']) == ['one', 'two']
    index = json.loads((tmp_path / 'out' / '.giftwrap-artifacts.json').read_text())
    assert sorted(index) == ['one/nfpm-deb', 'two/nfpm-deb']
    debs = sorted(p.name for p in (tmp_path / 'out').glob('*.deb'))
    assert debs == ['openstack-one_1.0-1_all.deb', 'openstack-two_1.0-1_all.deb']
    for deb in (tmp_path / 'out').glob('*.deb'):
        subprocess.run(['dpkg-deb', '-c', str(deb)], check=True,
                       capture_output=True)


def test_no_stray_output_after_success(tmp_path, good_repo):
    path = tmp_path / 'manifest.yml'
    path.write_text(settings() +
                    f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n")
    result = subprocess.run(
        [sys.executable, '-X', 'dev', '-W', 'error::ResourceWarning', '-m',
         'giftwrap', '-q', 'build', '-m', str(path), '-o', str(tmp_path / 'out'),
         '--cache-dir', str(tmp_path / 'cache')],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''


def test_manifest_cannot_name_a_program_to_run(tmp_path, good_repo):
    marker = tmp_path / 'ran'
    script = tmp_path / 'evil.sh'
    script.write_text(f'#!/bin/sh\ntouch {marker}\n')
    script.chmod(0o755)
    for python in ('./evil.sh', str(script)):
        result = run(tmp_path, settings(python=python) +
                     f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n",
                     cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert 'manifest.yml:1' in result.stderr and 'hint:' in result.stderr
        assert 'Traceback' not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / 'cache' / 'git').exists()  # nothing was cloned
    assert no_artifacts(tmp_path)


def test_pip_overrides_key_cannot_add_an_index(tmp_path, good_repo):
    with httpserver.LoopbackServer() as server:
        evil = server.url('/simple/')
        key = json.dumps(f'six\n--extra-index-url {evil}')
        result = run(tmp_path, settings() + textwrap.dedent(f"""
            projects:
              - name: hello-app
                giturl: '{good_repo}'
                pip_overrides: {{{key}: '1.16.0'}}
            """))
        assert server.requests == []
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'pip_overrides key' in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()
    assert no_artifacts(tmp_path)


def test_lock_commit_must_be_a_commit_id(tmp_path, good_repo):
    lock = tmp_path / 'giftwrap.lock'
    lock.write_text(json.dumps({'format': 1, 'projects': {'hello-app': {
        'giturl': str(good_repo), 'gitref': 'master', 'commit': 'master',
        'resolver': 'requirements-file', 'provenance': {}, 'pins': {},
        'interpreter': {}}}}))
    result = run(tmp_path, settings() +
                 f"projects: [{{name: hello-app, giturl: '{good_repo}'}}]\n",
                 '--lock', str(lock))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "commit 'master' is not a full commit id" in result.stderr
    assert not (tmp_path / 'cache' / 'git').exists()
    assert no_artifacts(tmp_path)
