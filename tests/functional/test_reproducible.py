"""Reproducible artifacts: the same inputs give byte-identical packages."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import pytest

from tests import projectutil


@pytest.fixture(scope='module')
def manifest(tmp_path_factory):
    top = tmp_path_factory.mktemp('reproducible')
    repo = top / 'hello-app'
    projectutil.pinned_repo(repo)
    path = top / 'manifest.yml'
    path.write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb, nfpm-rpm]
          resolver: requirements-file
          include_config: true
        projects:
          - name: hello-app
            giturl: {repo}
        """))
    return path


def build(manifest, tmp_path, name, *extra, clock=None):
    argv = ['giftwrap', 'build', '-m', str(manifest), '-o',
            str(tmp_path / name), '--cache-dir', str(tmp_path / f'cache-{name}'),
            '-f', 'json', *extra]
    if clock:
        argv = ['faketime', clock, *argv]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_two_builds_elsewhere_and_later_are_identical(manifest, tmp_path):
    clocks = ('2027-01-01 10:00:00', '2031-06-30 23:59:00')
    if shutil.which('faketime') is None:
        clocks = (None, None)  # different times all the same, a second apart
    build(manifest, tmp_path, 'one', clock=clocks[0])
    build(manifest, tmp_path, 'two', clock=clocks[1])
    artifacts = sorted(p.name for p in (tmp_path / 'one').iterdir()
                       if p.suffix in ('.deb', '.rpm', '.json')
                       and not p.name.startswith('.'))
    assert len(artifacts) == 4  # two packages, two SBOMs
    for name in artifacts:
        assert (tmp_path / 'one' / name).read_bytes() == \
            (tmp_path / 'two' / name).read_bytes(), name


def test_check_reproducible(manifest, tmp_path):
    rows = build(manifest, tmp_path, 'out', '--check-reproducible')
    assert {r['Status'] for r in rows} == {'reproducible'}
    assert all(r['Message'] == 'byte-identical when rebuilt' for r in rows)
