"""giftwrap.fetch.git: refs, versions, errors and the git CLI check.

Repositories here are tiny local ones made with dulwich (tests/gitutil.py);
fetching through transports is in tests/functional/test_git_source.py.
"""

from __future__ import annotations

import datetime
import socket

from dulwich import errors as dulwich_errors
import pytest
import urllib3.exceptions

from giftwrap import errors
from giftwrap.util.process import find_tool
from giftwrap.util.process import Runner
from giftwrap.resolve.base import Checkout
from giftwrap.fetch import git
from tests import gitutil

PBR_SETUP_PY = 'import setuptools\nsetuptools.setup(pbr=True)\n'


def _checkout(path):
    return Checkout(path=path, url='https://example.org/demo', ref='master',
                    commit='0' * 40, commit_date=datetime.datetime.now(
                        datetime.timezone.utc))


@pytest.mark.parametrize('name, text', [
    ('setup.py', PBR_SETUP_PY),
    ('setup.cfg', '[metadata]\nname = demo\n\n[pbr]\nwarnerrors = true\n'),
    ('pyproject.toml', '[build-system]\nrequires = ["pbr>=6"]\n'
                       'build-backend = "pbr.build"\n'),
])
def test_needs_git_cli_when_pbr_is_used(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert git.needs_git_cli(tmp_path)


def test_no_git_cli_needed_without_pbr(tmp_path):
    (tmp_path / 'setup.py').write_text('from setuptools import setup\n')
    (tmp_path / 'pyproject.toml').write_text(
        '[project]\nname = "pbrish-not"\nversion = "1.0"\n')
    assert not git.needs_git_cli(tmp_path)


def test_check_git_cli_without_git(tmp_path, monkeypatch):
    (tmp_path / 'setup.py').write_text(PBR_SETUP_PY)
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    if find_tool('git') is not None:
        pytest.skip('git is installed beside the interpreter')
    with pytest.raises(errors.MissingToolError) as caught:
        git.check_git_cli(_checkout(tmp_path))
    assert caught.value.what == (
        'pbr needs the git command line to compute the version')
    assert caught.value.hint == 'apt-get install git'


def test_check_git_cli_passes(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    git.check_git_cli(_checkout(tmp_path))  # no pbr: git is not needed
    (tmp_path / 'setup.py').write_text(PBR_SETUP_PY)
    (tmp_path / 'bin').mkdir()
    fake = tmp_path / 'bin' / 'git'
    fake.write_text('#!/bin/sh\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))
    git.check_git_cli(_checkout(tmp_path))


@pytest.mark.parametrize('files, expected', [
    ({'pyproject.toml': '[project]\nname = "d"\nversion = "3.1"\n',
      'setup.cfg': '[metadata]\nversion = 9\n'}, '3.1'),
    ({'pyproject.toml': '[project]\nname = "d"\nversion = "3.1"\n'
                        'dynamic = ["version"]\n',
      'setup.cfg': '[metadata]\nversion = 2.5.0\n'}, '2.5.0'),
    ({'setup.cfg': '[metadata]\nversion = attr: demo.__version__\n'}, '1.0.0'),
    ({'setup.cfg': '[metadata]\nname = demo\n'}, '1.0.0'),
    ({'pyproject.toml': 'not toml ['}, '1.0.0'),
])
def test_static_version_then_tags(tmp_path, files, expected):
    gitutil.make_repo(tmp_path, files, tags=['1.0.0'])
    assert git.source_version(tmp_path) == expected


def test_no_version_without_metadata_or_tags(tmp_path):
    gitutil.make_repo(tmp_path, {'setup.py': 'import setuptools\n'},
                      tags=['not-a-version'])
    assert git.source_version(tmp_path) is None


@pytest.mark.parametrize('message, expected', [
    ('Fix', '1.2.4.dev2'),
    ('Add\n\nSem-Ver: feature', '1.3.0.dev2'),
    ('Break\n\nsem-ver: api-break, bugfix', '2.0.0.dev2'),
])
def test_pbr_version_after_a_tag(tmp_path, message, expected):
    first = gitutil.make_repo(tmp_path, {'setup.py': PBR_SETUP_PY},
                              tags=['1.2.3'])
    gitutil.commit(tmp_path, {'a': '1'}, message)
    gitutil.commit(tmp_path, {'a': '2'}, 'Later')
    assert git.source_version(tmp_path) == expected
    assert git.source_version(tmp_path, first) == '1.2.3'


def test_pbr_uses_setup_cfg_version_as_target(tmp_path):
    gitutil.make_repo(tmp_path, {
        'setup.py': PBR_SETUP_PY,
        'setup.cfg': '[metadata]\nname = d\nversion = 2.0.0\n'},
        tags=['1.2.3'])
    gitutil.commit(tmp_path, {'a': '1'})
    assert git.source_version(tmp_path) == '2.0.0.dev1'


def test_pbr_version_without_tags_counts_from_zero(tmp_path):
    gitutil.make_repo(tmp_path, {'setup.py': PBR_SETUP_PY})
    gitutil.commit(tmp_path, {'a': '1'})
    gitutil.commit(tmp_path, {'a': '2'})
    assert git.source_version(tmp_path) == '0.0.1.dev2'


def test_pbr_prefers_the_highest_tag_and_annotated_tags(tmp_path):
    commit = gitutil.make_repo(tmp_path, {'setup.py': PBR_SETUP_PY},
                               tags=['1.0.0', '2.0.0-rc1', 'latest'])
    gitutil.tag(tmp_path, '1.5.0', commit, message='annotated')
    assert git.source_version(tmp_path) == '2.0.0.0rc1'


def test_mirror_path_is_per_url(tmp_path):
    one = git.mirror_path(tmp_path, 'https://example.org/a')
    assert one == git.mirror_path(tmp_path, 'https://example.org/a')
    assert one != git.mirror_path(tmp_path, 'https://example.org/b')
    assert one.parent == tmp_path / 'git' and one.suffix == '.git'
    assert len(one.stem) == 64


REFS = {b'HEAD': b'1' * 40, b'refs/heads/master': b'1' * 40,
        b'refs/heads/1.0': b'2' * 40, b'refs/tags/1.0': b'3' * 40,
        b'refs/tags/1.0^{}': b'4' * 40, b'refs/changes/01/1/1': b'5' * 40}


@pytest.mark.parametrize('ref, expected', [
    ('master', b'refs/heads/master'),
    ('1.0', b'refs/heads/1.0'),  # a branch wins, as in git clone --branch
    ('refs/tags/1.0', b'refs/tags/1.0'),
    ('refs/changes/01/1/1', b'refs/changes/01/1/1'),
    ('HEAD', b'HEAD'),
    ('tags/1.0', None),
    ('--upload-pack=touch /tmp/x', None),
    ('1111111', None),  # a commit id is looked up after fetching
])
def test_find_ref(ref, expected):
    name, sha = git._find_ref(REFS, ref)
    assert name == expected
    assert sha == (REFS[expected] if expected else None)


def test_missing_ref_hint_lists_some_refs():
    refs = {b'refs/heads/b%d' % i: b'1' * 40 for i in range(8)}
    refs.update({b'refs/tags/1.%d.0' % i: b'2' * 40 for i in range(12)})
    refs[b'refs/tags/1.11.0^{}'] = b'3' * 40
    error = git._missing_ref('https://example.org/r', 'nope', refs)
    assert error.where == 'https://example.org/r'
    assert "'nope'" in error.what
    assert error.hint == (
        'available: branches b0, b1, b2, b3, b4 (and 3 more); '
        'tags 1.7.0, 1.8.0, 1.9.0, 1.10.0, 1.11.0 (and 7 more)')


def test_missing_ref_in_empty_repository():
    error = git._missing_ref('u', 'master', {})
    assert error.hint == 'the repository has no branches or tags'


@pytest.mark.parametrize('exc, expected', [
    (socket.timeout('timed out'), True),
    (urllib3.exceptions.MaxRetryError(
        None, '/', urllib3.exceptions.ReadTimeoutError(None, '/', 'slow')),
     True),
    (urllib3.exceptions.NewConnectionError(None, 'refused'), False),
    (ConnectionRefusedError(111, 'refused'), False),
    (dulwich_errors.HangupException(), False),
])
def test_is_timeout(exc, expected):
    assert git._is_timeout(exc) is expected


def test_timeout_wrapped_by_dulwich_is_a_timeout():
    try:
        try:
            raise urllib3.exceptions.ReadTimeoutError(None, '/', 'slow')
        except urllib3.exceptions.HTTPError as inner:
            raise dulwich_errors.GitProtocolError(str(inner)) from inner
    except dulwich_errors.GitProtocolError as outer:
        assert git._is_timeout(outer)


def test_bad_url_is_a_source_error(tmp_path):
    with pytest.raises(errors.SourceError) as caught:
        git.fetch('ssh://-oProxyCommand=x/repo', 'master', tmp_path / 'w')
    assert caught.value.where == 'ssh://-oProxyCommand=x/repo'


def test_progress_goes_to_the_runner_log(tmp_path):
    write = git._progress_writer(Runner(tmp_path / 'logs' / 'demo.log'))
    write(b'Counting objects: 3\r')
    write(b'done.\n')
    assert (tmp_path / 'logs' / 'demo.log').read_bytes() == (
        b'Counting objects: 3\rdone.\n')
    assert git._progress_writer(Runner()) is None
    assert git._progress_writer(None) is None
