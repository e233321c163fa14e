"""Air-gapped builds: ``giftwrap fetch``, then ``build --offline``.

A sample project needing six is served by dulwich's smart HTTP server on
127.0.0.1 and built once with the network (the warm build).  A new commit
is then fetched (``giftwrap fetch --wheelhouse``), the git server stops,
and a recording server takes its port: every index, proxy and the git
remote point at it, pip's configuration files are off (so only the
wheelhouses can serve pip), and the offline builds (the new commit, then
a ``--lock`` replay from the carried wheelhouse) must send it nothing.
Last, the same offline build runs in a network namespace with only
``lo`` up (``unshare -n``, as root).  The warm cache is made once per
installer for the module: every test after it only reads what it holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from wsgiref import simple_server

import pytest
from dulwich import web
from dulwich.repo import Repo
from dulwich.server import DictBackend

from tests import gitutil, projectutil
from tests.cli import giftwrap
from tests.httpserver import LoopbackServer, free_port_url

#: What could send a request off the machine: all point at the recorder.
_NETWORK_VARIABLES = ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy',
                      'https_proxy', 'ALL_PROXY', 'PIP_INDEX_URL',
                      'PIP_EXTRA_INDEX_URL', 'UV_INDEX_URL',
                      'UV_DEFAULT_INDEX', 'UV_EXTRA_INDEX_URL')


class GitServer:
    """``path`` served over smart HTTP on 127.0.0.1 until :meth:`stop`."""

    def __init__(self, path):
        self.repo = Repo(str(path))
        app = web.make_wsgi_chain(DictBackend({'/': self.repo}))
        self.server = simple_server.make_server(
            '127.0.0.1', 0, app, handler_class=web.WSGIRequestHandlerLogger,
            server_class=web.WSGIServerLogger)
        self.port = self.server.server_port
        self.url = f'http://127.0.0.1:{self.port}/'
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.repo.close()


def _manifest(path, giturl, gitref='master', installer='pip'):
    path.write_text(
        "settings:\n  version: '1.0-1'\n  builders: [nfpm-deb]\n"
        f"  resolver: requirements-file\n  installer: {installer}\n"
        f"projects:\n  - name: hello-app\n    giturl: {giturl}\n"
        f"    gitref: {gitref}\n")
    return path


def _rows(stdout):
    return json.loads(stdout)


def _build(*args):
    status, out, err = giftwrap('build', *args, '-f', 'json')
    assert status == 0, err + out
    (row,) = _rows(out)
    assert row['Status'] == 'built', row
    return row


def _locked_commit(lock):
    return json.loads(lock.read_text())['projects']['hello-app']['commit']


@dataclasses.dataclass(frozen=True)
class Warm:
    manifest: Path
    cache: Path
    port: int
    new: str  # the commit fetched after the warm build
    carried: Path  # fetch's --wheelhouse


def _warm(base: Path, installer: str) -> Warm:
    """A warm cache, then a new commit fetched with a carried wheelhouse."""
    repo = base / 'hello-app'
    projectutil.pinned_repo(repo)
    server = GitServer(repo)
    manifest = _manifest(base / 'manifest.yml', server.url,
                         installer=installer)
    cache, carried = base / 'cache', base / 'carried'
    try:
        _build('-m', str(manifest), '-o', str(base / 'out1'),
               '--cache-dir', str(cache))
        new = gitutil.commit(repo, {'hello_app/extra.py': 'X = 1\n'},
                             'A change made after the warm build')
        status, out, err = giftwrap(
            'fetch', '-m', str(manifest), '-o', str(base / 'out1'),
            '--cache-dir', str(cache), '--wheelhouse', str(carried),
            '-f', 'json')
        assert status == 0, err + out
    finally:
        server.stop()
    (row,) = _rows(out)
    assert row['Status'] == 'locked' and 'carried' in row['Message']
    assert _locked_commit(carried / 'giftwrap.lock') == new
    assert any(p.name.startswith('six-1.16.0') for p in carried.iterdir())
    return Warm(manifest, cache, server.port, new, carried)


@pytest.fixture(scope='module')
def warm(tmp_path_factory):
    """``warm(installer)``: made once per installer for the module (the
    namespace test reuses pip's)."""
    made: dict[str, Warm] = {}

    def get(installer: str) -> Warm:
        if installer not in made:
            made[installer] = _warm(tmp_path_factory.mktemp(installer),
                                    installer)
        return made[installer]
    return get


@contextlib.contextmanager
def _recording(port: int, monkeypatch):
    """The git server's port answered by a recording server; every index
    and proxy pointed at it; pip's configuration files ignored."""
    with LoopbackServer(port=port) as server:
        for name in _NETWORK_VARIABLES:
            monkeypatch.setenv(name, server.base_url + '/')
        for name in ('NO_PROXY', 'no_proxy', 'PIP_FIND_LINKS',
                     'UV_FIND_LINKS'):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv('PIP_CONFIG_FILE', os.devnull)
        yield server


@pytest.mark.parametrize('installer', ['pip', 'uv'])
def test_offline_build_and_lock_replay_send_nothing(warm, installer,
                                                    monkeypatch, tmp_path):
    found = warm(installer)
    manifest, cache = found.manifest, found.cache
    # resolutions of build requirements older than their day still serve
    for path in (cache / 'build-requirements').rglob('resolved/*.json'):
        path.write_text(json.dumps({**json.loads(path.read_text()),
                                    'resolved_at': 1.0}))
    with _recording(found.port, monkeypatch) as recorder:
        _build('-m', str(manifest), '-o', str(tmp_path / 'out2'),
               '--cache-dir', str(cache), '--offline')
        assert _locked_commit(tmp_path / 'out2' / 'giftwrap.lock') == \
            found.new
        _build('-m', str(manifest), '-o', str(tmp_path / 'out3'),
               '--cache-dir', str(cache), '--offline', '--lock',
               str(found.carried / 'giftwrap.lock'),
               '--wheelhouse', str(found.carried))
        assert recorder.requests == []
        _missing_ref_offline(manifest, cache, tmp_path)
        assert recorder.requests == []


def _missing_ref_offline(manifest, cache, tmp_path):
    """A ref the mirror does not have: the project and the cure are named."""
    other = _manifest(tmp_path / 'other.yml', manifest.read_text().split(
        'giturl: ')[1].split()[0], gitref='no-such-branch')
    status, out, _ = giftwrap('build', '-m', str(other), '-o',
                              str(tmp_path / 'out4'), '--cache-dir',
                              str(cache), '--offline', '-f', 'json')
    (row,) = _rows(out)
    assert status == 5 and row['Status'] == 'failed'
    assert 'project hello-app (clone)' in row['Message']
    assert "'no-such-branch'" in row['Message'] and 'offline' in row['Message']
    assert 'giftwrap fetch' in row['Hint']


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('unshare') is None
                    or shutil.which('ip') is None,
                    reason='needs root, unshare and ip for a network namespace')
def test_offline_build_without_a_network(warm, tmp_path):
    found = warm('pip')
    manifest, cache, new = found.manifest, found.cache, found.new
    out = tmp_path / 'ns-out'
    giftwrap_bin = os.path.join(os.path.dirname(sys.executable), 'giftwrap')
    result = subprocess.run(
        ['unshare', '-n', '--', 'sh', '-c', 'ip link set lo up && exec "$@"',
         'sh', giftwrap_bin, 'build', '-m', str(manifest), '-o', str(out),
         '--cache-dir', str(cache), '--offline', '-f', 'json'],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, 'PIP_CONFIG_FILE': os.devnull})
    assert result.returncode == 0, result.stderr + result.stdout
    (row,) = _rows(result.stdout)
    assert row['Status'] == 'built'
    assert _locked_commit(out / 'giftwrap.lock') == new


def test_git_network_failure_names_the_network(tmp_path):
    manifest = _manifest(tmp_path / 'manifest.yml', free_port_url())
    status, out, _ = giftwrap('lock', '-m', str(manifest), '-o',
                              str(tmp_path / 'out'), '--cache-dir',
                              str(tmp_path / 'cache'), '-f', 'json')
    (row,) = _rows(out)
    assert status == 5
    assert 'the network failed' in row['Message'] + row['Hint']
    assert 'giftwrap fetch' in row['Hint'] and '--offline' in row['Hint']


def test_offline_refuses_verify_and_fetch(tmp_path):
    manifest = _manifest(tmp_path / 'manifest.yml', free_port_url())
    status, _, err = giftwrap('build', '-m', str(manifest), '--offline',
                              '--verify')
    assert status != 0 and '--verify cannot run with --offline' in err
    status, _, err = giftwrap('fetch', '-m', str(manifest), '--offline')
    assert status != 0 and 'cannot run with --offline' in err


def test_offline_without_a_mirror_names_the_project(tmp_path):
    manifest = _manifest(tmp_path / 'manifest.yml', free_port_url())
    status, out, _ = giftwrap('build', '-m', str(manifest), '--offline', '-o',
                              str(tmp_path / 'out'), '--cache-dir',
                              str(tmp_path / 'cache'), '-f', 'json')
    (row,) = _rows(out)
    assert status == 5 and 'project hello-app' in row['Message']
    assert 'no mirror' in row['Message'] and 'giftwrap fetch' in row['Hint']
