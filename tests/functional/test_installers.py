"""pip and uv build the same virtualenv: same pins, files, versions, hashes.

The sample project is built once with each installer (module-scoped: each
build costs seconds) under the same pins.  The trees must hold the same
files, except what each installer writes about itself:

- ``*.dist-info/INSTALLER`` says ``pip`` or ``uv``;
- ``*.dist-info/REQUESTED`` marks what was asked for on the command line:
  pip writes it for the top-level requirements only, uv for every
  distribution it installs;
- ``RECORD`` lists those two files, and the hashes of the console scripts
  in ``bin``, whose launcher text differs (same shebang, same entry point).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors
from giftwrap.venv import interpreter, build as venv
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Pin, Pins
from tests import projectutil

SYSTEM_PYTHON = '/usr/bin/python3'
SITE = 'lib/python3.11/site-packages'
INSTALL = PurePosixPath('/opt/openstack/2025.1/hello-app')
PINS = Pins.of([Pin('six', '1.16.0'), Pin('idna', '3.7')])
# What each installer writes about itself (see the module docstring).
SELF_DESCRIBING = ('INSTALLER', 'REQUESTED')

pytestmark = pytest.mark.skipif(find_tool('uv') is None,
                                reason='uv is not installed (pip install uv)')


def _interpreter():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f'{SYSTEM_PYTHON} is not installed')
    return interpreter.resolve(SYSTEM_PYTHON, Runner())


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('cache')


@pytest.fixture(scope='module')
def source(tmp_path_factory) -> Path:
    return projectutil.write_sample_project(
        tmp_path_factory.mktemp('src') / 'hello', requirements=['six'],
        extras={'idn': ['idna']})


def _build(base: Path, source: Path, cache_dir: Path, installer: str,
           pins: Pins = PINS, **kwargs):
    return venv.build(
        interpreter=_interpreter(), stage_root=base / 'root',
        install_path=INSTALL, source_dir=source, pins=pins, extras=('idn',),
        work_dir=base / 'work', cache_dir=cache_dir,
        runner=Runner(base / 'build.log'),
        forbidden=(base, cache_dir) if cache_dir else (base,),
        installer=installer, **kwargs)


@pytest.fixture(scope='module')
def builds(tmp_path_factory, source, cache_dir):
    return {name: _build(tmp_path_factory.mktemp(name), source, cache_dir,
                         name) for name in venv.INSTALLERS}


def _files(tree) -> list[str]:
    env = tree.venv
    return sorted(str(p.relative_to(env)) for p in env.rglob('*')
                  if not p.is_dir() and p.name not in SELF_DESCRIBING)


def _record(tree, dist: str) -> dict[str, str]:
    record = next((tree.venv / SITE).glob(f'{dist}-*.dist-info/RECORD'))
    return {row[0]: row[1] for row in csv.reader(
        record.read_text().splitlines())
        if row and row[0].rsplit('/', 1)[-1] not in SELF_DESCRIBING}


def test_same_files(builds):
    pip_files, uv_files = (_files(builds[n][0]) for n in ('pip', 'uv'))
    assert pip_files == uv_files
    assert f'{SITE}/six.py' in pip_files
    assert not [f for f in uv_files if f.rsplit('/', 1)[-1].startswith('uv_')]


def test_records_differ_only_in_script_hashes(builds):
    for dist in ('six', 'idna', 'hello_app'):
        pip_rows, uv_rows = (_record(builds[n][0], dist) for n in ('pip', 'uv'))
        assert pip_rows.keys() == uv_rows.keys()
        differing = {k for k in pip_rows if pip_rows[k] != uv_rows[k]}
        assert differing <= {'../../../bin/hello-app'}, dist


def test_same_versions_closure_and_hashes(builds):
    (_, pip_report), (_, uv_report) = builds['pip'], builds['uv']
    assert dict(pip_report.installed) == dict(uv_report.installed)
    assert dict(uv_report.closure) == {'idna': '3.7', 'six': '1.16.0'}
    assert dict(pip_report.closure) == dict(uv_report.closure)
    assert dict(uv_report.hashes) == dict(pip_report.hashes)
    assert len(uv_report.hashes['six']) == 64


def test_uv_tree_runs_and_names_only_the_install_path(builds):
    tree = builds['uv'][0]
    script = (tree.venv / 'bin' / 'hello-app').read_text()
    assert script.startswith(f'#!{INSTALL}/bin/python\n')
    assert (tree.venv / SITE / '__pycache__').is_dir()  # giftwrap compiled
    assert (tree.venv / SITE / 'six-1.16.0.dist-info' / 'INSTALLER'
            ).read_text().strip() == 'uv'


def _locked(report, **wrong) -> Pins:
    return Pins.of(Pin(n, v, wrong.get(n, report.hashes[n]))
                   for n, v in report.closure.items())


def test_uv_replays_a_lock_with_hashes(builds, source, cache_dir, tmp_path):
    report = builds['pip'][1]
    tree, replayed = _build(tmp_path, source, cache_dir, 'uv',
                            pins=_locked(report), require_hashes=True)
    assert dict(replayed.installed) == dict(report.installed)
    assert _files(tree) == _files(builds['uv'][0])


def test_uv_refuses_a_wrong_hash(builds, source, cache_dir, tmp_path):
    pins = _locked(builds['pip'][1], six='0' * 64)
    with pytest.raises(errors.BuildError) as info:
        _build(tmp_path, source, cache_dir, 'uv', pins=pins,
               require_hashes=True)
    assert 'uv could not install the locked pins' in info.value.what
    assert 'six' in info.value.output


def test_uv_pip_check_finds_broken_requirements(tmp_path, cache_dir):
    src = projectutil.write_sample_project(tmp_path / 'src',
                                           requirements=['six>=1.16.0'])
    with pytest.raises(errors.BuildError) as info:
        venv.build(interpreter=_interpreter(), stage_root=tmp_path / 'root',
                   install_path=INSTALL, source_dir=src, pins=Pins.of([]),
                   postinstall_dependencies=('six==1.15.0',),
                   work_dir=tmp_path / 'work', cache_dir=cache_dir,
                   runner=Runner(), installer='uv')
    assert 'pip check' in info.value.what
    assert 'six' in info.value.output


def test_uv_without_cache_dir(tmp_path, source):
    tree, report = _build(tmp_path, source, None, 'uv')
    assert report.installed['six'] == '1.16.0'
    assert (tree.venv / SITE / 'six.py').is_file()


def test_same_contents_but_scripts_and_records(builds):
    pip_env, uv_env = (builds[n][0].venv for n in ('pip', 'uv'))
    differing = [f for f in _files(builds['pip'][0])
                 if not f.endswith(('.pyc', '/RECORD'))
                 and (pip_env / f).read_bytes() != (uv_env / f).read_bytes()]
    assert differing == ['bin/hello-app']


def test_uv_installs_the_resolution_it_made(builds, source, cache_dir,
                                            tmp_path):
    """The versions uv resolved to find source builds are installed as
    they are, from uv's cache (warm by now), not resolved again: the
    closure first, while the project's wheel builds, then the wheel."""
    tree, report = _build(tmp_path, source, cache_dir, 'uv')
    log = (tmp_path / 'build.log').read_text()
    closure, project = _uv_commands(log, 'pip install')
    assert '--offline --no-deps -r ' in closure
    assert closure.endswith('/resolved-closure.txt')
    assert '--offline -c ' in project and 'resolved-constraints.txt' in project
    assert (tmp_path / 'work' / 'resolved-closure.txt').read_text() == \
        'idna==3.7\nsix==1.16.0\n'
    assert log.count('[exit status 0,') == log.count('[exit status')
    assert _files(tree) == _files(builds['uv'][0])
    assert dict(report.hashes) == dict(builds['uv'][1].hashes)
    assert dict(report.closure) == dict(builds['uv'][1].closure)


def _pyproject(path: Path, name: str, version: str, module: str, code: str,
               more: str = '') -> Path:
    """A setuptools project at ``path`` of one package ``module``."""
    (path / module).mkdir(parents=True)
    (path / module / '__init__.py').write_text(code)
    (path / 'pyproject.toml').write_text(
        '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n{more}')
    return path


def test_a_projects_uv_sources_do_not_choose_its_dependencies(tmp_path,
                                                              cache_dir):
    """A ``[tool.uv.sources]`` table in the project's pyproject.toml (a
    merge request can add one) must not make uv take a dependency from a
    path: the index and the pins choose, as they do for pip."""
    impostor = _pyproject(tmp_path / 'impostor', 'six', '1.16.0',
                          'six_impostor', 'STOLEN = 1\n')
    src = _pyproject(tmp_path / 'src', 'sourced', '1.0', 'sourced', '',
                     'dependencies = ["six"]\n'
                     f'[tool.uv.sources]\nsix = {{ path = "{impostor}" }}\n')
    tree, report = venv.build(
        interpreter=_interpreter(), stage_root=tmp_path / 'root',
        install_path=INSTALL, source_dir=src, pins=PINS,
        work_dir=tmp_path / 'work', cache_dir=cache_dir,
        runner=Runner(tmp_path / 'build.log'), installer='uv')
    site = tree.venv / SITE
    assert (site / 'six.py').is_file()
    assert not (site / 'six_impostor').exists()
    assert report.closure['six'] == '1.16.0' and 'six' in report.hashes


def _uv_commands(log: str, command: str) -> list[str]:
    """The uv ``command`` lines (``build``, ``pip install``) of ``log``."""
    found = []
    for line in log.splitlines():
        parts = line.split(' ', 2)
        if len(parts) == 3 and parts[0] == '$' and \
                parts[1].endswith('/uv') and parts[2].startswith(command + ' '):
            found.append(line)
    return found


def test_uv_builds_the_project_once_and_installs_its_wheel(
        builds, source, cache_dir, tmp_path):
    """``uv build --wheel`` runs the build backend once; ``uv pip install``
    of the checkout would prepare the metadata in one run, then build."""
    tree, _ = _build(tmp_path, source, cache_dir, 'uv')
    log = (tmp_path / 'build.log').read_text()
    built = _uv_commands(log, 'build')
    assert len(built) == 1, built
    assert '--no-sources' in built[0] and '--offline' in built[0]
    assert built[0].endswith(f' -- {source}')
    install = _uv_commands(log, 'pip install')[-1]
    assert install.endswith(
        '/project-wheel/hello_app-1.2.3-py3-none-any.whl[idn]')
    assert str(source) not in install
    assert _files(tree) == _files(builds['uv'][0])


def _build_failing(base: Path, src: Path, cache_dir: Path) -> None:
    """A uv build of ``src`` (no extras) that is meant to fail."""
    venv.build(
        interpreter=_interpreter(), stage_root=base / 'root',
        install_path=INSTALL, source_dir=src, pins=PINS,
        work_dir=base / 'work', cache_dir=cache_dir,
        runner=Runner(base / 'build.log'), installer='uv')


def test_a_project_that_does_not_build_says_so(tmp_path, cache_dir):
    src = _pyproject(tmp_path / 'src', 'broken', '1.0', 'broken', '')
    (src / 'setup.py').write_text(
        'raise SystemExit("broken: this project cannot build")\n')
    with pytest.raises(errors.BuildError) as caught:
        _build_failing(tmp_path, src, cache_dir)
    assert caught.value.what == 'uv could not build the project\'s wheel'
    assert 'broken: this project cannot build' in caught.value.output
    assert 'the build backend failed' in caught.value.hint
    # a failing build runs once: only a file missing from uv's cache is
    # asked of the index again
    assert len(_uv_commands((tmp_path / 'build.log').read_text(),
                            'build')) == 1


def test_a_projects_uv_sources_do_not_choose_its_build_backend(
        tmp_path, cache_dir):
    """``[tool.uv.sources]`` naming a path for a build requirement is not
    followed either: the build backend comes from the index, and this one
    is on no index, so the build fails without running the impostor."""
    marker = tmp_path / 'impostor-ran'
    impostor = tmp_path / 'impostor'
    (impostor / 'giftwrap_impostor_backend').mkdir(parents=True)
    (impostor / 'giftwrap_impostor_backend' / '__init__.py').write_text(
        f'open({str(marker)!r}, "w").close()\n'
        'from setuptools.build_meta import *\n')
    (impostor / 'pyproject.toml').write_text(
        '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "giftwrap-impostor-backend"\nversion = "1.0"\n'
        'dependencies = ["setuptools"]\n')
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'pyproject.toml').write_text(
        '[build-system]\nrequires = ["giftwrap-impostor-backend"]\n'
        'build-backend = "giftwrap_impostor_backend"\n'
        '[project]\nname = "sourced"\nversion = "1.0"\n'
        '[tool.uv.sources]\n'
        f'giftwrap-impostor-backend = {{ path = "{impostor}" }}\n')
    with pytest.raises(errors.BuildError) as caught:
        _build_failing(tmp_path, src, cache_dir)
    assert 'giftwrap-impostor-backend' in caught.value.output
    assert not marker.exists()


_BAD_INDEX = 'index-url = "http://127.0.0.1:9/simple"\n'


def test_no_uv_configuration_above_the_work_directory_applies(
        tmp_path, source, monkeypatch):
    """The work directory inside a checkout of a merge request (``--work-dir
    ./work``): its ``pyproject.toml`` names an index of its own.  uv must
    not read it; from an empty cache it fetches from the operator's index.
    The same build fails with the operator's own uv.toml naming that index:
    the operator's configuration still applies."""
    checkout = tmp_path / 'merge-request'
    checkout.mkdir()
    (checkout / 'pyproject.toml').write_text(
        '[project]\nname = "not-giftwrap"\nversion = "1"\n'
        f'[tool.uv]\n{_BAD_INDEX}[tool.uv.pip]\n{_BAD_INDEX}')
    (checkout / 'uv.toml').write_text(_BAD_INDEX)
    tree, _ = _build(checkout, source, checkout / 'cache', 'uv')
    assert (tree.venv / SITE / 'six.py').is_file()
    assert '127.0.0.1:9' not in (checkout / 'build.log').read_text()

    home = tmp_path / 'operator'
    (home / '.config' / 'uv').mkdir(parents=True)
    (home / '.config' / 'uv' / 'uv.toml').write_text(_BAD_INDEX)
    base = tmp_path / 'configured'
    base.mkdir()
    monkeypatch.setenv('HOME', str(home))
    with pytest.raises(errors.BuildError) as caught:
        _build(base, source, base / 'cache', 'uv')
    assert '127.0.0.1:9' in caught.value.output
