"""giftwrap diff: two hand-written locks that differ in known ways."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.cli import app as shell
from giftwrap.trust import lockdiff, lockfile
from giftwrap.cli.commands.diff import Diff

OLD_COMMIT = '1' * 40
NEW_COMMIT = '2' * 40


def pin(name: str, version: str, sha: str | None = None) -> dict:
    return {'name': name, 'version': version,
            'sha256': sha or f'{name}-{version}'.encode().hex()}


def entry(commit: str, pins: list[dict], *, python: str = '3.11.2',
          giturl: str = 'https://opendev.org/openstack/nova',
          patches: tuple[tuple[str, str], ...] = ()) -> dict:
    return {'patches': [{'file': f, 'sha256': h} for f, h in patches],
            'giturl': giturl, 'gitref': 'stable/2025.1', 'commit': commit,
            'resolver': 'upper-constraints',
            'provenance': {'resolver': 'upper-constraints'},
            'pins': {canonicalize_name(p['name']): p for p in pins},
            'interpreter': {'path': '/usr/bin/python3.11', 'version': python},
            'overrides': {}, 'unpinned': []}


def write_lock(path: Path, projects: dict) -> Path:
    """A lock in the format of giftwrap/trust/lockfile.py, written by hand."""
    path.write_text(json.dumps({'format': lockfile.FORMAT,
                                'giftwrap': '1.0', 'projects': projects}))
    return path


@pytest.fixture
def locks(tmp_path) -> tuple[Path, Path]:
    old = write_lock(tmp_path / 'old.lock', {
        'nova': entry(OLD_COMMIT, [
            pin('oslo.config', '9.6.0'), pin('six', '1.16.0'),
            pin('PyYAML', '6.0.2'), pin('requests', '2.32.3'),
            pin('idna', '3.10', sha='a' * 64), pin('weird', 'rev-b')],
            patches=(('cve.patch', '1' * 64), ('local.patch', '2' * 64))),
        'glance': entry(OLD_COMMIT, [pin('six', '1.16.0')],
                        giturl='https://opendev.org/openstack/glance'),
        'same': entry(OLD_COMMIT, [pin('six', '1.16.0')]),
    })
    new = write_lock(tmp_path / 'new.lock', {
        'nova': entry(NEW_COMMIT, [
            pin('oslo.config', '9.7.0'), pin('six', '1.16.0'),
            pin('PyYAML', '6.0.1'), pin('urllib3', '2.2.3'),
            pin('idna', '3.10', sha='b' * 64), pin('weird', 'rev-a')],
            python='3.11.4',
            patches=(('cve.patch', '1' * 64), ('local.patch', '3' * 64))),
        'keystone': entry(NEW_COMMIT, [pin('six', '1.16.0')],
                          giturl='https://opendev.org/openstack/keystone'),
        'same': entry(OLD_COMMIT, [pin('six', '1.16.0')]),
    })
    return old, new


EXPECTED = [
    ('glance', 'project removed', 'https://opendev.org/openstack/glance',
     OLD_COMMIT, ''),
    ('keystone', 'project added', 'https://opendev.org/openstack/keystone',
     '', NEW_COMMIT),
    ('nova', 'commit', 'https://opendev.org/openstack/nova', OLD_COMMIT,
     NEW_COMMIT),
    ('nova', 'interpreter', 'python', '3.11.2', '3.11.4'),
    ('nova', 'patch removed', 'local.patch', '2' * 64, ''),
    ('nova', 'patch added', 'local.patch', '', '3' * 64),
    ('nova', 'hash changed', 'idna', 'a' * 64, 'b' * 64),
    ('nova', 'upgraded', 'oslo.config', '9.6.0', '9.7.0'),
    ('nova', 'downgraded', 'PyYAML', '6.0.2', '6.0.1'),
    ('nova', 'removed', 'requests', '2.32.3', ''),
    ('nova', 'added', 'urllib3', '', '2.2.3'),
    ('nova', 'changed', 'weird', 'rev-b', 'rev-a'),
]


def test_diff_reports_every_known_difference(locks):
    old, new = (lockfile.read(p, check_values=False) for p in locks)
    assert [c.row() for c in lockdiff.diff(old, new)] == EXPECTED


def test_identical_locks_have_no_changes(locks):
    old = lockfile.read(locks[0], check_values=False)
    assert lockdiff.diff(old, old) == []


@pytest.mark.parametrize('old, new, kind', [
    ('1.0', '1.0.1', 'upgraded'), ('2.0rc1', '2.0', 'upgraded'),
    ('1.10', '1.9', 'downgraded'), ('1.0', '1.0.0', 'changed'),
    ('1.0', 'not a version', 'changed')])
def test_versions_compare_as_pep440(old, new, kind):
    assert lockdiff._direction(old, new) == kind


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    app = shell.GiftwrapApp(stdout=out, stderr=err)
    # Independent of the installed entry points (setup.cfg registers it).
    app.command_manager.add_command('diff', Diff)
    status = app.run(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_cli_json(locks):
    status, out, err = run_cli('diff', str(locks[0]), str(locks[1]),
                               '-f', 'json')
    assert status == 0, err
    rows = json.loads(out)
    assert [tuple(r[c] for c in lockdiff.COLUMNS) for r in rows] == EXPECTED


def test_cli_table(locks):
    status, out, _ = run_cli('diff', str(locks[0]), str(locks[1]))
    assert status == 0
    header = out.splitlines()[1]
    assert [w.strip() for w in header.strip('|').split('|')] == list(
        lockdiff.COLUMNS)
    assert 'downgraded' in out and 'PyYAML' in out


def test_cli_unreadable_lock(tmp_path, locks):
    bad = tmp_path / 'bad.lock'
    bad.write_text('{"format": 99, "projects": {}}')
    status, _, err = run_cli('diff', str(bad), str(locks[1]))
    assert status == errors.ManifestError.exit_code
    assert 'unknown lock format 99' in err
