"""uv links the closure's files from its cache; nothing writes through them.

With a cache, uv installs with ``--link-mode hardlink``: a staged file is
then the very inode of a file in ``cache_dir/uv/archive-v*`` (the unpacked
wheels), and any step that wrote, chmod-ed or touched it in place would
change the cache (and every later build).  Real builds (uv, PyPI,
dpkg-deb and nfpm-rpm) of a project whose wheel also installs
``etc/hello/hello.conf`` (a data file, so linked from uv's cache) over
which ``include_config`` copies the checkout's own, with every strip
option.

The unpacked wheels are what is checked: the rest of ``cache_dir/uv`` is
uv's own (index answers it revalidates, the project's wheel, built again
from each fresh checkout), rewritten by uv on every run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import subprocess
import tempfile
import textwrap
from pathlib import Path, PurePosixPath

import pytest

from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Pin, Pins
from giftwrap.venv import interpreter, build as venv
from tests import gitutil, projectutil
from tests.packageutil import need

SITE = 'lib/python3.11/site-packages'
REQUIREMENTS = 'six==1.16.0\npbr==6.1.1\n'
#: what the wheel installs as etc/hello/hello.conf; the checkout's etc/
#: holds projectutil.DEFAULT_ETC, which include_config copies over it
WHEEL_CONF = '# from the wheel\n'
CONF = projectutil.DEFAULT_ETC['hello/hello.conf']
#: a time long before any commit a test makes (2001)
OLD = 1_000_000_000
# Written by uv or giftwrap for this install, not linked from the cache.
_WRITTEN = ('RECORD', 'INSTALLER', 'REQUESTED', 'direct_url.json')

pytestmark = pytest.mark.skipif(find_tool('uv') is None,
                                reason='uv is not installed (pip install uv)')


def _repo(path: Path) -> None:
    """hello-app needing six and pbr (whose wheel ships ``pbr/tests``),
    its wheel installing ``etc/hello/hello.conf`` as a data file."""
    staging = path.with_name(path.name + '.files')
    projectutil.write_sample_project(staging, requirements=['six', 'pbr'])
    with open(staging / 'setup.cfg', 'a') as handle:
        handle.write('\n[options.data_files]\n'
                     'etc/hello = share/hello.conf\n')
    (staging / 'share').mkdir()
    (staging / 'share' / 'hello.conf').write_text(WHEEL_CONF)
    (staging / 'requirements.txt').write_text(REQUIREMENTS)
    gitutil.make_repo(path, {
        p.relative_to(staging).as_posix(): p.read_bytes()
        for p in sorted(staging.rglob('*')) if p.is_file()})


@pytest.fixture(scope='module')
def manifest(tmp_path_factory) -> Path:
    need('nfpm', 'dpkg-deb')
    if not os.access('/usr/bin/python3', os.X_OK):
        pytest.skip('/usr/bin/python3 is not installed')
    top = tmp_path_factory.mktemp('uv-hardlinks')
    _repo(top / 'hello-app')
    path = top / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [dpkg-deb, nfpm-rpm]
          resolver: requirements-file
          installer: uv
          include_config: true
          strip: [tests, sources, pycache]
        projects:
          - name: hello-app
            giturl: {top / 'hello-app'}
            python: /usr/bin/python3
        """))
    return path


def build(manifest: Path, top: Path, name: str, cache: Path, *extra: str):
    """``giftwrap build``, keeping its work directory ``top/work-NAME``."""
    argv = ['giftwrap', 'build', '-m', str(manifest), '-o',
            str(top / f'out-{name}'), '--cache-dir', str(cache),
            '--work-dir', str(top / f'work-{name}'), '--keep-work',
            '-f', 'json', *extra]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


@pytest.fixture(scope='module')
def first(manifest):
    """(top, cache) after one build filled the cache.

    A short ``top``: uv and pip write a ``/bin/sh`` trampoline instead of a
    shebang into a script whose staging path is too long for one, and
    ``--check-reproducible``'s second build stages below the cache
    directory, deeper than the first (a pytest-xdist worker's temporary
    directory is long enough for that).
    """
    with tempfile.TemporaryDirectory(prefix='gw-uv-') as name:
        top = Path(name)
        cache = top / 'cache'
        rows = build(manifest, top, 'first', cache)
        assert {r['Status'] for r in rows} == {'built'}, rows
        yield top, cache


def snapshot(cache: Path) -> dict[str, tuple]:
    """Every file of uv's unpacked wheels: path -> (sha256, mode, mtime)."""
    found = {}
    for path in sorted((cache / 'uv').glob('archive-v*/**/*')):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            found[path.relative_to(cache).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                st.st_mode, st.st_mtime_ns)
    return found


def unchanged(before: dict[str, tuple], after: dict[str, tuple]) -> None:
    """Every file of ``before`` is in ``after`` as it was; whatever is new
    is an entry uv unpacked (the project's wheel, built again)."""
    assert sorted(p for p in before if after.get(p) != before[p]) == []
    old = {p.split('/')[2] for p in before}  # uv/archive-v0/ENTRY/...
    assert not [p for p in after.keys() - before.keys()
                if p.split('/')[2] in old]


def intact(cache: Path) -> None:
    """Every unpacked wheel's files have the hashes of its RECORD: the
    entries made during a build too (the project's) were not written."""
    records = sorted((cache / 'uv').glob('archive-v*/*/*.dist-info/RECORD'))
    assert records
    for record in records:
        top = record.parent.parent
        for row in csv.reader(record.read_text().splitlines()):
            if not row or not row[1]:
                continue
            digest = base64.urlsafe_b64encode(hashlib.sha256(
                (top / row[0]).read_bytes()).digest()).rstrip(b'=').decode()
            assert row[1] == f'sha256={digest}', top / row[0]


def inodes(directory: Path) -> set[tuple[int, int]]:
    return {(st.st_dev, st.st_ino) for st in (
        p.stat() for p in directory.rglob('*')
        if p.is_file() and not p.is_symlink())}


def staged_venv(work: Path) -> Path:
    """The staged virtualenv a kept work directory holds."""
    return work / 'hello-app' / 'root' / 'opt' / 'openstack' / 'hello-app'


def test_staged_files_are_links_into_uv_cache(first):
    top, cache = first
    env = staged_venv(top / 'work-first')
    cached = inodes(cache / 'uv')
    # what uv installed (virtualenv copied pip and setuptools in)
    linked = [p for p in (env / SITE).rglob('*')
              if p.is_file() and not p.is_symlink() and p.suffix != '.pyc'
              and p.name not in _WRITTEN
              and p.relative_to(env / SITE).parts[0].startswith(
                  ('six', 'pbr'))]
    assert any(p.name == 'six.py' for p in linked)
    assert any('pbr' in p.parts for p in linked)
    for path in linked:
        st = path.stat()
        assert st.st_nlink > 1, path
        assert (st.st_dev, st.st_ino) in cached, path
    assert not (env / SITE / 'pbr' / 'tests').exists()  # stripped
    # include_config's copy replaced the data file uv linked there
    # (dpkg-deb's shadow tree in the kept work directory links it too)
    conf = env / 'etc' / 'hello' / 'hello.conf'
    assert (conf.stat().st_dev, conf.stat().st_ino) not in cached
    assert conf.read_text() == CONF


def test_second_build_leaves_uv_cache_as_it_was(manifest, first):
    top, cache = first
    before = snapshot(cache)
    assert any('/six.py' in p for p in before)
    rows = build(manifest, top, 'second', cache)
    assert {r['Status'] for r in rows} == {'built'}, rows
    unchanged(before, snapshot(cache))
    intact(cache)
    wheel_conf = list((cache / 'uv').glob('archive-v*/*/hello_app-*.data/'
                                          'data/etc/hello/hello.conf'))
    assert wheel_conf and {p.read_text() for p in wheel_conf} == {WHEEL_CONF}
    env = staged_venv(top / 'work-second')
    assert (env / 'etc' / 'hello' / 'hello.conf').read_text() == CONF


def test_check_reproducible_with_links(manifest, first):
    top, cache = first
    before = snapshot(cache)
    rows = build(manifest, top, 'reproducible', cache,
                 '--check-reproducible')
    assert {r['Status'] for r in rows} == {'reproducible'}, rows
    unchanged(before, snapshot(cache))
    intact(cache)


def test_packages_do_not_depend_on_the_cache_age(manifest, first):
    """Linked files keep the cache's times: a cache filled long before the
    commit still gives the packages a fresh cache gives (the first build)."""
    top, cache = first
    for path in (cache / 'uv').glob('archive-v*/**/*'):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (OLD, OLD))
    rows = build(manifest, top, 'old', cache)
    assert {r['Status'] for r in rows} == {'built'}, rows
    names = sorted(p.name for p in (top / 'out-first').iterdir()
                   if p.suffix in ('.deb', '.rpm', '.json')
                   and not p.name.startswith('.'))
    assert len(names) == 4  # two packages, two SBOMs
    for name in names:
        assert (top / 'out-old' / name).read_bytes() == \
            (top / 'out-first' / name).read_bytes(), name


def test_cache_on_another_file_system_copies(tmp_path):
    """uv copies by itself where links fail (EXDEV): the build works."""
    if not os.path.isdir('/dev/shm') or \
            os.stat('/dev/shm').st_dev == os.stat(tmp_path).st_dev:
        pytest.skip('no second file system (/dev/shm) to hold the cache')
    source = projectutil.write_sample_project(tmp_path / 'src')
    with tempfile.TemporaryDirectory(dir='/dev/shm') as cache:
        tree, report = venv.build(
            interpreter=interpreter.resolve('/usr/bin/python3', Runner()),
            stage_root=tmp_path / 'root',
            install_path=PurePosixPath('/opt/giftwrap-uv-exdev/hello-app'),
            source_dir=source, pins=Pins.of([Pin('six', '1.16.0')]),
            work_dir=tmp_path / 'work', cache_dir=Path(cache),
            runner=Runner(tmp_path / 'build.log'), installer='uv',
            forbidden=(tmp_path, Path(cache)))
        six = tree.venv / SITE / 'six.py'
        assert six.stat().st_nlink == 1
        assert dict(report.installed)['six'] == '1.16.0'
        assert any((Path(cache) / 'uv').rglob('six.py'))
