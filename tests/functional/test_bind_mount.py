"""Publishing into a bind-mounted output directory or repository (issue:
the container workflow's ``-v /work:/work``).

A rename across two mounts of one filesystem fails with EXDEV although
both have the same ``st_dev``; giftwrap copies into its locked staging
file then.  The build runs in a mount namespace of its own (``unshare
-m``, as root) where the output directory is a bind mount of another
directory of the same filesystem.  A bind-mounted ``publish --repo``
directory is a mount point, which cannot be renamed (EBUSY): giftwrap
swaps its content instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from giftwrap.builders import nfpm
from tests import projectutil
from tests.packageutil import build_package

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which('unshare') is None,
    reason='needs root and unshare (util-linux) for a mount namespace')

# Runs inside the namespace: bind-mount, then build; no shell involved.
_INSIDE = '''
import subprocess, sys
source, target, *build = sys.argv[1:]
subprocess.run(['mount', '--bind', source, target], check=True)
sys.exit(subprocess.run(build).returncode)
'''


def test_a_build_publishes_into_a_bind_mounted_output_dir(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path,
                                           builders='[nfpm-deb, nfpm-rpm]')
    real, mount = tmp_path / 'real-output', tmp_path / 'output'
    real.mkdir()
    mount.mkdir()
    result = subprocess.run(
        ['unshare', '-m', '--propagation', 'private', '--', sys.executable,
         '-c', _INSIDE, str(real), str(mount), shutil.which('giftwrap'),
         'build', '-m', str(manifest), '-o', str(mount), '--cache-dir',
         str(tmp_path / 'cache'), '-f', 'json'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    rows = json.loads(result.stdout)
    assert {r['Status'] for r in rows} == {'built'}
    # outside the namespace the mount is gone: the files are in the source
    names = sorted(p.name for p in real.iterdir() if not p.name.startswith('.'))
    assert any(n.endswith('.deb') for n in names)
    assert any(n.endswith('.rpm') for n in names)
    assert 'giftwrap.lock' in names
    assert not [p for p in real.iterdir() if '.giftwrap-tmp-' in p.name]


def _publish_in_namespace(source, target, out, *options):
    return subprocess.run(
        ['unshare', '-m', '--propagation', 'private', '--', sys.executable,
         '-c', _INSIDE, str(source), str(target), shutil.which('giftwrap'),
         'publish', str(out), '--repo', str(target), *options],
        capture_output=True, text=True)


def test_publish_replaces_a_bind_mounted_repository(tmp_path):
    out = tmp_path / 'out'
    build_package(nfpm.NfpmDeb, tmp_path, 'giftwrap-bind-repo', out)
    real, mount = tmp_path / 'real-repo', tmp_path / 'repo'
    real.mkdir()
    mount.mkdir()
    first = _publish_in_namespace(real, mount, out)
    assert first.returncode == 0, first.stderr + first.stdout
    assert (real / 'dists' / 'stable' / 'Release').is_file()
    # republished with another suite: the old one is gone, nothing staged
    # is left in the mount or beside it
    second = _publish_in_namespace(real, mount, out, '--suite', 'edge')
    assert second.returncode == 0, second.stderr + second.stdout
    assert sorted(p.name for p in (real / 'dists').iterdir()) == ['edge']
    assert (real / 'pool' / 'main').is_dir()
    assert (real / '.giftwrap-repository').is_file()
    assert not [p for p in real.iterdir() if p.name.startswith('.giftwrap-')
                and p.name != '.giftwrap-repository']
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(
        '.')) == []


def test_lock_written_through_a_bind_mounted_lock_file(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path)
    real, mount = tmp_path / 'real.lock', tmp_path / 'giftwrap.lock'
    real.write_text('')
    mount.write_text('')
    result = subprocess.run(
        ['unshare', '-m', '--propagation', 'private', '--', sys.executable,
         '-c', _INSIDE, str(real), str(mount), shutil.which('giftwrap'),
         'lock', '-m', str(manifest), '--lock-file', str(mount),
         '--cache-dir', str(tmp_path / 'cache')],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    assert 'hello-app' in json.loads(real.read_text())['projects']
    assert not [p for p in tmp_path.iterdir() if '.giftwrap-tmp-' in p.name]
