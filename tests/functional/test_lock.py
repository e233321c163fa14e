"""giftwrap.lock: written by builds, replayed with --lock, made by lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests import projectutil

pytestmark = pytest.mark.skipif(shutil.which('dpkg-deb') is None,
                                reason='dpkg-deb is not installed')


def shown(result) -> str:
    """What the operator sees: the summary table, and below it (on stderr)
    each failure's output tail and hint."""
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    top = tmp_path_factory.mktemp('lock')
    repo = top / 'hello-app'
    projectutil.sample_repo(
        repo, requirements=['six', 'idna'],
        extra_files={'requirements.txt': 'six==1.16.0\nidna>=3.0\n'})
    manifest = top / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: requirements-file
          base_path: /opt/giftwrap-lock-test
          force_overwrite: true
        projects:
          - name: hello-app
            giturl: {repo}
        """))
    return top, manifest


def giftwrap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(['giftwrap', *args], capture_output=True, text=True)


def packaged_versions(deb: Path, dest: Path) -> dict[str, str]:
    subprocess.run(['dpkg-deb', '-x', str(deb), str(dest)], check=True)
    found = {}
    for info in dest.rglob('*.dist-info'):
        name, version = info.name[:-len('.dist-info')].rsplit('-', 1)
        found[name.lower().replace('_', '-')] = version
    return found


def test_build_writes_lock_and_lock_replays_it(setup, tmp_path):
    top, manifest = setup
    out = tmp_path / 'out'
    result = giftwrap('build', '-m', str(manifest), '-o', str(out),
                      '--cache-dir', str(top / 'cache'), '-f', 'json')
    assert result.returncode == 0, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert 'not pinned by the resolver: idna==' in row['Message']
    lock = json.loads((out / 'giftwrap.lock').read_text())
    entry = lock['projects']['hello-app']
    assert entry['resolver'] == 'requirements-file'
    assert len(entry['commit']) == 40
    assert entry['pins']['six']['version'] == '1.16.0'
    assert all(len(p['sha256']) == 64 for p in entry['pins'].values())
    assert entry['interpreter']['version'].startswith('3.')
    assert entry['unpinned'] == ['idna']
    # the build tools: what virtualenv seeded, constraining sdist builds
    assert {'pip', 'setuptools'} <= set(entry['build_tools'])
    before = packaged_versions(out / 'hello-app.deb' if False else
                               next(out.glob('*.deb')), tmp_path / 'a')

    # Replay: same versions, pip's hash-checking mode, no resolver.
    again = tmp_path / 'again'
    result = giftwrap('build', '-m', str(manifest), '-o', str(again),
                      '--cache-dir', str(top / 'cache'), '--lock',
                      str(out / 'giftwrap.lock'), '-f', 'json')
    assert result.returncode == 0, result.stderr + result.stdout
    after = packaged_versions(next(again.glob('*.deb')), tmp_path / 'b')
    assert after == before
    relocked = json.loads((again / 'giftwrap.lock').read_text())
    assert relocked['projects']['hello-app']['pins'] == entry['pins']
    assert relocked['projects']['hello-app']['commit'] == entry['commit']


def test_lock_refuses_a_changed_hash(setup, tmp_path):
    top, manifest = setup
    lock_path = tmp_path / 'giftwrap.lock'
    result = giftwrap('lock', '-m', str(manifest), '-o', str(tmp_path),
                      '--cache-dir', str(top / 'cache'), '-f', 'json')
    assert result.returncode == 0, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert row['Status'] == 'locked'
    assert not list(tmp_path.glob('*.deb'))  # lock builds nothing
    lock = json.loads(lock_path.read_text())
    pins = lock['projects']['hello-app']['pins']
    assert set(pins) == {'six', 'idna'}
    # the build tools a build would pin, so a rebuild builds with them
    assert {'pip', 'setuptools'} <= set(lock['projects']['hello-app'][
        'build_tools'])
    pins['six']['sha256'] = '0' * 64
    lock_path.write_text(json.dumps(lock))
    out = tmp_path / 'out'
    result = giftwrap('build', '-m', str(manifest), '-o', str(out),
                      '--cache-dir', str(top / 'cache'), '--lock',
                      str(lock_path))
    assert result.returncode == 7, result.stderr + result.stdout
    assert 'HASHES' in shown(result) or 'hash' in shown(result).lower()
    assert not out.exists() or not list(out.glob('*.deb'))
