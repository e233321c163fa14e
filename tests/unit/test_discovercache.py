"""The cached resolution of the install phases: its key, its entries.

The key must change with everything that decides uv's resolution and stay
the same for a new commit that changes only code; an entry is untrusted
input, ignored (never a traceback) when it is not what giftwrap wrote.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import pytest

from giftwrap.util.process import Runner
from giftwrap.venv import discovercache
from giftwrap.venv.interpreter import Interpreter

PY311 = Interpreter(Path('/usr/bin/python3.11'), '3.11.2',
                    soabi='cpython-311-x86_64-linux-gnu',
                    platform_machine='x86_64')
PBR_FILES = {
    'setup.cfg': '[metadata]\nname = hello-app\n',
    'setup.py': 'import setuptools\nsetuptools.setup(pbr=True)\n',
    'pyproject.toml': '[build-system]\nrequires = ["pbr"]\n',
    'requirements.txt': 'six\n',
    'hello_app/__init__.py': '',
}


def _checkout(path: Path, files=PBR_FILES, **changed: str) -> Path:
    for name, text in {**files, **changed}.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _key(tmp_path: Path, source: Path | None = None, **changed):
    source = source or tmp_path / 'src'
    inputs = dict(
        installer='uv 0.9.1', interpreter=PY311,
        seeded={'pip': '25.3', 'setuptools': '80.9.0'},
        constraints='six===1.16.0\n',
        phases=[('oslo.config',), (f'{source}[extra]', 'idna>=3'), ()],
        source_dir=source, env={'HOME': str(tmp_path / 'home')},
        work_dir=tmp_path / 'work')
    inputs.update(changed)
    return discovercache.key(**inputs)


@pytest.fixture
def source(tmp_path) -> Path:
    return _checkout(tmp_path / 'src')


def test_the_same_inputs_give_the_same_key(tmp_path, source):
    assert _key(tmp_path) == _key(tmp_path) is not None


def test_a_commit_changing_only_code_keeps_the_key(tmp_path, source):
    before = _key(tmp_path)
    _checkout(source, **{'hello_app/__init__.py': 'X = 1\n',
                         'hello_app/new.py': '', 'README.rst': 'more'})
    assert _key(tmp_path) == before


def test_another_checkout_path_with_the_same_files_keeps_the_key(tmp_path,
                                                                 source):
    # each build checks the project out in its own work directory
    other = _checkout(tmp_path / 'elsewhere' / 'hello')
    assert _key(tmp_path, source=other) == _key(tmp_path)


@pytest.mark.parametrize('name, text', [
    ('requirements.txt', 'six\nidna\n'),
    ('setup.cfg', '[metadata]\nname = hello-app\n[extras]\nx = idna\n'),
    ('setup.py', 'import setuptools\nsetuptools.setup()\n'),
    ('pyproject.toml', '[build-system]\nrequires = ["hatchling"]\n'),
    ('requirements-py3.txt', 'idna\n'),
    ('requirements/base.txt', 'idna\n'),
])
def test_a_file_declaring_dependencies_changes_the_key(tmp_path, source,
                                                       name, text):
    before = _key(tmp_path)
    _checkout(source, **{name: text})
    assert _key(tmp_path) != before


def test_a_removed_declaring_file_changes_the_key(tmp_path, source):
    before = _key(tmp_path)
    (source / 'requirements.txt').unlink()
    assert _key(tmp_path) != before


def test_setuptools_dynamic_dependency_files_count(tmp_path, source):
    _checkout(source, **{
        'pyproject.toml': '[tool.setuptools.dynamic]\n'
                          'dependencies = {file = ["deps/runtime.txt"]}\n'
                          'optional-dependencies.x = {file = "deps/x.txt"}\n',
        'deps/runtime.txt': 'six\n', 'deps/x.txt': 'idna\n'})
    before = _key(tmp_path)
    _checkout(source, {}, **{'deps/runtime.txt': 'six\nidna\n'})
    middle = _key(tmp_path)
    _checkout(source, {}, **{'deps/x.txt': 'idna>=3\n'})
    assert len({before, middle, _key(tmp_path)}) == 3


@pytest.mark.parametrize('changed', [
    {'installer': 'uv 0.9.2'},
    {'interpreter': dataclasses.replace(PY311, version='3.11.9')},
    {'interpreter': dataclasses.replace(PY311, path=Path('/opt/py/bin/python3.11'))},
    {'interpreter': dataclasses.replace(PY311, platform_machine='aarch64')},
    {'seeded': {'pip': '25.3', 'setuptools': '80.9.1'}},
    {'constraints': 'six===1.17.0\n'},
    {'phases': [('oslo.config',), ('{source}[extra]', 'idna>=3'),
                ('requests',)]},
    {'phases': [('oslo.config',), ('{source}', 'idna>=3'), ()]},
    {'phases': [(), ('{source}[extra]', 'idna>=3', 'oslo.config'), ()]},
    {'env': {'HOME': '{home}', 'UV_INDEX_URL': 'https://mirror.example/simple'}},
    {'env': {'HOME': '{home}', 'UV_EXTRA_INDEX_URL': 'https://x.example/'}},
    {'env': {'HOME': '{home}', 'UV_DEFAULT_INDEX': 'https://x.example/'}},
    {'env': {'HOME': '{home}', 'UV_INDEX': 'https://x.example/'}},
    {'env': {'HOME': '{home}', 'PIP_INDEX_URL': 'https://x.example/'}},
    {'env': {'HOME': '{home}', 'UV_FIND_LINKS': '/wheelhouse'}},
    {'env': {'HOME': '{home}', 'UV_OFFLINE': '1'}},
    {'env': {'HOME': '{home}', 'UV_PRERELEASE': 'allow'}},
])
def test_each_input_changes_the_key(tmp_path, source, changed):
    def fill(value):
        if isinstance(value, str):
            return value.format(source=source, home=tmp_path / 'home')
        if isinstance(value, (list, tuple)):
            return type(value)(fill(v) for v in value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value
    assert _key(tmp_path, **fill(changed)) != _key(tmp_path)


def test_what_giftwrap_sets_for_uv_and_other_variables_do_not_count(
        tmp_path, source):
    env = {'HOME': str(tmp_path / 'home'), 'UV_CACHE_DIR': '/c/uv',
           'TMPDIR': '/tmp/x', 'SOURCE_DATE_EPOCH': '1'}
    assert _key(tmp_path, env=env) == _key(tmp_path)


def test_uv_configuration_files_change_the_key(tmp_path, source):
    before = _key(tmp_path)
    user = tmp_path / 'home' / '.config' / 'uv' / 'uv.toml'
    user.parent.mkdir(parents=True)
    user.write_text('index-url = "https://mirror.example/simple"\n')
    with_user = _key(tmp_path)
    above = tmp_path / 'uv.toml'  # above the work directory: uv reads it
    above.write_text('[pip]\nprerelease = "allow"\n')
    with_above = _key(tmp_path)
    named = tmp_path / 'named.toml'
    named.write_text('offline = true\n')
    with_named = _key(tmp_path, env={'HOME': str(tmp_path / 'home'),
                                     'UV_CONFIG_FILE': str(named)})
    assert len({before, with_user, with_above, with_named}) == 4


@pytest.mark.parametrize('spec', [
    '/srv/other-checkout', './local', 'file:///srv/x.whl',
    'six @ https://example.org/six-1.16.0-py3-none-any.whl',
    'oslo.config @ git+https://opendev.org/openstack/oslo.config@master',
    '--index-url=https://evil.example/',
])
def test_a_spec_that_is_not_a_plain_requirement_is_not_cached(
        tmp_path, source, spec):
    assert _key(tmp_path, phases=[(spec,), (str(source),), ()]) is None


def _lock(project: str) -> str:
    return ('lock-version = "1.0"\ncreated-by = "uv"\n\n'
            f'[[packages]]\nname = "hello-app"\n'
            f'directory = {{ path = {json.dumps(project)} }}\n\n'
            '[[packages]]\nname = "six"\nversion = "1.16.0"\n'
            'wheels = [{ url = "https://files.example/six-1.16.0-py2.py3-'
            'none-any.whl", hashes = { sha256 = "' + 'a' * 64 + '" } }]\n')


def test_the_checkout_is_a_placeholder_in_the_entry(tmp_path):
    entry = discovercache.to_entry(_lock('/w/one/src/hello'),
                                   Path('/w/one/src/hello'), Path('/w/one'))
    assert '/w/one' not in entry
    assert discovercache.PLACEHOLDER in entry
    lock = discovercache.from_entry(entry, Path('/w/two/src/hello'))
    assert lock == _lock('/w/two/src/hello')


def test_a_checkout_path_that_needs_escaping_round_trips(tmp_path):
    odd = Path('/w/a "quoted" \\ path/hello')
    entry = discovercache.to_entry(_lock(str(odd)), odd, Path('/w'))
    assert discovercache.from_entry(entry, odd) == _lock(str(odd))


def test_write_then_read_for_another_checkout(tmp_path):
    path = tmp_path / 'cache' / 'discover' / 'k.json'
    assert discovercache.write(path, _lock(str(tmp_path / 'one')),
                               tmp_path / 'one', tmp_path)
    assert discovercache.read(path, tmp_path / 'two') == \
        _lock(str(tmp_path / 'two'))
    assert not list(path.parent.glob('.*'))  # no staging file left


@pytest.mark.parametrize('lock', [
    _lock('/w/one/src/hello') + '\n[[packages]]\nname = "lib"\n'
    'directory = { path = "/w/one/lib" }\n',  # another local directory
    _lock('/w/one/src/hello').replace('files.example',
                                      'files.example/w/one/src/hello'),
    'lock-version = "1.0"\n',  # no project
    'not = [toml',
])
def test_a_resolution_the_checkout_is_not_alone_in_is_not_kept(tmp_path,
                                                               lock):
    path = tmp_path / 'k.json'
    assert not discovercache.write(path, lock, Path('/w/one/src/hello'),
                                   Path('/w/one'))
    assert not path.exists()


def _entry(path: Path, **changed) -> Path:
    data = {'format': discovercache._FORMAT, 'resolved_at': 1_000_000.0,
            'lock': _lock(discovercache.PLACEHOLDER)}
    data.update(changed)
    path.write_text(json.dumps(data))
    return path


def _with_lock(lock) -> str:
    return json.dumps({'format': discovercache._FORMAT,
                       'resolved_at': 1_000_000.0, 'lock': lock})


KEPT = _lock(discovercache.PLACEHOLDER)


@pytest.mark.parametrize('content', [
    '', '{', 'null', '[]', '{"format": 2}',
    # an older format (its resolution may have followed [tool.uv.sources])
    json.dumps({'format': 1, 'resolved_at': 1_000_000.0, 'lock': KEPT}),
    json.dumps({'format': 3, 'resolved_at': 1_000_000.0, 'lock': KEPT}),
    json.dumps({'format': 2, 'resolved_at': 'soon', 'lock': KEPT}),
    _with_lock(7),
    _with_lock(_lock('/somewhere/else')),
    _with_lock('packages = 3\n'),
    _with_lock(KEPT[:-40]),
    _with_lock(KEPT + '[[packages]]\nversion = "1"\n'),
    _with_lock(KEPT + '[[packages]]\nname = "x"\nversion = 1\n'),
    _with_lock(KEPT.replace('directory = {', 'directory = "x"\nx = {')),
    _with_lock(KEPT * 2),
])
def test_a_corrupt_entry_is_ignored(tmp_path, caplog, content):
    path = tmp_path / 'k.json'
    path.write_text(content)
    with caplog.at_level(logging.DEBUG, logger='giftwrap.venv.discovercache'):
        assert discovercache.read(path, tmp_path / 'src',
                                  now=1_000_001.0) is None
    assert 'ignoring the unreadable' in caplog.text


def test_an_unreadable_entry_is_ignored(tmp_path):
    path = _entry(tmp_path / 'k.json')
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads it all the same
        path.unlink()
        path.mkdir()  # reading a directory fails for root too
    assert discovercache.read(path, tmp_path / 'src',
                              now=1_000_001.0) is None


def test_a_missing_entry_is_a_miss(tmp_path):
    assert discovercache.read(tmp_path / 'none.json', tmp_path) is None


def test_an_entry_expires_unless_offline(tmp_path):
    path = _entry(tmp_path / 'k.json')
    young = 1_000_000.0 + discovercache.EXPIRY - 1
    old = 1_000_000.0 + discovercache.EXPIRY
    assert discovercache.read(path, Path('/src'), now=young) == _lock('/src')
    assert discovercache.read(path, Path('/src'), now=old) is None
    assert discovercache.read(path, Path('/src'), now=old + 30 * 86400,
                              offline=True) == _lock('/src')
    # made "in the future": another clock
    assert discovercache.read(path, Path('/src'), now=999_000.0) is None


def test_the_uv_version_is_asked_once_a_process(tmp_path):
    calls = tmp_path / 'calls'
    uv = tmp_path / 'uv'
    uv.write_text(f'#!/bin/sh\necho x >> {calls}\necho uv 9.9.9\n')
    uv.chmod(0o755)
    runner = Runner()
    assert discovercache.uv_version(str(uv), runner, {}) == 'uv 9.9.9'
    assert discovercache.uv_version(str(uv), runner, {}) == 'uv 9.9.9'
    assert calls.read_text() == 'x\n'
    # another uv (upgraded in place) is asked again
    uv.write_text(f'#!/bin/sh\necho x >> {calls}\necho uv 10.0.0\n')
    assert discovercache.uv_version(str(uv), runner, {}) == 'uv 10.0.0'


def _context(tmp_path: Path):
    from giftwrap import testing
    from giftwrap.venv import buildreqs
    (tmp_path / 'work').mkdir(exist_ok=True)
    return buildreqs, buildreqs.Context(
        tmp_path / 'venv', 'uv', PY311, tmp_path / 'work', tmp_path / 'cache',
        testing.RecordingRunner(), {})


def test_a_cached_resolution_is_found_as_uv_found_it(tmp_path):
    buildreqs, ctx = _context(tmp_path)
    entry = discovercache.path(ctx.cache_dir, 'k')
    source = tmp_path / 'two' / 'hello'
    discovercache.write(entry, _lock(str(tmp_path / 'one')),
                        tmp_path / 'one', ctx.work_dir)
    found, lock = buildreqs._cached_discover(ctx, entry, source, ['six'])
    assert [(f.name, f.directory) for f in found] == [
        ('hello-app', source), ('six', None)]
    assert found[1].hashes == ('a' * 64,)
    assert lock == buildreqs._lock_file(ctx, 'discover')
    assert lock.read_text() == _lock(str(source))
    assert ctx.runner.calls == []  # no uv run


def test_a_cached_resolution_uv_could_not_have_made_is_ignored(tmp_path):
    buildreqs, ctx = _context(tmp_path)
    entry = discovercache.path(ctx.cache_dir, 'k')
    # an sdist without its URL, and no wheel
    lock = _lock(str(tmp_path / 'one')) + \
        '\n[[packages]]\nname = "x"\nversion = "1"\nsdist = { size = 3 }\n'
    discovercache.write(entry, lock, tmp_path / 'one', ctx.work_dir)
    assert buildreqs._cached_discover(ctx, entry, tmp_path / 'one',
                                      ['six']) is None


def test_specs_are_checked_before_a_cached_resolution_serves(tmp_path):
    from giftwrap import errors
    buildreqs, ctx = _context(tmp_path)
    entry = discovercache.path(ctx.cache_dir, 'k')
    discovercache.write(entry, _lock(str(tmp_path / 'one')),
                        tmp_path / 'one', ctx.work_dir)
    with pytest.raises(errors.BuildError, match='is not a requirement'):
        buildreqs._cached_discover(ctx, entry, tmp_path / 'one',
                                   ['--index-url=https://evil.example/'])
