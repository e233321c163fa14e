"""giftwrap/venv/bytecode.py: the same .pyc files as compileall, from a cache."""

import compileall
import os
import py_compile
import subprocess
import sys
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


def _run(site: Path, cache: Path | None):
    argv = [sys.executable, '-I', str(SCRIPT), str(site), RECORDED]
    return subprocess.run(argv + ([str(cache)] if cache else []),
                          capture_output=True, text=True)


@pytest.fixture
def expected(tmp_path):
    site = _tree(tmp_path / 'reference')
    compileall.compile_dir(
        str(site), quiet=2, force=True, ddir=RECORDED,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    return _pycs(site)


def test_same_bytes_as_compileall_with_and_without_cache(tmp_path, expected):
    cache = tmp_path / 'cache'
    for name, use in (('plain', None), ('fill', cache), ('hit', cache)):
        site = _tree(tmp_path / name)
        result = _run(site, use)
        assert result.returncode == 1  # py2.py does not compile
        assert 'py2.py' in result.stdout
        assert _pycs(site) == expected, name
    # the module that does not compile is tried again, and fails again
    assert '1 compiled, 3 from the cache' in result.stdout


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


def test_another_recorded_path_is_another_entry(tmp_path):
    cache = tmp_path / 'cache'
    site = _tree(tmp_path / 'one')
    _run(site, cache)
    other = _tree(tmp_path / 'two')
    result = subprocess.run(
        [sys.executable, '-I', str(SCRIPT), str(other), '/elsewhere',
         str(cache)], capture_output=True, text=True)
    assert '4 compiled, 0 from the cache' in result.stdout
    pyc = other / 'pkg' / '__pycache__'
    assert b'/elsewhere/pkg/__init__.py' in next(pyc.iterdir()).read_bytes()
    assert not any(p.name.startswith('.tmp') for p in cache.rglob('*'))
    assert os.listdir(cache)
