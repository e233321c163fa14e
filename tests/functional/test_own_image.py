"""giftwrap's own image (the repository's Dockerfile) builds and runs.

The image is built offline: a wheelhouse of giftwrap and its dependencies
is made on the host and passed in the build context, and the base is the
tests' debootstrapped bookworm image (there is no Docker Hub here).
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from pathlib import Path

import pytest

from giftwrap.process import Runner
from tests import images

REPO = Path(__file__).resolve().parents[2]
IMAGE = 'localhost/giftwrap-test/giftwrap-self:latest'


def test_own_image_runs_list_builders(tmp_path):
    base = images.base_image()
    if shutil.which('buildah') is None:
        pytest.skip('buildah is not installed')
    runner = Runner(tmp_path / 'build.log')
    context = tmp_path / 'context'
    # with .git, as .dockerignore keeps it: pbr takes the version from it
    shutil.copytree(REPO, context, ignore=shutil.ignore_patterns(
        '.tox', '.hypothesis', '__pycache__', '*.egg-info', 'output'))
    wheels = context / 'wheels'
    runner.run([sys.executable, '-m', 'pip', 'download', '-q', '-d', wheels,
                'pbr>=6.0', 'setuptools>=64', 'wheel'], timeout=600,
               what='pip download')
    runner.run([sys.executable, '-m', 'pip', 'wheel', '-q', '-w', wheels,
                '-r', REPO / 'requirements.txt'], timeout=900, what='pip wheel')
    try:
        runner.run(['buildah', 'bud', '--isolation=chroot', '--layers=false',
                    f'--build-arg=BASE={base}',
                    '--build-arg=PIP_INSTALL_ARGS=--no-index --find-links '
                    '/src/giftwrap/wheels', f'--tag={IMAGE}', '--', context],
                   timeout=900, what='buildah bud')
        container = runner.run(['buildah', 'from', '--quiet', '--', IMAGE]
                               ).output.strip().splitlines()[-1]
        try:
            out = runner.run(['buildah', 'run', '--isolation=chroot', '--',
                              container, 'giftwrap', 'list-builders', '-f',
                              'json']).output
            version = runner.run(['buildah', 'run', '--isolation=chroot',
                                  '--', container, 'giftwrap', '--version']
                                 ).output
        finally:
            runner.run(['buildah', 'rm', '--', container], check=False)
    finally:
        images.remove_image(IMAGE)
    names = {row['Name'] for row in json.loads(out[out.index('['):])}
    assert {'nfpm-deb', 'nfpm-rpm', 'docker'} <= names
    # the checkout's version: what pbr gave the giftwrap these tests run
    # (installed by tox from this checkout), not 0.0.0
    assert version.split()[-1] == importlib.metadata.version('giftwrap')
