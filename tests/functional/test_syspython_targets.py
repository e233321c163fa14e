"""system_python_packages in a build target: the target image's dpkg and
interpreter say what to link, the links work inside the target, and an
image without the package is named."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.util.process import Runner
from tests import images, projectutil

pytestmark = pytest.mark.skipif(shutil.which('buildah') is None,
                                reason='buildah is not installed')

#: The base image with python3-apt installed from the Debian archive.
APT_IMAGE = 'giftwrap-test/bookworm-python-apt:latest'
_DEBS = ('python3-apt', 'python-apt-common', 'distro-info-data')


def apt_image(runner: Runner) -> str:
    """:data:`APT_IMAGE`, made from the base image if podman lacks it."""
    base = images.base_image(runner)
    if images.image_exists(APT_IMAGE, runner):
        return APT_IMAGE
    with tempfile.TemporaryDirectory(prefix='giftwrap-apt-debs-') as tmp:
        try:
            runner.run(['apt-get', 'download', '--', *_DEBS], cwd=tmp,
                       what='apt-get download', timeout=300)
        except errors.CommandError as exc:
            pytest.skip(f'cannot download {", ".join(_DEBS)}: {exc}')
        container = runner.run(['buildah', 'from', '--quiet', '--',
                                f'localhost/{base}']
                               ).output.strip().splitlines()[-1]
        try:
            debs = sorted(p.name for p in Path(tmp).glob('*.deb'))
            runner.run(['buildah', 'run', '--isolation=chroot',
                        f'--volume={tmp}:/debs:ro', '--', container, 'dpkg',
                        '-i', *[f'/debs/{d}' for d in debs]])
            runner.run(['buildah', 'commit', '--quiet', '--', container,
                        APT_IMAGE])
        finally:
            runner.run(['buildah', 'rm', '--', container], check=False)
    return APT_IMAGE


def build(top: Path, image: str) -> tuple[subprocess.CompletedProcess, Path]:
    repo = top / 'hello-app'
    projectutil.pinned_repo(repo)
    manifest = top / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: requirements-file
          system_python_packages: [python3-apt]
          targets:
            - {{name: bookworm, image: 'localhost/{image}', format: deb,
                engine: buildah, isolation: chroot}}
        projects:
          - name: hello-app
            giturl: {repo}
        """))
    out = top / 'out'
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
         '--cache-dir', str(top / 'cache'), '-f', 'json'],
        capture_output=True, text=True)
    return result, out


def test_target_links_its_own_package_and_runs_it(tmp_path):
    runner = Runner()
    image = apt_image(runner)
    result, out = build(tmp_path, image)
    assert result.returncode == 0, result.stderr + result.stdout
    deb, = (out / 'bookworm').glob('*.deb')
    depends = subprocess.run(['dpkg-deb', '-f', str(deb), 'Depends'],
                             capture_output=True, text=True).stdout
    assert 'python3-apt' in depends
    lock = json.loads((out / 'giftwrap.lock').read_text())
    linked, = lock['projects']['hello-app@bookworm']['system_python_packages']
    assert linked['name'] == 'python3-apt'
    container = runner.run(['buildah', 'from', '--quiet', '--',
                            f'localhost/{image}']).output.strip().splitlines()[-1]
    try:
        runner.run(['buildah', 'run', '--isolation=chroot',
                    f'--volume={deb.parent}:/debs:ro', '--', container,
                    'dpkg', '-i', f'/debs/{deb.name}'])
        found = runner.run(['buildah', 'run', '--isolation=chroot', '--',
                            container, '/opt/openstack/hello-app/bin/python',
                            '-c', 'import apt_pkg; print(apt_pkg.VERSION)']
                           ).output.strip()
    finally:
        runner.run(['buildah', 'rm', '--', container], check=False)
    assert found


def test_an_image_without_the_package_is_named(tmp_path):
    result, _ = build(tmp_path, images.base_image())
    assert result.returncode == 7, result.stdout + result.stderr
    row, = json.loads(result.stdout)
    assert 'python3-apt, which is not installed' in row['Message']
    assert 'apt-get install python3-apt' in row['Hint']
