"""Reading declared build requirements, checking them, caching resolutions."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from giftwrap import errors, testing
from giftwrap.venv import buildreqs, buildsystem
from giftwrap.venv.interpreter import Interpreter

PY311 = Interpreter(Path('/usr/bin/python3.11'), '3.11.2',
                    soabi='cpython-311-x86_64-linux-gnu',
                    platform_machine='x86_64')
HATCH = '[build-system]\nrequires = ["hatchling>=1.20", "hatch-vcs"]\n' \
        'build-backend = "hatchling.build"\n'


def _tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, 'w:gz') as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, 'w') as zipped:
        for name, text in files.items():
            zipped.writestr(name, text)
    return path


@pytest.mark.parametrize('text', [
    None,
    '[project]\nname = "x"\n',
    '[build-system]\nbuild-backend = "setuptools.build_meta"\n',
])
def test_nothing_declared_is_the_installers_legacy_default(text):
    assert buildsystem.declared(text, 'x') == ('setuptools>=40.8.0',)


def test_declared_requirements_are_normalized():
    text = '[build-system]\nrequires = ["pbr >= 6.0.0", "Cython<3; ' \
           'python_version >= \'3.8\'"]\n'
    assert buildsystem.declared(text, 'x') == (
                                               'pbr>=6.0.0', 'Cython<3; python_version >= "3.8"')


def test_empty_requires_declares_nothing():
    assert buildsystem.declared('[build-system]\nrequires = []\n', 'x') == ()


@pytest.mark.parametrize('text, message', [
    ('[build-system\n', 'not valid TOML'),
    ('[build-system]\nrequires = "hatchling"\n', 'not a list of strings'),
    ('[build-system]\nrequires = [1]\n', 'not a list of strings'),
    ('[build-system]\nrequires = ["--index-url=http://x"]\n',
     'is not a requirement'),
])
def test_bad_pyproject_is_a_build_error(text, message):
    with pytest.raises(errors.BuildError, match=message) as caught:
        buildsystem.declared(text, 'src/pyproject.toml')
    assert caught.value.where == 'src/pyproject.toml'


def test_project_with_and_without_pyproject(tmp_path):
    assert buildsystem.project_requires(tmp_path) == ('setuptools>=40.8.0',)
    (tmp_path / 'pyproject.toml').write_text(HATCH)
    assert buildsystem.project_requires(tmp_path) == ('hatchling>=1.20',
                                                      'hatch-vcs')


@pytest.mark.parametrize('make, name', [(_tar, 'demo-1.0.tar.gz'),
                                        (_zip, 'demo-1.0.zip')])
def test_sdist_top_level_pyproject(tmp_path, make, name):
    archive = make(tmp_path / name, {
        'demo-1.0/PKG-INFO': 'Name: demo\n',
        'demo-1.0/vendored/pyproject.toml':
            '[build-system]\nrequires = ["flit_core"]\n',
        'demo-1.0/pyproject.toml': HATCH})
    assert buildsystem.sdist_requires(archive) == ('hatchling>=1.20',
                                                   'hatch-vcs')


@pytest.mark.parametrize('make, name', [(_tar, 'old-0.1.tar.gz'),
                                        (_zip, 'old-0.1.zip')])
def test_sdist_without_pyproject_is_legacy(tmp_path, make, name):
    archive = make(tmp_path / name, {'old-0.1/setup.py': 'import setuptools\n',
                                     'old-0.1/sub/pyproject.toml': HATCH})
    assert buildsystem.sdist_requires(archive) == ('setuptools>=40.8.0',)


# keystone's setup.py, as every OpenStack project without a pyproject.toml
PBR_SETUP = ("import setuptools\n\n"
             "setuptools.setup(\n    setup_requires=['pbr>=2.0.0'],\n"
             "    pbr=True)\n")


def test_setup_requires_of_a_legacy_project(tmp_path):
    (tmp_path / 'setup.py').write_text(PBR_SETUP)
    assert buildsystem.project_requires(tmp_path) == ('setuptools>=40.8.0',
                                                      'pbr>=2.0.0')
    (tmp_path / 'setup.cfg').write_text(
        '[options]\nsetup_requires =\n    setuptools_scm>=6\n    cython\n')
    assert buildsystem.project_requires(tmp_path) == (
        'setuptools>=40.8.0', 'setuptools_scm>=6', 'cython', 'pbr>=2.0.0')


def test_setup_requires_count_with_setuptools_backends_only(tmp_path):
    (tmp_path / 'setup.py').write_text(PBR_SETUP)
    (tmp_path / 'pyproject.toml').write_text(
        '[build-system]\nrequires = ["pbr>=6.1.1"]\n'
        'build-backend = "pbr.build"\n')
    assert buildsystem.project_requires(tmp_path) == ('pbr>=6.1.1',)
    (tmp_path / 'pyproject.toml').write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n')
    assert buildsystem.project_requires(tmp_path) == ('setuptools>=61',
                                                      'pbr>=2.0.0')


def test_computed_setup_requires_are_left_alone(tmp_path, caplog):
    (tmp_path / 'setup.py').write_text(
        'from setuptools import setup\nREQS = ["pbr"]\n'
        'setup(setup_requires=REQS)\n')
    assert buildsystem.project_requires(tmp_path) == ('setuptools>=40.8.0',)
    assert 'not constrained' in caplog.text
    (tmp_path / 'setup.py').write_text('print "python 2"\n')
    assert buildsystem.project_requires(tmp_path) == ('setuptools>=40.8.0',)


@pytest.mark.parametrize('make, name', [(_tar, 'leg-1.0.tar.gz'),
                                        (_zip, 'leg-1.0.zip')])
def test_setup_requires_of_an_sdist(tmp_path, make, name):
    archive = make(tmp_path / name, {'leg-1.0/setup.py': PBR_SETUP,
                                     'leg-1.0/sub/setup.py': 'setup(setup_'
                                     'requires=["nope"])\n'})
    assert buildsystem.sdist_requires(archive) == ('setuptools>=40.8.0',
                                                   'pbr>=2.0.0')


def test_not_an_archive_is_a_build_error(tmp_path):
    bogus = tmp_path / 'bogus-1.0.tar.gz'
    bogus.write_bytes(b'not an archive')
    with pytest.raises(errors.BuildError, match='cannot read the sdist'):
        buildsystem.sdist_requires(bogus)


def test_bad_pyproject_in_sdist_names_the_archive(tmp_path):
    archive = _tar(tmp_path / 'bad-1.0.tar.gz',
                   {'bad-1.0/pyproject.toml': '[build-system]\nrequires = 3\n'})
    with pytest.raises(errors.BuildError) as caught:
        buildsystem.sdist_requires(archive)
    assert caught.value.where == 'bad-1.0.tar.gz: pyproject.toml'


def test_a_requirement_the_seeded_setuptools_cannot_meet():
    sources = {'the project': ('pbr>=6',),
               'oldthing 1.0 (sdist)': ('setuptools<60', 'wheel')}
    with pytest.raises(errors.BuildError) as caught:
        buildreqs.check_fixed(sources, {'setuptools': '84.2.1'}, PY311)
    assert 'oldthing 1.0 (sdist) needs setuptools<60' in caught.value.what
    assert 'setuptools 84.2.1' in caught.value.what
    assert 'override that pin' in caught.value.hint


def test_requirements_the_seeded_tools_meet_pass():
    buildreqs.check_fixed(
        {'the project': ('setuptools>=61', 'wheel>=0.40'),
         # a marker for another Python does not apply
         'x 1 (sdist)': ('setuptools<60; python_version < "3.8"',)},
        {'setuptools': '84.2.1', 'wheel': '0.45.1'}, PY311)


def test_cache_key_covers_what_a_resolution_depends_on():
    key = buildreqs.cache_key(['pbr>=6', 'setuptools>=40.8.0'], PY311,
                              {'pip': '26.3', 'setuptools': '84.2.1'}, 'pip')
    assert key == buildreqs.cache_key(
        ['setuptools>=40.8.0', 'pbr>=6'], PY311,
        {'setuptools': '84.2.1', 'pip': '26.3'}, 'pip')
    other_python = Interpreter(Path('/usr/bin/python3.12'), '3.12.3')
    assert len({key,
                buildreqs.cache_key(['pbr>=6'], PY311, {}, 'pip'),
                buildreqs.cache_key(['pbr>=6', 'setuptools>=40.8.0'], PY311,
                                    {'pip': '26.3', 'setuptools': '84.2.1'},
                                    'uv'),
                buildreqs.cache_key(['pbr>=6', 'setuptools>=40.8.0'],
                                    other_python,
                                    {'pip': '26.3', 'setuptools': '84.2.1'},
                                    'pip'),
                buildreqs.cache_key(['pbr>=6', 'setuptools>=40.8.0'], PY311,
                                    {'pip': '26.3', 'setuptools': '80.0'},
                                    'pip')}) == 5


def _cached(path: Path, resolved_at: float) -> Path:
    path.write_text(json.dumps({'resolved_at': resolved_at,
                                'versions': {'pbr': '7.0.1'}}))
    return path


def test_cached_resolution_is_used_for_a_day(tmp_path):
    path = _cached(tmp_path / 'key.json', 1_000_000.0)
    assert buildreqs.read_resolution(path, now=1_000_000.0 + 3600) == {
        'pbr': '7.0.1'}
    assert buildreqs.read_resolution(
        path, now=1_000_000.0 + buildreqs.EXPIRY) is None


def test_cached_resolution_from_the_future_is_expired(tmp_path):
    path = _cached(tmp_path / 'key.json', 2_000_000.0)
    assert buildreqs.read_resolution(path, now=1_000_000.0) is None


@pytest.mark.parametrize('text', ['', 'not json', '[]', '{"versions": {}}',
                                  '{"resolved_at": "x", "versions": {}}'])
def test_unreadable_cache_entry_is_a_miss(tmp_path, text):
    path = tmp_path / 'key.json'
    path.write_text(text)
    assert buildreqs.read_resolution(path) is None


def test_missing_cache_entry_is_a_miss(tmp_path):
    assert buildreqs.read_resolution(tmp_path / 'none.json') is None


def test_offline_uses_a_cached_resolution_however_old(tmp_path):
    # no index can give a newer one
    path = _cached(tmp_path / 'key.json', 1_000_000.0)
    assert buildreqs.read_resolution(
        path, now=1_000_000.0 + 30 * buildreqs.EXPIRY, expiry=None) == {
        'pbr': '7.0.1'}


def test_offline_never_downloads_an_sdist_from_the_index(tmp_path):
    runner = testing.RecordingRunner()
    ctx = buildreqs.Context(tmp_path / 'venv', 'uv', None, tmp_path,
                            tmp_path / 'cache', runner, {}, offline=True)
    item = buildreqs.Found('docopt', '0.6.2', sdist='https://files.example/'
                           'docopt-0.6.2.tar.gz', sha256='a' * 64)
    with pytest.raises(errors.BuildError, match='offline') as info:
        buildreqs._sdist_declared(ctx, item)
    assert 'giftwrap fetch' in info.value.hint
    assert runner.calls == []
