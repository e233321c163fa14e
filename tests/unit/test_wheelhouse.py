"""The wheelhouse: the installers' environment, keeping files, checking
them against a lock.  (A real pip filling it: tests/functional/
test_offline.py; its HTTP cache: test_wheelhouse_pip_cache.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from giftwrap import errors
from giftwrap.venv import wheelhouse
from giftwrap.trust.lockfile import Entry


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_online_without_wheelhouses_changes_nothing(tmp_path):
    assert wheelhouse.environment(tmp_path, base={}) == {}


def test_offline_sees_only_the_wheelhouses(tmp_path):
    env = wheelhouse.environment(tmp_path / 'cache', [tmp_path / 'carried'],
                                 offline=True,
                                 base={'PIP_FIND_LINKS': '/opt/wheels'})
    assert env['PIP_NO_INDEX'] == '1' and env['UV_OFFLINE'] == '1'
    # the operator's own find-links stay first
    assert env['PIP_FIND_LINKS'] == (f'/opt/wheels {tmp_path}/carried '
                                     f'{tmp_path}/cache/wheelhouse')
    assert env['UV_FIND_LINKS'] == (f'{tmp_path}/carried,'
                                    f'{tmp_path}/cache/wheelhouse')


def test_a_carried_wheelhouse_online_keeps_the_index(tmp_path):
    env = wheelhouse.environment(tmp_path, [tmp_path / 'w'], base={})
    assert 'PIP_NO_INDEX' not in env and 'UV_OFFLINE' not in env
    assert str(tmp_path / 'w') in env['PIP_FIND_LINKS']


def _report(path, items):
    path.write_text(json.dumps({'install': [
        {'metadata': {'name': 'x', 'version': '1'},
         'download_info': {'url': url,
                           'archive_info': {'hashes': {'sha256': sha}}}}
        for url, sha in items]}))
    return path


def test_keep_copies_local_files_and_lists_the_rest(tmp_path):
    local = tmp_path / 'six-1.16.0-py2.py3-none-any.whl'
    local.write_bytes(b'wheel')
    remote = ('https://files.example/pbr-7.0.1-py2.py3-none-any.whl', 'a' * 64)
    report = _report(tmp_path / 'r.json', [(local.as_uri(), _sha(b'wheel')),
                                           remote])
    missing = wheelhouse.keep([report], tmp_path / 'cache', tmp_path / 'pip')
    assert missing == [remote]
    kept = tmp_path / 'cache' / 'wheelhouse' / local.name
    assert kept.read_bytes() == b'wheel'


def test_keep_refuses_a_file_with_another_hash(tmp_path):
    local = tmp_path / 'six-1.16.0-py2.py3-none-any.whl'
    local.write_bytes(b'tampered')
    report = _report(tmp_path / 'r.json', [(local.as_uri(), _sha(b'wheel'))])
    assert wheelhouse.keep([report], tmp_path / 'cache', tmp_path / 'pip')
    assert not (tmp_path / 'cache' / 'wheelhouse' / local.name).exists()


def _entry(sha):
    return Entry(giturl='u', gitref='r', commit='c', resolver='x',
                 provenance={}, interpreter={},
                 pins={'six': {'name': 'six', 'version': '1.16.0',
                               'sha256': sha}},
                 build_tools={'setuptools': '80.0'},
                 build_tool_hashes={'setuptools': ('b' * 64,)})


def test_check_against_the_lock(tmp_path):
    house = tmp_path / 'w'
    house.mkdir()
    (house / 'six-1.16.0-py2.py3-none-any.whl').write_bytes(b'wheel')
    locked = wheelhouse.locked([_entry(_sha(b'wheel'))])
    assert locked == {'setuptools==80.0': ('b' * 64,),
                      'six==1.16.0': (_sha(b'wheel'),)}
    assert wheelhouse.check([house], locked, 'giftwrap.lock') == [
        'setuptools==80.0']
    with pytest.raises(errors.BuildError) as info:
        wheelhouse.check([house], wheelhouse.locked([_entry('c' * 64)]),
                         'giftwrap.lock')
    assert 'six-1.16.0-py2.py3-none-any.whl' in info.value.output
    assert 'giftwrap fetch' in info.value.hint


def test_export_copies_the_locked_files(tmp_path):
    house = tmp_path / 'cache' / 'wheelhouse'
    house.mkdir(parents=True)
    (house / 'six-1.16.0-py2.py3-none-any.whl').write_bytes(b'wheel')
    (house / 'six-1.15.0-py2.py3-none-any.whl').write_bytes(b'old')
    entry = dataclasses.replace(_entry(_sha(b'wheel')), build_tools={},
                                build_tool_hashes={})
    copied = wheelhouse.export(tmp_path / 'cache', tmp_path / 'out',
                               wheelhouse.locked([entry]))
    assert [p.name for p in copied] == ['six-1.16.0-py2.py3-none-any.whl']
    with pytest.raises(errors.BuildError, match='no file of setuptools'):
        wheelhouse.export(tmp_path / 'cache', tmp_path / 'out2',
                          wheelhouse.locked([_entry('c' * 64)]))


def test_two_versions_of_one_distribution_download_in_two_runs(tmp_path):
    """keystone's closure runs pbr 7.1.3 and its build used pbr 7.0.1: pip
    refuses both in one download, even with --no-deps."""
    from pathlib import Path

    from giftwrap import testing
    base = 'https://files.example.invalid/packages/'
    lines = [f'{base}pbr-7.0.1-py2.py3-none-any.whl#sha256={"a" * 64}',
             f'{base}six-1.16.0-py2.py3-none-any.whl#sha256={"b" * 64}',
             f'{base}pbr-7.1.3-py2.py3-none-any.whl#sha256={"c" * 64}',
             'setuptools==80.9.0']
    runs = []

    def pip(call):
        argv = call.argv
        wanted = Path(argv[argv.index('-r') + 1]).read_text().split()
        runs.append(wanted)
        scratch = Path(argv[argv.index('-d') + 1])
        for line in wanted:
            name = line.split('#')[0].rsplit('/', 1)[-1]
            if name.endswith('.whl'):
                testing.touch(scratch / name, name.encode())
    dest = tmp_path / 'house'
    dest.mkdir()
    wheelhouse.download(tmp_path / 'python', lines, dest, None,
                        testing.RecordingRunner(respond=pip), {}, tmp_path)
    assert runs == [[lines[0], lines[1], lines[3]], [lines[2]]]
    assert sorted(p.name for p in dest.iterdir()) == [
        'pbr-7.0.1-py2.py3-none-any.whl', 'pbr-7.1.3-py2.py3-none-any.whl',
        'six-1.16.0-py2.py3-none-any.whl']
