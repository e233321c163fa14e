"""giftwrap's own image (the repository's Dockerfile) builds and runs the
container workflow README and doc/source/container.rst document.

The image is built once for the module from the tests' debootstrapped
bookworm base image (there is no Docker Hub here).  ``podman run`` cannot
start containers on this machine, so the image runs with ``buildah run
--isolation chroot``.  Both share the host's network: downloads from PyPI,
in the image build and in the builds run in the image, go through the
host's proxy, whose CA is in the host's bundle, mounted in as the
documentation says (a machine without such a proxy has its CAs there too).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from giftwrap.util.process import Runner
from tests import images

REPO = Path(__file__).resolve().parents[2]
IMAGE = 'localhost/giftwrap-test/giftwrap-self:latest'
#: The host's CA bundle (the proxy's CA included), as the docs mount it.
CA = '/etc/ssl/certs/ca-certificates.crt'
#: What the docs tell the container, so pip (and uv, requests) trust it.
CA_ENV = ('PIP_CERT', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE')
#: Where the image build sees it: away from the ca-certificates it installs.
BUILD_CA = '/run/giftwrap-ca.crt'


@pytest.fixture(scope='module')
def own_image(tmp_path_factory):
    """The image built from a copy of this checkout; its context's path."""
    base = images.base_image()
    if shutil.which('buildah') is None:
        pytest.skip('buildah is not installed')
    tmp = tmp_path_factory.mktemp('own-image')
    runner = Runner(tmp / 'build.log')
    context = _context(runner, tmp)
    try:
        # the documented image build behind a proxy with its own CA
        runner.run(['buildah', 'bud', '--isolation=chroot', '--layers=false',
                    f'--build-arg=BASE={base}', f'--volume={CA}:{BUILD_CA}:ro',
                    f'--build-arg=PIP_CERT={BUILD_CA}', f'--tag={IMAGE}', '--',
                    context], timeout=900, what='buildah bud')
        yield context
    finally:
        images.remove_image(IMAGE)


def _context(runner: Runner, tmp: Path) -> Path:
    """This checkout's files with a .git of their own (a worktree's .git is
    a file naming a directory the image build cannot see)."""
    context = tmp / 'context'
    shutil.copytree(REPO, context, ignore=shutil.ignore_patterns(
        '.git', '.tox', '.venv', '.hypothesis', '__pycache__', '*.egg-info',
        'output', 'build', 'dist'))
    runner.run(['git', 'clone', '--quiet', '--no-checkout', '--', REPO,
                tmp / 'clone'], what='git clone')
    shutil.move(tmp / 'clone' / '.git', context / '.git')
    return context


def _run_in_image(runner: Runner, argv: list[str], *options: str,
                  timeout: float = 300) -> str:
    """``argv``'s output in a new container of the image (removed after)."""
    container = runner.run(['buildah', 'from', '--quiet', '--', IMAGE]
                           ).output.strip().splitlines()[-1]
    try:
        return runner.run(['buildah', 'run', '--isolation=chroot', *options,
                           '--', container, *argv], timeout=timeout,
                          what=' '.join(argv[:2])).output
    finally:
        runner.run(['buildah', 'rm', '--', container], check=False)


def test_own_image_runs_list_builders(own_image, tmp_path):
    runner = Runner(tmp_path / 'run.log')
    out = _run_in_image(runner, ['giftwrap', 'list-builders', '-f', 'json'])
    version = _run_in_image(runner, ['giftwrap', '--version'])
    names = {row['Name'] for row in json.loads(out[out.index('['):])}
    assert {'nfpm-deb', 'nfpm-rpm', 'docker'} <= names
    # the checkout's version: what pbr computes for the context's git
    # history (outside the image), not 0.0.0
    expected = runner.run(
        [sys.executable, '-c', 'from pbr import packaging; '
         'print(packaging.get_version("giftwrap"))'], cwd=own_image,
        what='pbr version').output.split()[-1]
    assert expected != '0.0.0'
    assert version.split()[-1] == expected


def test_quick_start_in_own_image_into_bind_mount(own_image, tmp_path):
    """README's Quick start, run as its container section says: the
    checkout bind-mounted at /work, the output written through the mount,
    the host's CA bundle mounted in for pip."""
    runner = Runner(tmp_path / 'run.log')
    work = tmp_path / 'work'
    # what the operator mounts: a clone of this repository (the Quick
    # start's manifest builds giftwrap from '..' at HEAD)
    runner.run(['git', 'clone', '--quiet', '--', REPO, work],
               what='git clone')
    env = [f'--env={name}={CA}' for name in CA_ENV]
    _run_in_image(runner, ['giftwrap', 'build', '-m', 'examples/giftwrap.yml',
                           '-o', '/work/output'],
                  f'--volume={work}:/work', f'--volume={CA}:{CA}:ro', *env,
                  '--workingdir=/work', timeout=1800)
    output = work / 'output'
    debs, rpms = sorted(output.glob('*.deb')), sorted(output.glob('*.rpm'))
    assert [d.name.split('_')[0] for d in debs] == ['giftwrap-1.0']
    assert len(rpms) == 1 and rpms[0].name.startswith('giftwrap-1.0-1.0-1.')
    info = runner.run(['dpkg-deb', '--info', '--', debs[0]]).output
    assert 'Package: giftwrap-1.0' in info
    header = runner.run(['rpm', '-qip', '--', rpms[0]]).output
    assert 'giftwrap-1.0' in header
    lock = (output / 'giftwrap.lock').read_text()
    assert 'giftwrap' in lock
    assert not [p for p in output.iterdir() if '.giftwrap-tmp-' in p.name]
