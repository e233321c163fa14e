"""A builder from another package: examples/giftwrap-tarball.

The example is installed with pip into a fresh virtualenv next to giftwrap
and must show up in the ``giftwrap.builders`` group exactly like giftwrap's
own builders; its tarball is checked directly.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors, testing
from giftwrap.package.builder import BuildContext, StagedTree
from giftwrap.util.process import Runner, base_environment

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / 'examples' / 'giftwrap-tarball'
INSTALL = PurePosixPath('/opt/acme/hello')
# What a pip install of a source tree must not copy (or write into).
_NOT_SOURCE = shutil.ignore_patterns(
    '.git', '.tox', '.venv', 'build', 'dist', '*.egg-info', '__pycache__',
    '.pytest_cache', 'output', 'work')


@pytest.fixture(scope='module')
def tarball():
    """The example's module, imported from its source file."""
    spec = importlib.util.spec_from_file_location(
        'giftwrap_tarball', EXAMPLE / 'giftwrap_tarball.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage(root: Path) -> StagedTree:
    venv = root / INSTALL.relative_to('/')
    (venv / 'bin').mkdir(parents=True)
    (venv / 'etc').mkdir()
    script = venv / 'bin' / 'hello'
    script.write_text('#!/opt/acme/hello/bin/python\n')
    script.chmod(0o755)
    (venv / 'bin' / 'python').symlink_to('/usr/bin/python3.11')
    (venv / 'etc' / 'hello.conf').write_text('[hello]\n')
    # "lib-dynload" sorts before "lib/a.py" as a string, not as a path.
    (venv / 'lib').mkdir()
    (venv / 'lib' / 'a.py').write_text('')
    (venv / 'lib-dynload').mkdir()
    (root / 'etc' / 'hello').mkdir(parents=True)
    (root / 'etc' / 'hello' / 'api.ini').write_text('[api]\n')
    return StagedTree(root=root, install_path=INSTALL, config_files=(
        INSTALL / 'etc' / 'hello.conf', PurePosixPath('/etc/hello/api.ini')))


def context(tmp_path: Path, tarball, builder_options=None,
            source_date_epoch: int | None = 1700000000) -> BuildContext:
    """The context a build gives the example, from giftwrap's test kit."""
    return testing.build_context(
        tmp_path, builder=tarball.TarballBuilder, options=builder_options,
        project=testing.project_info('hello', giturl='https://example.invalid/hello'),
        package=testing.package_description(
            'acme-hello', '10.0-bbc1', install_path=str(INSTALL),
            summary='hello'),
        runner=Runner(), source_date_epoch=source_date_epoch)


def test_tarball_members_are_rooted_and_owned_by_root(tmp_path, tarball,
                                                      monkeypatch):
    # the context's date, whatever the environment says
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1')
    builder = tarball.TarballBuilder(context(tmp_path, tarball))
    artifact = builder.build(stage(tmp_path / 'stage'))
    assert artifact.path == tmp_path / 'out' / 'acme-hello-10.0-bbc1.tar.gz'
    with tarfile.open(artifact.path) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == [
        'opt/acme/hello', 'opt/acme/hello/bin', 'opt/acme/hello/bin/hello',
        'opt/acme/hello/bin/python', 'opt/acme/hello/etc',
        'opt/acme/hello/etc/hello.conf', 'opt/acme/hello/lib',
        'opt/acme/hello/lib/a.py', 'opt/acme/hello/lib-dynload',
        'etc/hello/api.ini']
    assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos} == {
        (0, 0, 'root', 'root', 1700000000)}
    assert infos[2].mode == 0o755
    assert infos[3].issym() and infos[3].linkname == '/usr/bin/python3.11'
    with gzip.open(artifact.path) as gz:
        gz.read(1)
    assert artifact.path.read_bytes()[4:8] == (1700000000).to_bytes(4, 'little')


def test_tarball_is_reproducible(tmp_path, tarball):
    built = []
    for run in ('a', 'b'):
        ctx = context(tmp_path / run, tarball)
        built.append(tarball.TarballBuilder(ctx).build(
            stage(tmp_path / run / 'stage')).path.read_bytes())
    assert built[0] == built[1]


def test_tarball_unpacks_at_root(tmp_path, tarball):
    if shutil.which('tar') is None:
        pytest.skip('tar is not installed')
    artifact = tarball.TarballBuilder(context(tmp_path, tarball)).build(
        stage(tmp_path / 'stage'))
    dest = tmp_path / 'dest'
    dest.mkdir()
    Runner().run(['tar', '-xzf', str(artifact.path), '-C', str(dest)])
    assert (dest / 'opt/acme/hello/bin/hello').read_text().startswith('#!')
    assert (dest / 'opt/acme/hello/bin/python').readlink() == Path(
        '/usr/bin/python3.11')
    assert (dest / 'etc/hello/api.ini').read_text() == '[api]\n'


def test_tarball_options_and_bad_date(tmp_path, tarball):
    with pytest.raises(errors.DriverError):
        context(tmp_path, tarball, {'compresslevel': 0})
    with pytest.raises(errors.BuildError, match='SOURCE_DATE_EPOCH'):
        tarball.TarballBuilder(context(
            tmp_path, tarball, {'compresslevel': 1}, source_date_epoch=-1)
        ).build(stage(tmp_path / 'stage'))


def test_tarball_imports_only_the_api():
    """The example is what a third-party author copies: giftwrap.api only."""
    source = (EXAMPLE / 'giftwrap_tarball.py').read_text()
    imports = [line for line in source.splitlines()
               if line.startswith(('import giftwrap', 'from giftwrap'))]
    assert imports == ['from giftwrap.api import Artifact, Builder, '
                       'BuildError, Option, StagedTree']


@pytest.fixture(scope='module')
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with giftwrap and the example pip-installed."""
    top = tmp_path_factory.mktemp('third-party')
    # Copies, so building them writes nothing into the shared source tree.
    shutil.copytree(REPO, top / 'giftwrap', ignore=_NOT_SOURCE)
    shutil.copytree(EXAMPLE, top / 'giftwrap-tarball', ignore=_NOT_SOURCE)
    runner = Runner(top / 'pip.log')
    runner.run([sys.executable, '-m', 'virtualenv', '-q', str(top / 'venv')],
               what='virtualenv')
    python = top / 'venv' / 'bin' / 'python'
    # The copy has no .git for pbr to read the version from.
    runner.run([str(python), '-m', 'pip', 'install', '-q',
                str(top / 'giftwrap'), str(top / 'giftwrap-tarball')],
               env=base_environment(PBR_VERSION='0.0.0'), timeout=900,
               what='pip install')
    return top / 'venv'


def test_installed_builder_is_listed_beside_giftwraps(venv):
    code = ('import importlib.metadata as m, json; print(json.dumps(sorted('
            "e.name for e in m.entry_points(group='giftwrap.builders'))))")
    out = Runner().run([str(venv / 'bin' / 'python'), '-c', code]).output
    names = json.loads(out.strip().splitlines()[-1])
    assert {'tarball', 'nfpm-deb', 'nfpm-rpm'} <= set(names)


def test_list_builders_shows_it(venv):
    out = Runner().run([str(venv / 'bin' / 'giftwrap'), 'list-builders',
                        '-f', 'json']).output
    rows = {r['Name']: r for r in json.loads(out[out.index('['):])}
    assert rows['tarball']['Summary'].startswith('A .tar.gz of the virtualenv')
    assert 'nfpm-deb' in rows


def test_build_with_it_from_a_manifest(venv, tmp_path):
    from tests import projectutil
    repo = tmp_path / 'hello-app'
    commit = projectutil.pinned_repo(repo)
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(
        "settings: {version: '1.0-1', builders: [tarball],"
        " resolver: requirements-file}\n"
        f"projects: [{{name: hello-app, giturl: '{repo}'}}]\n")
    out = Runner().run([str(venv / 'bin' / 'giftwrap'), 'build', '-m',
                        str(manifest), '-o', str(tmp_path / 'out'),
                        '--cache-dir', str(tmp_path / 'cache'), '-f', 'json'],
                       timeout=600).output
    row, = json.loads(out[out.index('[\n'):])
    assert row['Status'] == 'built', row
    with tarfile.open(tmp_path / 'out' / 'openstack-hello-app-1.0-1.tar.gz') as tar:
        names = tar.getnames()
    assert 'opt/openstack/hello-app/bin/hello-app' in names
    # dated the build's time (the commit's, unless the operator sets one)
    from dulwich.repo import Repo
    with Repo(str(repo)) as git:
        when = git[commit.encode()].commit_time
    with tarfile.open(tmp_path / 'out' / 'openstack-hello-app-1.0-1.tar.gz') as tar:
        assert {m.mtime for m in tar.getmembers()} == {
            int(os.environ.get('SOURCE_DATE_EPOCH') or when)}
