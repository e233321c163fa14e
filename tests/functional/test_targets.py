"""Build targets: one project built for Debian 12 and 13 on one host.

The virtualenv is built inside a container of each target (podman's and
buildah's store with vfs, buildah run --isolation chroot); each .deb must
depend on its own target's interpreter and run inside its own target.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from giftwrap.util.process import Runner
from tests import images, projectutil

pytestmark = pytest.mark.skipif(shutil.which('buildah') is None,
                                reason='buildah is not installed')


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    bookworm = images.base_image()
    trixie = images.base_image(suite='trixie')
    top = tmp_path_factory.mktemp('targets')
    repo = top / 'hello-app'
    projectutil.pinned_repo(repo)
    manifest = top / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb, nfpm-rpm]
          resolver: requirements-file
          targets:
            - {{name: bookworm, image: 'localhost/{bookworm}', format: deb,
                engine: buildah, isolation: chroot}}
            - {{name: trixie, image: 'localhost/{trixie}', format: deb,
                engine: buildah, isolation: chroot}}
            - {{name: el-like, image: 'localhost/{bookworm}', format: rpm,
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
    assert result.returncode == 0, result.stderr + result.stdout
    return {'out': out, 'rows': json.loads(result.stdout),
            'images': {'bookworm': bookworm, 'trixie': trixie}}


def test_each_target_gets_its_artifacts(built):
    rows = {(r['Project'], r['Builder']): r for r in built['rows']}
    assert set(rows) == {('hello-app@bookworm', 'nfpm-deb'),
                         ('hello-app@trixie', 'nfpm-deb'),
                         ('hello-app@el-like', 'nfpm-rpm')}
    assert all(r['Status'] == 'built' for r in rows.values())
    lock = json.loads((built['out'] / 'giftwrap.lock').read_text())
    assert set(lock['projects']) == {'hello-app@bookworm', 'hello-app@trixie',
                                     'hello-app@el-like'}
    assert lock['projects']['hello-app@trixie']['interpreter'][
        'version'].startswith('3.13')


@pytest.mark.parametrize('target,python', [('bookworm', 'python3.11'),
                                           ('trixie', 'python3.13')])
def test_deb_depends_on_and_runs_with_its_targets_python(built, target,
                                                         python):
    deb, = (built['out'] / target).glob('*.deb')
    depends = subprocess.run(['dpkg-deb', '-f', str(deb), 'Depends'],
                             capture_output=True, text=True).stdout
    assert python in depends
    runner = Runner()
    image = f'localhost/{built["images"][target]}'
    container = runner.run(['buildah', 'from', '--quiet', '--', image]
                           ).output.strip().splitlines()[-1]
    try:
        mount = f'--volume={deb.parent}:/debs:ro'
        runner.run(['buildah', 'run', '--isolation=chroot', mount, '--',
                    container, 'dpkg', '-i', f'/debs/{deb.name}'])
        out = runner.run(['buildah', 'run', '--isolation=chroot', '--',
                          container, '/opt/openstack/hello-app/bin/hello-app']
                         ).output
    finally:
        runner.run(['buildah', 'rm', '--', container], check=False)
    assert projectutil.GREETING in out


def test_rpm_target(built):
    if shutil.which('rpm') is None:
        pytest.skip('rpm is not installed')
    rpm, = (built['out'] / 'el-like').glob('*.rpm')
    requires = subprocess.run(['rpm', '-qp', '--requires', str(rpm)],
                              capture_output=True, text=True).stdout
    assert 'python3.11' in requires


def test_an_image_without_venv_support_is_named(tmp_path):
    # The bookworm base has python3-venv; a target asking for an interpreter
    # the image lacks gets an error naming the missing piece and package.
    image = f'localhost/{images.base_image()}'
    repo = tmp_path / 'hello-app'
    projectutil.pinned_repo(repo)
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: requirements-file
          targets:
            - {{name: odd, image: '{image}', format: deb, python: /usr/bin/python9,
                engine: buildah, isolation: chroot}}
        projects:
          - name: hello-app
            giturl: {repo}
        """))
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(tmp_path / 'out'),
         '--cache-dir', str(tmp_path / 'cache'), '-f', 'json'],
        capture_output=True, text=True)
    assert result.returncode == 7, result.stdout + result.stderr
    row, = json.loads(result.stdout)
    assert 'lacks the interpreter /usr/bin/python9' in row['Message']
    assert 'python3' in row['Hint']  # the package to install
    assert not list(Path(tmp_path / 'out').glob('**/*.deb'))


def test_verify_installs_each_targets_package_on_its_own_image(built):
    # giftwrap verify -m: the manifest's targets give each file its image;
    # the el-like target's image is Debian's, so its .rpm is not verified.
    manifest = built['out'].parent / 'manifest.yml'
    result = subprocess.run(
        ['giftwrap', 'verify', str(built['out']), '-m', str(manifest),
         '-f', 'json'], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {Path(r['Artifact']).parent.name: r
            for r in json.loads(result.stdout)}
    for target in ('bookworm', 'trixie'):
        assert rows[target]['Image'] == f'localhost/{built["images"][target]}'
        assert rows[target]['Status'] == 'passed', rows[target]['Message']
        assert 'openstack-hello-app' in rows[target]['Packages']
    assert rows['el-like']['Status'] == 'not verified'
    assert rows['el-like']['Message'].startswith('no rpm image')
    assert 'has no dnf' in rows['el-like']['Message']
