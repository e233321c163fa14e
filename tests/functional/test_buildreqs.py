"""Build requirements are resolved, locked, and replayed from the lock.

The project is built by hatchling (its pyproject.toml says so); the
version the build used is in the built distribution's ``WHEEL`` file
(``Generator: hatchling X``), which the virtualenv keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from giftwrap.util.process import find_tool
from tests import gitutil

pytestmark = [
    pytest.mark.skipif(find_tool('nfpm') is None,
                       reason='nfpm is not installed'),
    pytest.mark.skipif(shutil.which('dpkg-deb') is None,
                       reason='dpkg-deb is not installed')]

#: An older hatchling than PyPI's newest, that works with the
#: newest packaging/pathspec/pluggy/trove-classifiers a lock records.
OLDER_HATCHLING = '1.25.0'


def _repo(path: Path, build_system: str) -> None:
    gitutil.make_repo(path, {
        'pyproject.toml': build_system + textwrap.dedent('''\
            [project]
            name = "hello-app"
            version = "1.0"
            dependencies = ["six"]
            '''),
        'hello_app/__init__.py': '',
        'requirements.txt': 'six==1.16.0\n'})


def _manifest(top: Path, name: str, build_system: str,
              installer: str = 'pip') -> Path:
    _repo(top / name, build_system)
    path = top / f'{name}.yml'
    path.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: requirements-file
          base_path: /opt/giftwrap-buildreqs-test
          installer: {installer}
        projects:
          - name: hello-app
            giturl: {top / name}
        """))
    return path


@pytest.fixture(scope='module')
def top(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('buildreqs')


def _build(cli, top: Path, manifest: Path, out: Path, *extra: str) -> str:
    """Build; returns the ``Generator`` of the project's packaged WHEEL."""
    result = cli('build', '-m', str(manifest), '-o', str(out), '--cache-dir',
                 str(top / 'cache'), '-f', 'json', *extra)
    assert result.status == 0, result.stderr + result.stdout
    deb, = out.glob('*.deb')
    tree = out / 'tree'
    subprocess.run(['dpkg-deb', '-x', str(deb), str(tree)], check=True)
    wheel, = tree.rglob('hello_app-1.0.dist-info/WHEEL')
    return re.search(r'^Generator: (.*)$', wheel.read_text(), re.M).group(1)


def test_lock_records_the_build_backend_and_replays_an_older_one(
        cli, top, tmp_path):
    manifest = _manifest(top, 'hatch', textwrap.dedent('''\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        '''))
    generator = _build(cli, top, manifest, tmp_path / 'one')
    lock_path = tmp_path / 'one' / 'giftwrap.lock'
    lock = json.loads(lock_path.read_text())
    tools = lock['projects']['hello-app']['build_tools']
    assert {'pip', 'setuptools', 'hatchling', 'pluggy'} <= set(tools)
    assert generator == f'hatchling {tools["hatchling"]}'
    assert tools['hatchling'] != OLDER_HATCHLING

    hashes = lock['projects']['hello-app']['build_tool_hashes']
    assert _sha256(tmp_path, 'hatchling', tools['hatchling']) in \
        hashes['hatchling']
    assert set(hashes) >= {'hatchling', 'pluggy'} and set(hashes) <= set(tools)

    tools['hatchling'] = OLDER_HATCHLING
    hashes['hatchling'] = [_sha256(tmp_path, 'hatchling', OLDER_HATCHLING)]
    lock_path.write_text(json.dumps(lock))
    generator = _build(cli, top, manifest, tmp_path / 'two', '--lock',
                       str(lock_path))
    assert generator == f'hatchling {OLDER_HATCHLING}'
    relocked = json.loads((tmp_path / 'two' / 'giftwrap.lock').read_text())
    assert relocked['projects']['hello-app']['build_tools'] == tools


def _sha256(tmp_path: Path, name: str, version: str) -> str:
    """The sha256 of the wheel pip downloads for ``name==version``."""
    dest = tmp_path / 'downloads' / name / version
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q',
                    '--no-deps', '--only-binary', ':all:', '-d', str(dest),
                    f'{name}=={version}'], check=True)
    wheel, = dest.glob('*.whl')
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.mark.parametrize('installer', ['pip', 'uv'])
def test_a_build_tool_whose_file_has_another_hash_is_refused(
        cli, top, tmp_path, installer):
    """The lock's hashes of the build tools are checked when the sdists
    (here: the project) build: a hatchling file with other bytes than the
    lock recorded (a compromised index, a re-uploaded release) fails."""
    manifest = _manifest(top, f'tampered-{installer}', textwrap.dedent('''\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        '''), installer=installer)
    _build(cli, top, manifest, tmp_path / 'one')
    lock_path = tmp_path / 'one' / 'giftwrap.lock'
    lock = json.loads(lock_path.read_text())
    lock['projects']['hello-app']['build_tool_hashes']['hatchling'] = \
        ['0' * 64]
    lock_path.write_text(json.dumps(lock))
    # not from the caches: those hold files checked when they were fetched
    result = cli('build', '-m', str(manifest), '-o', str(tmp_path / 'two'),
                 '--cache-dir', str(tmp_path / 'cold'), '-f', 'json',
                 '--lock', str(lock_path))
    assert result.status == 7, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert 'hash' in row['Hint'].lower(), row
    assert 'lock' in row['Hint'], row
    assert not list((tmp_path / 'two').glob('*.deb'))


def test_a_build_requirement_the_seeded_setuptools_cannot_meet(
        cli, top, tmp_path):
    manifest = _manifest(top, 'old', textwrap.dedent('''\
        [build-system]
        requires = ["setuptools<60"]
        build-backend = "setuptools.build_meta"
        '''))
    result = cli('build', '-m', str(manifest), '-o', str(tmp_path / 'out'),
                 '--cache-dir', str(top / 'cache'), '-f', 'json')
    assert result.status == 7, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert 'the project needs setuptools<60 to build' in row['Message']


@pytest.mark.skipif(find_tool('uv') is None, reason='uv is not installed')
def test_build_requirements_that_cannot_be_met_name_the_source(
        cli, top, tmp_path):
    manifest = _manifest(top, 'unmet', textwrap.dedent('''\
        [build-system]
        requires = ["hatchling==0.0.1"]
        build-backend = "hatchling.build"
        '''), installer='uv')
    result = cli('build', '-m', str(manifest), '-o', str(tmp_path / 'out'),
                 '--cache-dir', str(top / 'cache'), '-f', 'json')
    assert result.status == 7, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert 'the build requirements of the project cannot be met: ' \
        'hatchling==0.0.1' in row['Message']
