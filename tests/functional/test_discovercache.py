"""A changed-commit rebuild with uv takes the install's resolution from the
cache (``cache_dir/discover``) instead of running ``uv pip compile``.

The sample project (needing six, pinned by its requirements.txt) is built
with ``installer: uv``; a commit changing only a ``.py`` file is built from
the cache's resolution to the same closure; a commit changing
requirements.txt, and a corrupt cache entry, make it resolve again.  Each
build's project log (in the cache's ``logs/<run>``) records every command.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from giftwrap.util.process import find_tool
from tests import gitutil, projectutil

pytestmark = [
    pytest.mark.skipif(find_tool('uv') is None, reason='uv is not installed'),
    pytest.mark.skipif(find_tool('nfpm') is None,
                       reason='nfpm is not installed')]

#: What the discover step's ``uv pip compile`` writes (the log shows it).
DISCOVER_OUTPUT = 'pylock.builddiscover.toml'


def _manifest(top: Path) -> Path:
    projectutil.pinned_repo(top / 'hello-app')
    path = top / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""\
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: requirements-file
          installer: uv
        projects:
          - name: hello-app
            giturl: {top / 'hello-app'}
        """))
    return path


def _build(cli, top: Path, manifest: Path, out: str) -> tuple[str, dict]:
    """Build into ``top/out``; the project's log and its lock entry."""
    logs = top / 'cache' / 'logs'
    before = set(logs.glob('*/hello-app.log'))
    result = cli('build', '-m', str(manifest), '-o', str(top / out),
                 '--cache-dir', str(top / 'cache'), '-f', 'json')
    assert result.status == 0, result.stderr + result.stdout
    row, = json.loads(result.stdout)
    assert row['Status'] == 'built', row
    log, = set(logs.glob('*/hello-app.log')) - before
    lock = json.loads((top / out / 'giftwrap.lock').read_text())
    return log.read_text(), lock['projects']['hello-app']


def _discover_runs(log: str) -> list[str]:
    """The ``uv pip compile`` commands of the discover step in ``log``."""
    return [line for line in log.splitlines() if line.startswith('$ ')
            and ' pip compile ' in line and DISCOVER_OUTPUT in line]


def _installed(entry: dict) -> dict:
    """The closure a build installed (and its files' hashes), and the
    build tools: what must not change with the cache."""
    return {k: entry.get(k) for k in ('pins', 'unpinned', 'build_tools',
                                      'build_tool_hashes')}


def test_a_changed_commit_takes_the_resolution_from_the_cache(cli, tmp_path):
    manifest = _manifest(tmp_path)
    log, first = _build(cli, tmp_path, manifest, 'one')
    assert len(_discover_runs(log)) == 1, log
    assert 'resolution from the cache' not in log
    entries = list((tmp_path / 'cache' / 'discover').glob('*.json'))
    assert len(entries) == 1

    repo = tmp_path / 'hello-app'
    gitutil.commit(repo, {'hello_app/extra.py': 'X = 1\n'}, 'Code only')
    log, second = _build(cli, tmp_path, manifest, 'two')
    assert _discover_runs(log) == [], log
    assert f'resolution from the cache: {entries[0]}' in log
    assert second['commit'] != first['commit']
    assert _installed(second) == _installed(first)
    assert _installed(first)['pins']

    # requirements.txt changes: resolved again, kept anew
    gitutil.commit(repo, {'requirements.txt': 'six==1.17.0\n'}, 'New six')
    log, third = _build(cli, tmp_path, manifest, 'three')
    assert len(_discover_runs(log)) == 1, log
    assert 'resolution from the cache' not in log
    assert third['pins']['six']['version'] == '1.17.0'
    assert len(list((tmp_path / 'cache' / 'discover').glob('*.json'))) == 2


def test_a_corrupt_entry_is_resolved_again(cli, tmp_path):
    manifest = _manifest(tmp_path)
    _build(cli, tmp_path, manifest, 'one')
    entry, = (tmp_path / 'cache' / 'discover').glob('*.json')
    entry.write_text(entry.read_text()[:100])  # cut short
    gitutil.commit(tmp_path / 'hello-app', {'hello_app/extra.py': ''})
    log, _ = _build(cli, tmp_path, manifest, 'two')
    assert len(_discover_runs(log)) == 1, log
    assert 'Traceback' not in log
    json.loads(entry.read_text())  # written whole again
    shutil.rmtree(tmp_path / 'two')
