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
    manifest = projectutil.pinned_manifest(tmp_path,
                                           builders='[nfpm-deb, nfpm-rpm]')
    text = manifest.read_text()
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
    assert 'force_overwrite' in rows['nfpm-deb']['Hint']

    manifest.write_text(text.replace("resolver: requirements-file",
                                     "resolver: requirements-file\n"
                                     "  force_overwrite: true"))
    forced, rows = build(manifest, out, cache)
    assert forced.returncode == 0, forced.stdout
    assert {r['Status'] for r in rows.values()} == {'built'}
    lock = json.loads((out / 'giftwrap.lock').read_text())
    assert lock['projects']['hello-app']['commit'] != json.loads(before)[
        'projects']['hello-app']['commit']


def test_unchanged_inputs_reused_before_any_checkout(tmp_path):
    """With a resolver that can fingerprint its pins (upper-constraints from
    a file), an unchanged rebuild neither checks out nor resolves."""
    repo = tmp_path / 'hello-app'
    commit = projectutil.sample_repo(repo, requirements=['six'])
    constraints = tmp_path / 'upper-constraints.txt'
    constraints.write_text('six===1.16.0\n')
    manifest = tmp_path / 'manifest.yml'
    manifest.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb]
          resolver: upper-constraints
          resolver_options:
            upper-constraints: {{url: {constraints}}}
        projects:
          - name: hello-app
            giturl: {repo}
        """))
    out, cache = tmp_path / 'out', tmp_path / 'cache'

    def again(expect_checkout: bool):
        result, rows = build(manifest, out, cache)
        assert result.returncode == 0, result.stdout + result.stderr
        assert rows['nfpm-deb']['Status'] == 'reused'
        assert ('[hello-app] clone' in result.stderr) is expect_checkout
        assert ('[hello-app] resolve' in result.stderr) is expect_checkout
        return result

    first, rows = build(manifest, out, cache)
    assert first.returncode == 0, first.stdout + first.stderr
    again(expect_checkout=False)
    # Another constraints text (the same pins): checked out, resolved and
    # found unchanged by the full key; the next run is quick again.
    constraints.write_text('# regenerated\nsix===1.16.0\n')
    again(expect_checkout=True)
    again(expect_checkout=False)
    # A new tag on the same commit may change a pbr version: checked out.
    gitutil.tag(repo, '1.0.0', commit)
    again(expect_checkout=True)
    again(expect_checkout=False)
    # A new commit: built again (force_overwrite is off: the error names
    # the commit), never reused from the memo.
    gitutil.commit(repo, {'NEWS': 'a change\n'}, 'Change something')
    changed, rows = build(manifest, out, cache)
    assert changed.returncode == 7
    assert 'commit' in rows['nfpm-deb']['Message']


def test_keep_work_leaves_each_projects_work_directory(tmp_path):
    manifest = projectutil.pinned_manifest(tmp_path, 'base_path: /opt/kept')
    work = tmp_path / 'work'
    result, rows = build(manifest, tmp_path / 'out', tmp_path / 'cache',
                         '--work-dir', str(work), '--keep-work')
    assert result.returncode == 0, result.stdout + result.stderr
    staged = work / 'hello-app' / 'root' / 'opt' / 'kept' / 'hello-app'
    assert (staged / 'bin' / 'python').is_symlink()
    assert (work / 'hello-app' / 'src' / 'hello_app').is_dir()
    again, _ = build(manifest, tmp_path / 'out2', tmp_path / 'cache',
                     '--work-dir', str(tmp_path / 'work2'))
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / 'work2').exists()
