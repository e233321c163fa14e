"""Warm rebuilds: unchanged inputs reuse the artifact; changed ones say what."""

from __future__ import annotations

import json
import subprocess
import textwrap

from tests import gitutil, projectutil


def build(manifest, out, cache, *extra):
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
         '--cache-dir', str(cache), '-f', 'json', *extra],
        capture_output=True, text=True)
    rows = json.loads(result.stdout) if result.stdout.startswith('[') else []
    return result, {r['Builder']: r for r in rows}


def test_unchanged_reused_changed_refused_forced_rebuilt(tmp_path):
    repo = tmp_path / 'hello-app'
    projectutil.pinned_repo(repo)
    text = textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb, nfpm-rpm]
          resolver: requirements-file
        projects:
          - name: hello-app
            giturl: {repo}
        """)
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(text)
    out, cache = tmp_path / 'out', tmp_path / 'cache'

    first, rows = build(manifest, out, cache)
    assert first.returncode == 0, first.stderr
    deb = rows['nfpm-deb']['Artifact']
    before = (out / 'giftwrap.lock').read_text()

    again, rows = build(manifest, out, cache)
    assert again.returncode == 0, again.stderr
    assert {r['Status'] for r in rows.values()} == {'reused'}
    assert rows['nfpm-deb']['Artifact'] == deb
    assert 'virtualenv' not in again.stderr
    assert (out / 'giftwrap.lock').read_text() == before

    gitutil.commit(repo, {'NEWS': 'a change\n'}, 'Change something')
    changed, rows = build(manifest, out, cache)
    assert changed.returncode == 7
    message = rows['nfpm-deb']['Message']
    assert 'these inputs changed: commit' in message
    assert 'force_overwrite' in message

    manifest.write_text(text.replace("resolver: requirements-file",
                                     "resolver: requirements-file\n"
                                     "  force_overwrite: true"))
    forced, rows = build(manifest, out, cache)
    assert forced.returncode == 0, forced.stdout
    assert {r['Status'] for r in rows.values()} == {'built'}
    lock = json.loads((out / 'giftwrap.lock').read_text())
    assert lock['projects']['hello-app']['commit'] != json.loads(before)[
        'projects']['hello-app']['commit']
