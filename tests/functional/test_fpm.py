"""fpm-deb and fpm-rpm with the real fpm: the same packages as nfpm's.

fpm is a Ruby gem; where it is not installed (RubyGems unreachable) every
test here skips.  The argv the builders produce is covered by
tests/unit/test_fpm.py whatever is installed.
"""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

import pytest

from giftwrap.builders import fpm, nfpm
from giftwrap.util.process import Runner, find_tool
from tests.packageutil import (RPMLINT_FILTERS, account, build, dpkg,
                               findings, forget_account, need,
                               need_root_dpkg, run, service_fields)

pytestmark = pytest.mark.skipif(find_tool('fpm') is None,
                                reason='fpm is not on PATH')

_RELATIONS = ('Package', 'Version', 'Architecture', 'Depends', 'Conflicts',
              'Provides', 'Replaces', 'Maintainer', 'Homepage')


def both(kind_fpm, kind_nfpm, tmp_path: Path, name: str):
    """The same manifest built by fpm and by nfpm."""
    fields = service_fields(tmp_path, name)
    made = [build(builder, tmp_path / builder.__name__, name,
                  manifest_dir=tmp_path, **fields)[0].path
            for builder in (kind_fpm, kind_nfpm)]
    return made


def deb_paths(deb: Path) -> set[str]:
    """Installed paths of a .deb, directories without their "/"."""
    paths = set()
    for line in run('dpkg-deb', '-c', '--', str(deb)).splitlines():
        path = re.split(r'\s+', line, maxsplit=5)[5].split(' -> ')[0]
        paths.add(path.lstrip('.').rstrip('/'))
    return paths - {''}  # fpm's tar has a "./" entry


def test_fpm_deb_matches_nfpm_deb(tmp_path, name):
    need('dpkg-deb')
    by_fpm, by_nfpm = both(fpm.FpmDeb, nfpm.NfpmDeb, tmp_path, name)
    assert by_fpm.name == by_nfpm.name == f'{name}_10.0-bbc1_all.deb'
    for field in _RELATIONS:
        assert run('dpkg-deb', '-f', '--', str(by_fpm), field) == run(
            'dpkg-deb', '-f', '--', str(by_nfpm), field), field
    for member in ('conffiles', 'postinst', 'prerm', 'postrm'):
        assert sorted(run('dpkg-deb', '-I', '--', str(by_fpm), member
                          ).splitlines()) == sorted(run(
                              'dpkg-deb', '-I', '--', str(by_nfpm), member
                          ).splitlines()), member
    # fpm always writes a changelog; giftwrap names it as lintian wants.
    docs = f'/usr/share/doc/{name}'
    assert deb_paths(by_fpm) - deb_paths(by_nfpm) == {
        '/usr/share/doc', docs, f'{docs}/changelog.Debian.gz',
        f'{docs}/changelog.gz'}
    assert deb_paths(by_nfpm) <= deb_paths(by_fpm)


def rpm_query(rpm: Path, *query: str) -> list[str]:
    lines = run('rpm', '-qp', *query, '--', str(rpm)).splitlines()
    # rpmbuild adds rpmlib() features and the scriptlet interpreter; nfpm
    # gives a symbolic link mode 0 (no one reads a link's mode).
    return sorted(re.sub(r'^l[-rwx]{9} ', 'l ', line) for line in lines
                  if not line.startswith('rpmlib(') and line != '/bin/sh')


def test_fpm_rpm_matches_nfpm_rpm(tmp_path, name, monkeypatch):
    need('rpm')
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    by_fpm, by_nfpm = both(fpm.FpmRpm, nfpm.NfpmRpm, tmp_path, name)
    assert by_fpm.name == by_nfpm.name == f'{name}-10.0-bbc1.noarch.rpm'
    fmt = ('%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{SUMMARY} '
           '%{BUILDHOST} %{BUILDTIME} %{URL}')
    for query in (['--qf', fmt], ['--requires'], ['--conflicts'],
                  ['--provides'], ['--obsoletes'], ['-l'], ['-c'],
                  ['--qf', '[%{FILEMODES:perms} %{FILEFLAGS:fflags} '
                           '%{FILEUSERNAME} %{FILEMTIMES} %{FILENAMES}\n]']):
        assert rpm_query(by_fpm, *query) == rpm_query(by_nfpm, *query), query
    assert 'useradd' in run('rpm', '-qp', '--scripts', '--', str(by_fpm))


def test_fpm_packages_pass_lintian_and_rpmlint(tmp_path, name):
    need('lintian')
    fields = service_fields(tmp_path, name)
    # Debian 12's lintian cannot read a zstd data.tar (the default).
    deb, _ = build(fpm.FpmDeb, tmp_path / 'deb', name, manifest_dir=tmp_path,
                   options={'compression': 'xz'}, **fields)
    out = Runner().run(['lintian', '--tag-display-limit', '0', '--',
                        str(deb.path)], check=False).output
    assert not findings(out, 'E: '), out
    need('rpmlint')
    rpm, _ = build(fpm.FpmRpm, tmp_path / 'rpm', name, manifest_dir=tmp_path,
                   **fields)
    out = Runner().run(['rpmlint', '-c', str(RPMLINT_FILTERS), '--',
                        str(rpm.path)], check=False).output
    assert not findings(out, ' E: '), out


def test_fpm_deb_installs_its_service(tmp_path, name):
    need_root_dpkg()
    user = account(name)
    deb, install = build(fpm.FpmDeb, tmp_path, name,
                         **service_fields(tmp_path, name))
    try:
        dpkg('-i', '--', str(deb.path))
        assert pwd.getpwnam(user)
        assert Path(f'/var/lib/{user}/postinst-ran').exists()
        assert os.stat(f'/etc/sudoers.d/{user}').st_mode & 0o777 == 0o440
        dpkg('--purge', '--', name)
        assert not Path(f'/var/lib/{user}').exists()
        assert not Path(str(install)).exists()
    finally:
        dpkg('--purge', '--', name)
        forget_account(user)
