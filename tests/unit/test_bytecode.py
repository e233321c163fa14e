"""giftwrap/venv/bytecode.py: the .pyc files compileall writes, from a cache
shared by every install path."""

import compileall
import marshal
import os
import py_compile
import shutil
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / 'giftwrap' / 'venv' / 'bytecode.py'
RECORDED = '/opt/app/lib/python3/site-packages'


def _tree(root: Path) -> Path:
    site = root / 'site'
    (site / 'pkg' / 'sub').mkdir(parents=True)
    (site / 'pkg' / '__init__.py').write_text('VALUE = 1\n')
    (site / 'pkg' / 'sub' / 'mod.py').write_text('def f():\n    return 2\n')
    (site / 'top.py').write_text('import pkg\n')
    (site / 'top.py').chmod(0o664)
    (site / 'py2.py').write_text('print "old"\n')
    return site


def _pycs(site: Path) -> dict:
    return {p.relative_to(site): p.read_bytes()
            for p in sorted(site.rglob('*.pyc'))}


def _run(site: Path, cache: Path | None, recorded: str = RECORDED):
    argv = [sys.executable, '-I', str(SCRIPT), str(site), recorded]
    return subprocess.run(argv + ([str(cache)] if cache else []),
                          capture_output=True, text=True)


def _compileall(site: Path, recorded: str = RECORDED) -> dict:
    compileall.compile_dir(
        str(site), quiet=2, force=True, ddir=recorded,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    return _pycs(site)


def _fields(code: types.CodeType) -> tuple:
    """Everything a code object holds, nested code objects included."""
    return tuple(
        tuple(_fields(c) if isinstance(c, types.CodeType) else (type(c), c)
              for c in value) if name == 'co_consts' else value
        for name in sorted(dir(code)) if name.startswith('co_')
        for value in (getattr(code, name),) if not callable(value))


def _same_code(ours: dict, theirs: dict) -> None:
    """The same .pyc files: the same header (magic, flags, source hash)
    and code objects; marshal's marks of shared objects may differ."""
    assert ours.keys() == theirs.keys()
    for name, data in ours.items():
        assert data[:16] == theirs[name][:16], name
        assert _fields(marshal.loads(data[16:])) == \
            _fields(marshal.loads(theirs[name][16:])), name


@pytest.fixture
def expected(tmp_path):
    return _compileall(_tree(tmp_path / 'reference'))


def test_same_code_as_compileall_with_and_without_cache(tmp_path, expected):
    cache = tmp_path / 'cache'
    builds = {}
    for name, use in (('plain', None), ('fill', cache), ('hit', cache)):
        site = _tree(tmp_path / name)
        result = _run(site, use)
        assert result.returncode == 1  # py2.py does not compile
        assert 'py2.py' in result.stdout
        assert "SyntaxError: Missing parentheses in call to 'print'" \
            in result.stdout
        builds[name] = _pycs(site)
        _same_code(builds[name], expected)
    # the module that does not compile is tried again, and fails again
    assert '1 compiled, 3 from the cache' in result.stdout
    assert builds['plain'] == builds['fill'] == builds['hit']


def test_a_real_library_under_two_paths_from_one_cache(tmp_path):
    """The standard library's ``email`` and ``json`` (classes, closures,
    comprehensions, lambdas) installed under two paths: the second path is
    compiled from the first's entries, and every build's bytes are the same
    whatever the cache held; the code is compileall's."""
    stdlib = Path(sysconfig.get_paths()['stdlib'])

    def tree(name: str) -> Path:
        site = tmp_path / name / 'site'
        for package in ('email', 'json'):
            shutil.copytree(stdlib / package, site / package,
                            ignore=shutil.ignore_patterns('__pycache__'))
        return site

    cache = tmp_path / 'cache'
    first = _run(tree('first'), cache, '/opt/one/site-packages')
    assert first.returncode == 0, first.stdout
    count = len(_pycs(tmp_path / 'first' / 'site'))
    assert f'{count} compiled, 0 from the cache' in first.stdout
    second = _run(tree('second'), cache, '/opt/two/site-packages')
    assert f'0 compiled, {count} from the cache' in second.stdout
    plain = _run(tree('plain'), None, '/opt/two/site-packages')
    assert plain.returncode == 0, plain.stdout
    again = _run(tree('again'), cache, '/opt/two/site-packages')
    assert f'0 compiled, {count} from the cache' in again.stdout
    ours = {name: _pycs(tmp_path / name / 'site')
            for name in ('second', 'plain', 'again')}
    assert ours['second'] == ours['plain'] == ours['again']
    # the third build linked the second's .pyc files
    linked = next(iter((tmp_path / 'again' / 'site' / 'json'
                        / '__pycache__').iterdir()))
    assert linked.stat().st_nlink > 1
    _same_code(ours['plain'], _compileall(tree('reference'),
                                          '/opt/two/site-packages'))
    data = next(iter(ours['plain'].values()))
    assert b'/opt/two/site-packages/' in data and b'/opt/one' not in data


def _modes(site: Path) -> dict:
    return {p.relative_to(site): p.stat().st_mode & 0o777
            for p in site.rglob('*.pyc')}


def test_cached_files_get_the_modes_compileall_gives(tmp_path):
    cache = tmp_path / 'cache'
    old = os.umask(0o002)  # so a group-writable source gives another mode
    try:
        reference = _tree(tmp_path / 'reference')
        compileall.compile_dir(str(reference), quiet=2, force=True)
        for name in ('fill', 'hit'):
            site = _tree(tmp_path / name)
            _run(site, cache)
            assert _modes(site) == _modes(reference), name
    finally:
        os.umask(old)
    assert 0o664 in _modes(reference).values()
    assert {p.stat().st_mode & 0o777 for p in cache.rglob('*')
            if p.is_file()} == {0o644}


def test_another_recorded_path_reuses_the_compiled_code(tmp_path):
    cache = tmp_path / 'cache'
    site = _tree(tmp_path / 'one')
    _run(site, cache)
    other = _tree(tmp_path / 'two')
    result = _run(other, cache, '/elsewhere')
    assert '1 compiled, 3 from the cache' in result.stdout  # py2.py again
    pyc = other / 'pkg' / '__pycache__'
    assert b'/elsewhere/pkg/__init__.py' in next(pyc.iterdir()).read_bytes()
    assert not any(p.name.startswith('.tmp') for p in cache.rglob('*'))
    assert not any(p.name.startswith('.tmp') for p in other.rglob('*'))
    _same_code(_pycs(other), _compileall(_tree(tmp_path / 'ref'),
                                         '/elsewhere'))


def test_a_read_only_source_gets_the_mode_compileall_gives(tmp_path):
    site = _tree(tmp_path / 'ours')
    reference = _tree(tmp_path / 'reference')
    for tree in (site, reference):
        (tree / 'top.py').chmod(0o444)
    _run(site, tmp_path / 'cache')
    compileall.compile_dir(str(reference), quiet=2, force=True)
    assert _modes(site) == _modes(reference)


def test_only_compiles_the_modules_listed(tmp_path, expected):
    """``--only``: a distribution installed after the rest was compiled
    (the project's wheel, built meanwhile) gets its .pyc files, the same
    as one pass over everything gives; the others are not touched."""
    site = _tree(tmp_path / 'two-passes')
    later = site / 'pkg' / 'sub' / 'mod.py'
    code = later.read_text()
    later.unlink()
    cache = tmp_path / 'cache'
    assert _run(site, cache).returncode == 1
    first = _pycs(site)
    later.write_text(code)
    listed = tmp_path / 'later.txt'
    listed.write_text('pkg/sub/mod.py\n')
    result = subprocess.run(
        [sys.executable, '-I', str(SCRIPT), f'--only={listed}', str(site),
         RECORDED, str(cache)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith('1 compiled, 0 from the cache')
    both = _pycs(site)
    assert {n: both[n] for n in first} == first
    _same_code(both, expected)
