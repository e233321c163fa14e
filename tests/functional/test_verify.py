"""giftwrap verify and build --verify: real packages installed with apt-get
in real containers of the bookworm test image (buildah, chroot isolation).

The .rpm is built too: no rpm-based image can be had here, so it is
reported "not verified".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from giftwrap.run import verify
from tests import images, projectutil

pytestmark = pytest.mark.skipif(shutil.which('buildah') is None,
                                reason='buildah is not installed')

SMOKE_OK = ("smoke: [['{{ project.install_path }}/bin/hello-app'], "
            "['{{ project.install_path }}/bin/python', '-c', 'import six']]")
SMOKE_FAILS = ("smoke: [['{{ project.install_path }}/bin/python', '-c', "
               "'import sys; print(\"bo\" + \"om\"); sys.exit(3)']]")
SMOKE_HANGS = "smoke: [['sleep', '600']]"


def ours() -> set[str]:
    """The names of the containers giftwrap verify made and left."""
    listed = subprocess.run(['buildah', 'containers', '--format',
                             '{{.ContainerName}}'], capture_output=True,
                            text=True, check=True).stdout.split()
    return {n for n in listed if n.startswith(verify.CONTAINER_PREFIX)}


def engine_args(prefix: str = '') -> list[str]:
    return [f'--{prefix}engine', 'buildah', f'--{prefix}isolation', 'chroot']


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    image = f'localhost/{images.base_image()}'
    top = tmp_path_factory.mktemp('verify')
    manifest = projectutil.pinned_manifest(top, settings=SMOKE_OK,
                                           builders='[nfpm-deb, nfpm-rpm]')
    before = ours()
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(top / 'out'),
         '--cache-dir', str(top / 'cache'), '-f', 'json', '--verify',
         '--verify-image', image, *engine_args('verify-')],
        capture_output=True, text=True)
    return {'top': top, 'image': image, 'result': result,
            'left': ours() - before}


def test_build_verify_passes_the_smoke_commands(built):
    result = built['result']
    assert result.returncode == 0, result.stderr + result.stdout
    rows = {(r['Builder'], Path(r['Artifact']).suffix): r
            for r in json.loads(result.stdout)}
    deb = rows[('verify', '.deb')]
    assert deb['Status'] == 'passed', deb['Message']
    assert '2 smoke command(s) passed' in deb['Message']
    assert 'openstack-hello-app' in deb['Message']  # among the added packages
    rpm = rows[('verify', '.rpm')]
    assert rpm['Status'] == 'not verified'
    assert 'no rpm image' in rpm['Message']
    assert built['left'] == set()


def verify_cli(built, *args, image=None):
    return subprocess.run(
        ['giftwrap', 'verify', str(built['top'] / 'out'), '-f', 'json',
         '--image', image or built['image'], *engine_args(), *args],
        capture_output=True, text=True)


def test_a_failing_smoke_command_fails_with_its_output(built, tmp_path):
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text((built['top'] / 'manifest.yml').read_text().replace(
        SMOKE_OK, SMOKE_FAILS))
    before = ours()
    result = verify_cli(built, '-m', str(manifest))
    assert result.returncode == 8, result.stderr + result.stdout
    rows = {Path(r['Artifact']).suffix: r for r in json.loads(result.stdout)}
    deb = rows['.deb']
    assert deb['Status'] == 'failed'
    assert 'failed with exit status 3' in deb['Message']
    assert 'boom' in deb['Details']  # the output tail, not in the message
    assert 'boom' not in deb['Message']
    assert 'openstack-hello-app' in deb['Packages']
    assert deb['Added'] >= 1
    assert rows['.rpm']['Status'] == 'not verified'
    assert rows['.rpm']['Message'].startswith('no rpm image')
    assert ours() == before


def test_without_the_manifest_it_only_installs(built):
    result = verify_cli(built)
    assert result.returncode == 0, result.stderr + result.stdout
    deb, = [r for r in json.loads(result.stdout)
            if r['Artifact'].endswith('.deb')]
    assert deb['Status'] == 'passed'
    assert 'installed only' in deb['Message']


def test_an_image_that_is_not_there_is_a_clear_failure(built):
    before = ours()
    result = verify_cli(built, image='localhost/giftwrap-test/no-such:1')
    assert result.returncode == 8
    assert 'Traceback' not in result.stderr
    deb, = [r for r in json.loads(result.stdout)
            if r['Artifact'].endswith('.deb')]
    assert deb['Status'] == 'failed'
    assert 'cannot start a container of localhost/giftwrap-test/no-such:1' \
        in deb['Message']
    assert deb['Hint']
    assert ours() == before


def test_ctrl_c_leaves_no_container(built, tmp_path):
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text((built['top'] / 'manifest.yml').read_text().replace(
        SMOKE_OK, SMOKE_HANGS))
    before = ours()
    # A terminal's Ctrl-C reaches the whole process group.
    proc = subprocess.Popen(
        ['giftwrap', 'verify', str(built['top'] / 'out'), '-m', str(manifest),
         '--image', built['image'], *engine_args()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if ours() - before:
                break
            time.sleep(0.5)
        else:
            pytest.fail('no container was made: '
                        + proc.communicate()[1].decode())
        time.sleep(3)  # into apt-get or the smoke command: any time will do
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert ours() == before
