"""The strip options on a real virtualenv (virtualenv, pip, PyPI), and a
package that byte-compiles at install time, installed with dpkg.

pbr's wheel ships its own ``pbr/tests`` package: what ``strip: [tests]``
drops.
"""

from __future__ import annotations

import datetime
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.venv import interpreter, strip, build as venv
from giftwrap.builders import nfpm
from giftwrap.package.builder import StagedTree
from giftwrap.manifest.loader import Project
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Checkout, Pin, Pins
from tests import projectutil
from tests.packageutil import dpkg

SITE = 'lib/python3.11/site-packages'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """One virtualenv of hello-app with pbr (and its tests) installed."""
    if not os.access('/usr/bin/python3', os.X_OK):
        pytest.skip('/usr/bin/python3 is not installed')
    base = tmp_path_factory.mktemp('strip')
    install = PurePosixPath(f'/opt/giftwrap-strip-{uuid.uuid4().hex[:8]}'
                            '/hello-app')
    src = projectutil.write_sample_project(base / 'src',
                                           requirements=['pbr'])
    tree, _ = venv.build(
        interpreter=interpreter.resolve('/usr/bin/python3', Runner()),
        stage_root=base / 'root', install_path=install, source_dir=src,
        pins=Pins.of([Pin('pbr', '6.1.1')]), work_dir=base / 'work',
        cache_dir=base / 'cache', runner=Runner(base / 'build.log'))
    return tree


def copy(tree: StagedTree, to: Path) -> StagedTree:
    shutil.copytree(tree.root, to / 'root', symlinks=True)
    return StagedTree(to / 'root', tree.install_path, native=tree.native)


def files(venv_dir: Path) -> set[str]:
    return {p.relative_to(venv_dir).as_posix() for p in venv_dir.rglob('*')
            if p.is_file() and not p.is_symlink()}


def size(venv_dir: Path) -> int:
    return sum(os.lstat(p).st_size for p in venv_dir.rglob('*')
               if not p.is_dir() or p.is_symlink())


def python(tree: StagedTree, code: str) -> str:
    """Run the staged virtualenv's interpreter (it finds its pyvenv.cfg)."""
    return Runner().run([str(tree.venv / 'bin/python'), '-c', code]
                        ).output.strip()


@pytest.mark.parametrize('option, gone', [
    ('tests', '/tests/'),
    ('pycache', '__pycache__/'),
])
def test_each_option_removes_its_files(built, tmp_path, option, gone):
    tree = copy(built, tmp_path)
    before, before_size = files(tree.venv), size(tree.venv)
    (done,) = strip.apply(tree.venv, 'hello-app', [option])
    after = files(tree.venv)
    assert {f for f in before if gone in f + '/'} == before - after
    assert done.files == len(before - after) > 0
    if option == 'tests':
        assert f'{SITE}/pbr/tests/__init__.py' in before - after
    # What it saved, and a little more: the RECORDs lose their rows.
    assert 0 <= before_size - size(tree.venv) - done.saved < 10_000
    assert python(tree, 'import pbr.version, hello_app.cli; print("ok")') \
        == 'ok'


def test_sources_ship_byte_code_only(built, tmp_path):
    tree = copy(built, tmp_path)
    strip.apply(tree.venv, 'hello-app', ['sources'])
    ours = {f for f in files(tree.venv) if f.startswith(f'{SITE}/hello_app/')}
    assert ours == {f'{SITE}/hello_app/__init__.pyc',
                    f'{SITE}/hello_app/cli.pyc'}
    assert python(tree, 'import hello_app.cli as c; print(c.__file__)') == \
        str(tree.venv / SITE / 'hello_app/cli.pyc')
    pip = Runner().run([str(tree.venv / 'bin/python'), '-m', 'pip', 'show',
                        '-f', 'hello-app']).output
    assert 'hello_app/cli.pyc' in pip and 'hello_app/cli.py\n' not in pip


@pytest.mark.skipif(find_tool('nfpm') is None, reason='nfpm is not installed')
def test_byte_code_compiled_on_install_and_cleaned_on_removal(built,
                                                              tmp_path):
    if shutil.which('dpkg') is None or os.geteuid() != 0:
        pytest.skip('installing a package needs dpkg and root')
    tree = copy(built, tmp_path)
    strip.apply(tree.venv, 'hello-app', ['pycache', 'tests'])
    name = f'gw-strip-{uuid.uuid4().hex[:8]}'
    project = Project(
        name='hello-app', package_name=name, version='1.0',
        package_version=versions.parse('1.0'),
        install_path=tree.install_path, giturl='https://example.invalid/h',
        gitref='master', python='/usr/bin/python3', resolver='none',
        builders=('nfpm-deb',), resolver_options={}, builder_options={},
        strip=('pycache', 'tests'), where=f'{tmp_path}/manifest.yml:1')
    python3 = interpreter.resolve('/usr/bin/python3', Runner())
    context = testing.build_context(
        tmp_path, project=project, package=package.describe(project, tree, python3),
        interpreter=python3,
        checkout=Checkout(tmp_path, project.giturl, 'master', 'a' * 40,
                          datetime.datetime(2025, 1, 1,
                                            tzinfo=datetime.timezone.utc)),
        pins=Pins.of([]), options={}, work_dir=tmp_path / 'work',
        output_dir=tmp_path / 'out', runner=Runner(tmp_path / 'build.log'))
    deb = nfpm.NfpmDeb(context).build(tree).path
    top = Path('/', *tree.install_path.parts[1:3])
    try:
        dpkg('-i', '--', str(deb))
        cache = Path(tree.install_path) / SITE / 'hello_app/__pycache__'
        assert sorted(p.name.split('.')[0] for p in cache.iterdir()) == [
            '__init__', 'cli']
        dpkg('-r', '--', name)
        assert not top.exists()
    finally:
        dpkg('--purge', '--', name)
        shutil.rmtree(top, ignore_errors=True)
