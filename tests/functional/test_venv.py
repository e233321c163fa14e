"""The virtualenv stage for real: virtualenv, pip and PyPI, then run it.

One module-scoped build is shared by most assertions (each build costs
seconds).  Its install path is unique under ``/opt`` so that the staged tree
can be copied to exactly that path and run there, as a package would be.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import marshal
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import errors
from giftwrap.venv import interpreter, build as venv
from giftwrap.util.process import Runner
from giftwrap.resolve.base import Pin, Pins
from tests import projectutil

SYSTEM_PYTHON = '/usr/bin/python3'
SITE = 'lib/python3.11/site-packages'


def _system_interpreter():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f'{SYSTEM_PYTHON} is not installed')
    return interpreter.resolve(SYSTEM_PYTHON, Runner())


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory) -> Path:
    """One pip cache for the module, so later builds download less."""
    return tmp_path_factory.mktemp('cache')


class Built:
    """A finished build and the directories it must not mention."""

    def __init__(self, base: Path, install_path: PurePosixPath, cache: Path):
        self.base = base
        self.install_path = install_path
        self.cache = cache
        self.src = projectutil.write_sample_project(
            base / 'src', requirements=['six'], extras={'idn': ['idna']})
        self.tree, self.report = venv.build(
            interpreter=_system_interpreter(), stage_root=base / 'root',
            install_path=install_path, source_dir=self.src,
            pins=Pins.of([Pin('six', '1.16.0')]), extras=('idn',),
            include_config=True, work_dir=base / 'work', cache_dir=cache,
            runner=Runner(base / 'build.log'), forbidden=(base, cache))

    @property
    def env(self) -> Path:
        return self.tree.venv

    @property
    def build_paths(self) -> list[bytes]:
        return [os.fsencode(p) for p in
                (self.base / 'root', self.base / 'work', self.src, self.cache)]


@pytest.fixture(scope='module')
def built(tmp_path_factory, cache_dir) -> Built:
    install = PurePosixPath(f'/opt/giftwrap-test-{uuid.uuid4().hex[:12]}'
                            '/openstack/2025.1-acme1/hello-app')
    return Built(tmp_path_factory.mktemp('hello'), install, cache_dir)


@pytest.fixture
def installed(built) -> Path:
    """The staged tree copied to its real install path (removed after)."""
    top = Path('/opt') / built.install_path.parts[2]
    if not os.access('/opt', os.W_OK):
        pytest.skip('/opt is not writable (the test must run as root)')
    target = Path(built.install_path)
    target.parent.mkdir(parents=True)
    try:
        Runner().run(['cp', '-a', '--', str(built.env), str(target)])
        yield target
    finally:
        shutil.rmtree(top)


def test_no_file_mentions_a_build_path(built):
    for dirpath, _, filenames in os.walk(built.base / 'root'):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                data = os.fsencode(os.readlink(path))
            else:
                data = path.read_bytes()
            for needle in built.build_paths:
                assert needle not in data, f'{path} mentions {needle}'


def test_scripts_and_pyvenv_cfg_name_the_install_path(built):
    shebang = f'#!{built.install_path}/bin/python\n'.encode()
    for name in ('hello-app', 'pip'):
        assert (built.env / 'bin' / name).read_bytes().startswith(shebang)
    cfg = (built.env / 'pyvenv.cfg').read_text()
    assert f'command = virtualenv -p /usr/bin/python3.11 {built.install_path}' \
        in cfg.splitlines()
    assert os.readlink(built.env / 'bin' / 'python').startswith('/usr/bin/')


def test_bytecode_records_installed_paths(built):
    pyc = built.env / SITE / '__pycache__' / 'six.cpython-311.pyc'
    with open(pyc, 'rb') as stream:
        stream.read(16)
        code = marshal.load(stream)
    assert code.co_filename == f'{built.install_path}/{SITE}/six.py'


def test_record_hashes_match_files(built):
    site = built.env / SITE
    checked = 0
    for record in site.glob('*.dist-info/RECORD'):
        for row in csv.reader(record.read_text().splitlines()):
            if len(row) < 2 or not row[1]:
                continue
            data = (site / row[0]).read_bytes()
            digest = base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).rstrip(b'=').decode()
            assert row[1] == f'sha256={digest}', row[0]
            checked += 1
    assert checked > 100
    assert not list(site.glob('hello_app-*.dist-info/direct_url.json'))


def test_config_files_are_copied(built):
    assert built.tree.config_files == (
        built.install_path / 'etc' / 'hello' / 'hello.conf',)
    assert (built.env / 'etc' / 'hello' / 'hello.conf').is_file()


def test_installed_versions_follow_the_pins(built):
    installed = built.report.installed
    assert installed['six'] == '1.16.0'  # PyPI has newer: the pin won
    assert installed['hello-app'] == '1.2.3'
    assert dict(built.tree.installed) == dict(installed)
    assert dict(built.report.unpinned) == {'idna': installed['idna']}
    assert len(built.report.hashes['six']) == 64
    assert built.tree.native is False


def test_runs_at_its_install_path(built, installed):
    runner = Runner()
    out = runner.run([str(installed / 'bin' / 'hello-app')]).output
    assert f'{projectutil.GREETING} six {installed}' in out
    out = runner.run([str(installed / 'bin' / 'python'), '-c',
                      'import six, idna; print(six.__version__)']).output
    assert out.strip() == '1.16.0'
    runner.run([str(installed / 'bin' / 'python'), '-m', 'pip', 'check'])


def test_the_byte_code_is_what_python_loads(built, installed):
    """The .pyc files (compiled once per source, then given the installed
    path) are valid where installed: Python loads them as they are, neither
    compiling the source again nor rewriting them."""
    pyc = installed / SITE / '__pycache__' / 'six.cpython-311.pyc'
    before = pyc.read_bytes()
    result = Runner().run([str(installed / 'bin' / 'python'), '-v', '-c',
                           'import six; print(six.__file__)'])
    assert f"code object from '{pyc}'" in result.output
    assert f'{installed}/{SITE}/six.py' in result.output
    assert pyc.read_bytes() == before


def _uv_build(base: Path, install_path: PurePosixPath, cache: Path):
    src = projectutil.write_sample_project(base / 'src')
    tree, _ = venv.build(
        interpreter=_system_interpreter(), stage_root=base / 'root',
        install_path=install_path, source_dir=src,
        pins=Pins.of([Pin('six', '1.16.0')]), work_dir=base / 'work',
        cache_dir=cache, runner=Runner(base / 'build.log'), installer='uv')
    return tree.venv / 'bin' / 'hello-app'


def test_the_staging_paths_length_does_not_change_a_script(
        tmp_path, cache_dir):
    """uv (as pip) writes a /bin/sh script instead of a shebang for an
    interpreter path over 124 bytes: a long work directory gets one, a
    short one a shebang.  Relocated, both are the install path's script;
    and an install path too long for a shebang gets the /bin/sh form,
    which runs."""
    install = PurePosixPath('/opt/openstack/2025.2-acme1/hello-app')
    short = _uv_build(tmp_path / 's', install, cache_dir)
    deep = tmp_path / ('d' * 100)
    long = _uv_build(deep, install, cache_dir)
    assert len(str(deep / 'root' / install.relative_to('/') / 'bin'
                   / 'python')) > 124  # uv wrote the /bin/sh form
    assert short.read_bytes() == long.read_bytes()
    assert long.read_bytes().startswith(f'#!{install}/bin/python\n'.encode())

    if not os.access('/opt', os.W_OK):
        pytest.skip('/opt is not writable (the test must run as root)')
    top = Path(f'/opt/giftwrap-test-{uuid.uuid4().hex[:12]}')
    far = PurePosixPath(top / ('l' * 110) / 'hello-app')
    script = _uv_build(tmp_path / 'f', far, cache_dir)
    head = "#!/bin/sh\n'''exec' '" + f'{far}/bin/python\' "$0" "$@"\n'
    assert script.read_bytes().startswith(head.encode())
    try:
        Path(far).parent.mkdir(parents=True)
        Runner().run(['cp', '-a', '--', str(script.parent.parent), str(far)])
        out = Runner().run([str(Path(far) / 'bin' / 'hello-app')]).output
        assert f'{projectutil.GREETING} six {far}' in out
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _build_failing(tmp_path, cache_dir, pins, requirements, **kwargs):
    src = projectutil.write_sample_project(tmp_path / 'src',
                                           requirements=requirements)
    with pytest.raises(errors.BuildError) as info:
        venv.build(interpreter=_system_interpreter(),
                   stage_root=tmp_path / 'root',
                   install_path=PurePosixPath('/opt/openstack/x/hello-app'),
                   source_dir=src, pins=pins, work_dir=tmp_path / 'work',
                   cache_dir=cache_dir, runner=Runner(), **kwargs)
    return info.value


def test_unsatisfiable_pin_fails_with_pips_reason(tmp_path, cache_dir):
    error = _build_failing(tmp_path, cache_dir, Pins.of([Pin('six', '0.0.1')]),
                           ['six'])
    assert 'pip could not install' in error.what
    assert 'six' in error.output and '0.0.1' in error.output


def test_broken_requirements_fail_pip_check(tmp_path, cache_dir):
    # pip installs a postinstall dependency even when it breaks what is
    # installed already; only pip check notices.
    error = _build_failing(tmp_path, cache_dir, Pins.of([]), ['six>=1.16.0'],
                           postinstall_dependencies=('six==1.15.0',))
    assert 'pip check' in error.what
    assert 'six' in error.output


@pytest.mark.skipif(not projectutil.can_build_c_extension(),
                    reason='no C compiler or Python.h for python3.11')
def test_compiled_extension_is_native_and_clean(tmp_path, cache_dir):
    src = projectutil.write_sample_project(
        tmp_path / 'src', pbr=True, c_extension=True, requirements=['six'])
    tree, report = venv.build(
        interpreter=_system_interpreter(), stage_root=tmp_path / 'root',
        install_path=PurePosixPath('/opt/openstack/x/hello-app'),
        source_dir=src, pins=Pins.of([Pin('six', '1.16.0')]),
        work_dir=tmp_path / 'work', cache_dir=cache_dir, runner=Runner(),
        forbidden=(tmp_path,))
    assert tree.native is True
    assert list(tree.venv.glob(f'{SITE}/hello_app/_speedups.*.so'))
    assert report.installed['hello-app'] == '1.2.3'
