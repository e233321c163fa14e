"""Unit tests of the strip options on a hand-made virtualenv."""

from __future__ import annotations

import csv
import io
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.venv import strip

SITE = 'lib/python3.11/site-packages'


def compiled(source: Path) -> Path:
    """Byte-compile ``source`` into its __pycache__, as the venv stage does."""
    tag = sys.implementation.cache_tag
    target = source.parent / '__pycache__' / f'{source.stem}.{tag}.pyc'
    py_compile.compile(str(source), cfile=str(target), doraise=True)
    return target


def make_venv(root: Path) -> Path:
    """hello (the project: a package and its tests) and six (a dependency
    with a top-level tests package), each with a RECORD."""
    venv = root / 'venv'
    site = venv / SITE
    files = {
        'hello/__init__.py': 'from hello import core\n',
        'hello/core.py': 'ANSWER = 42\n' + '# padding\n' * 50,
        'hello/tests/__init__.py': '',
        'hello/tests/test_core.py': 'def test():\n    pass\n',
        'six.py': 'X = 1\n',
        'tests/__init__.py': '',
        'tests/test_six.py': 'Y = 2\n',
    }
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
        compiled(site / rel)
    records = {'hello-1.0.dist-info': [r for r in files if r.startswith(
        'hello/')] + ['../../../bin/hello'],
        'six-1.0.dist-info': ['six.py', 'tests/__init__.py',
                              'tests/test_six.py']}
    for dist, rows in records.items():
        (site / dist).mkdir()
        (site / dist / 'RECORD').write_text(''.join(
            f'{r},sha256=x,1\n' for r in rows) + f'{dist}/RECORD,,\n')
    (venv / 'bin').mkdir()
    (venv / 'bin/hello').write_text('#!/opt/hello/bin/python\n')
    return venv


def listing(venv: Path) -> set[str]:
    return {p.relative_to(venv / SITE).as_posix()
            for p in (venv / SITE).rglob('*') if p.is_file()}


def record(venv: Path, dist: str) -> list[list[str]]:
    text = (venv / SITE / dist / 'RECORD').read_text()
    return list(csv.reader(io.StringIO(text)))


def test_tests(tmp_path):
    venv = make_venv(tmp_path)
    done = strip.apply(venv, 'hello', ['tests'])
    files = listing(venv)
    assert not any(f.startswith(('tests/', 'hello/tests/')) for f in files)
    assert 'hello/core.py' in files and 'six.py' in files
    assert [r[0] for r in record(venv, 'six-1.0.dist-info')] == [
        'six.py', 'six-1.0.dist-info/RECORD']
    assert done[0].option == 'tests' and done[0].files == 8
    assert done[0].saved > 0


def test_pycache(tmp_path):
    venv = make_venv(tmp_path)
    strip.apply(venv, 'hello', ['pycache'])
    assert not [p for p in venv.rglob('__pycache__')]
    assert 'hello/core.py' in listing(venv)


def test_sources_leaves_importable_byte_code(tmp_path):
    venv = make_venv(tmp_path)
    done = strip.apply(venv, 'hello', ['sources', 'pycache'])
    files = listing(venv)
    assert {'hello/__init__.pyc', 'hello/core.pyc'} <= files
    assert not any(f.startswith('hello/') and f.endswith('.py')
                   for f in files)
    assert 'six.py' in files  # not the project's
    rows = {r[0]: r for r in record(venv, 'hello-1.0.dist-info')}
    assert 'hello/core.py' not in rows
    size = (venv / SITE / 'hello/core.pyc').stat().st_size
    assert rows['hello/core.pyc'][1].startswith('sha256=')
    assert rows['hello/core.pyc'][2] == str(size)
    assert done[0].option == 'sources' and done[0].files == 4
    result = subprocess.run(
        [sys.executable, '-c', 'import sys; sys.path.insert(0, sys.argv[1]); '
         'import hello; print(hello.core.ANSWER, hello.__file__)',
         str(venv / SITE)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ['42', str(venv / SITE /
                                               'hello/__init__.pyc')]


def test_sources_keeps_a_module_without_byte_code(tmp_path):
    venv = make_venv(tmp_path)
    (venv / SITE / 'hello/__pycache__').joinpath(
        f'core.{sys.implementation.cache_tag}.pyc').unlink()
    strip.apply(venv, 'hello', ['sources'])
    assert 'hello/core.py' in listing(venv)


def test_unknown_option(tmp_path):
    with pytest.raises(errors.BuildError, match='unknown strip option'):
        strip.apply(make_venv(tmp_path), 'hello', ['docs'])


def test_records_are_replaced_never_written_through_a_link(tmp_path):
    """A RECORD may be a hard link into uv's cache: strip writes a new one."""
    venv = make_venv(tmp_path)
    record = venv / SITE / 'six-1.0.dist-info' / 'RECORD'
    cached = tmp_path / 'cached-RECORD'
    os.link(record, cached)
    before = cached.read_bytes(), cached.stat().st_mode
    strip.apply(venv, 'hello', ['tests'])
    assert 'tests/' not in record.read_text()
    assert (cached.read_bytes(), cached.stat().st_mode) == before
    assert record.stat().st_ino != cached.stat().st_ino
