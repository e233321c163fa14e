"""No build path in a package: a local giturl is recorded as written.

Two copies of one release repository (the manifest beside the project's
git repository) in different directories build byte-identical packages;
the lock and the SBOM hold the giturl relative to the manifest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import pytest

from tests import projectutil

pytestmark = pytest.mark.skipif(shutil.which('dpkg-deb') is None,
                                reason='dpkg-deb is not installed')

BUILDERS = '[nfpm-deb, nfpm-rpm]'


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """A release repository: a manifest and ``repos/hello-app`` beside it."""
    top = tmp_path_factory.mktemp('release')
    projectutil.pinned_repo(top / 'repos' / 'hello-app')
    (top / 'manifest.yml').write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: {BUILDERS}
          resolver: requirements-file
        projects:
          - name: hello-app
            giturl: repos/hello-app
        """))
    return top


def build(manifest, out, cache, *extra):
    """``giftwrap build`` of ``manifest`` into ``out``: its JSON rows."""
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(manifest), '-o', str(out),
         '--cache-dir', str(cache), '-f', 'json', *extra],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def artifacts(out):
    """The packages and SBOMs in ``out``, by name."""
    return sorted(p.name for p in out.iterdir()
                  if p.suffix in ('.deb', '.rpm', '.json')
                  and not p.name.startswith('.'))


def test_two_copies_build_identical_packages(release, tmp_path):
    outs = []
    for name in ('first/checkout', 'second'):
        copy = tmp_path / name
        shutil.copytree(release, copy)
        outs.append(tmp_path / f'out-{name.replace("/", "-")}')
        build(copy / 'manifest.yml', outs[-1], tmp_path / f'cache-{len(outs)}')
    names = artifacts(outs[0])
    assert len(names) == 4  # two packages, two SBOMs
    assert artifacts(outs[1]) == names
    for name in names:
        assert (outs[0] / name).read_bytes() == \
            (outs[1] / name).read_bytes(), name
    for out in outs:
        lock = json.loads((out / 'giftwrap.lock').read_text())
        assert lock['projects']['hello-app']['giturl'] == 'repos/hello-app'
        for name in names:
            text = (out / name).read_bytes()
            assert str(tmp_path).encode() not in text, name
        sbom = next(out.glob('*.json')).read_text()
        assert 'repos/hello-app' in sbom


def test_old_lock_with_absolute_giturl_replays(release, tmp_path):
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    first = tmp_path / 'first'
    build(copy / 'manifest.yml', first, tmp_path / 'cache')
    lock = json.loads((first / 'giftwrap.lock').read_text())
    entry = lock['projects']['hello-app']
    entry['giturl'] = str(copy / 'repos' / 'hello-app')  # as written before
    old = tmp_path / 'old.lock'
    old.write_text(json.dumps(lock))
    again = tmp_path / 'again'
    build(copy / 'manifest.yml', again, tmp_path / 'cache', '--lock', str(old))
    relocked = json.loads((again / 'giftwrap.lock').read_text())
    assert relocked['projects']['hello-app']['commit'] == entry['commit']
    assert relocked['projects']['hello-app']['giturl'] == 'repos/hello-app'
