"""Debian policy files in real packages: a DEP-5 copyright file naming
every bundled distribution, the changelogs, and rpm's ``%license``.

One real build (pip installs six 1.16.0, MIT, from the package index) with
nfpm-deb (xz, which bookworm's lintian reads) and nfpm-rpm.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import textwrap

import pytest

from giftwrap.util.process import Runner
from tests import projectutil

pytestmark = pytest.mark.skipif(shutil.which('dpkg-deb') is None,
                                reason='dpkg-deb is not installed')

DOC = './usr/share/doc/openstack-hello-app'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    top = tmp_path_factory.mktemp('docfiles')
    commit = projectutil.pinned_repo(top / 'hello-app')
    (top / 'manifest.yml').write_text(textwrap.dedent(f"""
        settings:
          version: '1.0-1'
          builders: [nfpm-deb, nfpm-rpm]
          builder_options: {{nfpm-deb: {{compression: xz}}}}
          resolver: requirements-file
          license: Apache-2.0
          maintainer: ACME Ops <ops@acme.example>
        projects:
          - name: hello-app
            giturl: {top / 'hello-app'}
        """))
    out = top / 'out'
    result = subprocess.run(
        ['giftwrap', 'build', '-m', str(top / 'manifest.yml'), '-o', str(out),
         '--cache-dir', str(top / 'cache'), '-f', 'json'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    return out, commit


def deb_file(out, path: str) -> bytes:
    (deb,) = out.glob('*.deb')
    tar = subprocess.run(['dpkg-deb', '--fsys-tarfile', str(deb)],
                         capture_output=True, check=True).stdout
    return subprocess.run(['tar', '-xO', path], input=tar,
                          capture_output=True, check=True).stdout


def test_deb_ships_a_dep5_copyright_naming_every_distribution(built):
    out, _ = built
    text = deb_file(out, f'{DOC}/copyright').decode()
    assert text.startswith('Format: https://www.debian.org/doc/'
                           'packaging-manuals/copyright-format/1.0/\n')
    assert 'Files: *\nCopyright: ' in text
    assert '\nLicense: Apache-2.0\n\n' in text  # the project: referenced
    (six,) = [p for p in text.split('\nFiles: ')
              if 'six-1.16.0.dist-info/*' in p.split('\nCopyright:')[0]]
    # six is MIT: its own text, from its dist-info, as continuation lines
    assert '\nLicense: Expat\n Copyright (c) 2010-' in six
    assert '/usr/share/common-licenses/Apache-2.0' in text


def test_debian_changelog_holds_the_lock_entry(built):
    out, commit = built
    lock = json.loads((out / 'giftwrap.lock').read_text())
    entry = lock['projects']['hello-app']
    raw = deb_file(out, f'{DOC}/changelog.Debian.gz')
    assert raw[4:8] == b'\0\0\0\0' and raw[3] & 0x08 == 0  # gzip -n
    text = gzip.decompress(raw).decode()
    assert commit in text.replace('\n    ', ' ')
    assert '    - six 1.16.0' in text
    parsed = Runner().run(['dpkg-parsechangelog', '-l-', '-SVersion'],
                          stdin=text.encode()).output.strip()
    assert parsed == '1.0-1'
    assert entry['commit'] == commit
    assert gzip.decompress(deb_file(out, f'{DOC}/changelog.gz')).startswith(
        b'hello-app 1.0 is commit ' + commit.encode())


def test_lintian_finds_no_error_and_no_override_for_policy_files(built):
    if shutil.which('lintian') is None:
        pytest.skip('lintian is not installed (apt-get install lintian)')
    out, _ = built
    (deb,) = out.glob('*.deb')
    result = Runner().run(['lintian', '--tag-display-limit', '0',
                           '--show-overrides', '--', str(deb)], check=False)
    assert not [line for line in result.output.splitlines()
                if line.startswith('E: ')], result.output
    for tag in ('no-copyright-file', 'no-changelog',
                'debian-changelog-file-missing'):
        assert tag not in result.output, result.output


def test_rpm_marks_the_license_files(built):
    if shutil.which('rpm') is None:
        pytest.skip('rpm is not installed (apt-get install rpm)')
    out, _ = built
    (rpm,) = out.glob('*.rpm')
    licenses = Runner().run(['rpm', '-qpL', '--', str(rpm)]).output.split()
    assert any(p.endswith('six-1.16.0.dist-info/LICENSE') for p in licenses)
    listing = Runner().run(['rpm', '-qpl', '--', str(rpm)]).output
    assert '/usr/share/doc' not in listing  # Debian's files are debs' only
