"""A local giturl: written as the manifest gives it, old locks still read."""

from __future__ import annotations

import json
import textwrap

from giftwrap.manifest import loader as manifest
from giftwrap.trust import lockfile


def _manifest(tmp_path, giturl):
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
        projects:
          - name: hello
            giturl: {giturl}
        """))
    return manifest.load(path)


def test_relative_giturl_kept_for_provenance(tmp_path):
    project = _manifest(tmp_path, 'repos/hello').render('hello')
    assert project.giturl == str((tmp_path / 'repos/hello').resolve())
    assert project.source_url == 'repos/hello'
    assert project.provenance_url == 'repos/hello'


def test_remote_giturl_unchanged(tmp_path):
    project = _manifest(tmp_path, 'https://opendev.org/x/hello').render('hello')
    assert project.giturl == project.provenance_url == \
        'https://opendev.org/x/hello'


def test_old_lock_with_absolute_giturl_reads(tmp_path):
    path = tmp_path / 'giftwrap.lock'
    path.write_text(json.dumps({'format': lockfile.FORMAT, 'projects': {
        'hello': {'giturl': '/srv/release/repos/hello', 'gitref': 'master',
                  'commit': 'a' * 40, 'resolver': 'requirements-file',
                  'provenance': {}, 'pins': {}, 'interpreter': {}}}}))
    entry = lockfile.read(path)['hello']
    assert entry.giturl == '/srv/release/repos/hello'
    assert entry.commit == 'a' * 40
