"""Packages with service integration: lintian, rpmlint, and dpkg as root.

The staged tree is made by hand (like test_nfpm) and the description comes
from :func:`giftwrap.package.description.describe`, so the maintainer scripts, units
and overrides are the ones a real build ships.
"""

from __future__ import annotations

import pwd
import shutil
from pathlib import Path, PurePosixPath

import pytest

from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.builders import nfpm
from giftwrap.package.builder import StagedTree
from giftwrap.manifest.loader import Project
from giftwrap.util.process import Runner, find_tool
from tests.packageutil import (PYTHON, RPMLINT_FILTERS, account, build, dpkg,
                               findings, forget_account, need,
                               need_root_dpkg, run, service_fields, stage)

pytestmark = pytest.mark.skipif(find_tool('nfpm') is None,
                                reason='nfpm is not installed')


def test_lintian_finds_no_errors(tmp_path, name):
    need('lintian')
    # Debian 12's lintian cannot read a zstd data.tar (the default).
    artifact, _ = build(nfpm.NfpmDeb, tmp_path, name,
                        options={'compression': 'xz'},
                        **service_fields(tmp_path, name))
    result = Runner().run(['lintian', '--tag-display-limit', '0', '--',
                           str(artifact.path)], check=False)
    assert not findings(result.output, 'E: '), result.output
    overridden = Runner().run(['lintian', '--show-overrides', '--',
                               str(artifact.path)], check=False).output
    assert f'O: {name}: dir-or-file-in-opt' in overridden


def test_rpmlint_finds_no_errors_outside_the_filters(tmp_path, name):
    if shutil.which('rpmlint') is None:
        pytest.skip('rpmlint is not installed (apt-get install rpmlint)')
    artifact, _ = build(nfpm.NfpmRpm, tmp_path, name,
                        **service_fields(tmp_path, name))
    result = Runner().run(['rpmlint', '-c', str(RPMLINT_FILTERS), '--',
                           str(artifact.path)], check=False)
    assert not findings(result.output, ' E: '), result.output


def test_rpm_scripts_and_files(tmp_path, name):
    need('rpm')
    artifact, install = build(nfpm.NfpmRpm, tmp_path, name,
                              **service_fields(tmp_path, name))
    rpm = str(artifact.path)
    scripts = run('rpm', '-qp', '--scripts', '--', rpm)
    assert f'useradd -r -g {account(name)}' in scripts
    assert 'touch /var/lib/' in scripts
    configs = run('rpm', '-qcp', '--', rpm).split()
    assert configs == [f'/etc/sudoers.d/{account(name)}',
                       f'{install}/etc/hello.conf']
    assert 'shadow-utils' in run('rpm', '-qp', '--requires', '--', rpm)


def test_install_upgrade_remove_purge(tmp_path, name):
    need_root_dpkg()
    user = account(name)
    fields = service_fields(tmp_path, name)
    first, install = build(nfpm.NfpmDeb, tmp_path / 'v1', name,
                           manifest_dir=tmp_path, **fields)
    newer, _ = build(nfpm.NfpmDeb, tmp_path / 'v2', name, version='10.1-1',
                     manifest_dir=tmp_path, **fields)
    conf = Path(f'{install}/etc/hello.conf')
    state = Path(f'/var/lib/{user}')
    try:
        dpkg('-i', '--', str(first.path))
        assert pwd.getpwnam(user).pw_dir == str(state)
        for directory in (state, Path(f'/var/log/{user}')):
            st = directory.stat()
            assert (st.st_uid, st.st_mode & 0o777) == (
                pwd.getpwnam(user).pw_uid, 0o750)
        assert (state / 'postinst-ran').exists()  # after the directories
        unit = Path(f'/usr/lib/systemd/system/{user}.service').read_text()
        assert f'ExecStart={install}/bin/python {install}/bin/hello' in unit
        sudoers = Path(f'/etc/sudoers.d/{user}')
        assert sudoers.stat().st_mode & 0o777 == 0o440

        conf.write_text('[hello]\ngreeting = changed locally\n')
        dpkg('-i', '--', str(newer.path))
        assert 'Version: 10.1-1' in dpkg('-s', '--', name)
        assert 'changed locally' in conf.read_text()

        dpkg('-r', '--', name)
        assert not Path(f'{install}/bin/hello').exists()
        assert not Path(f'/usr/lib/systemd/system/{user}.service').exists()
        assert conf.exists() and sudoers.exists()  # conffiles stay
        assert state.is_dir()  # data stays until purge
        assert pwd.getpwnam(user)

        dpkg('--purge', '--', name)
        assert not conf.exists() and not sudoers.exists()
        assert not state.exists() and not Path(f'/var/log/{user}').exists()
        assert pwd.getpwnam(user)  # Debian keeps system accounts
    finally:
        dpkg('--purge', '--', name)
        forget_account(user)


def test_lintian_override_file_is_installed(tmp_path, name):
    need('dpkg-deb')
    artifact, _ = build(nfpm.NfpmDeb, tmp_path, name)
    listing = run('dpkg-deb', '-c', '--', str(artifact.path))
    assert f'./usr/share/lintian/overrides/{name}' in listing
    assert not run('dpkg-deb', '-I', '--', str(artifact.path)).count(
        'postinst')  # no service: no maintainer scripts


def test_descriptions_come_from_the_staged_metadata(tmp_path, name):
    install = PurePosixPath('/opt') / name
    tree = stage(tmp_path / 'stage', install)
    dist = tree.venv / 'lib/python3.11/site-packages/hello-10.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: hello\nVersion: 10.0\n'
        'Summary: Says hello\nLicense-Expression: MIT\n'
        'Project-URL: Homepage, https://hello.example.org\n'
        'Author-email: Hello Devs <devs@hello.example.org>\n\nBody\n')
    project = Project(
        name='hello', package_name=name, version='1.0',
        package_version=versions.parse('1.0'), install_path=install,
        giturl='https://opendev.org/x/hello', gitref='master',
        python='/usr/bin/python3.11', resolver='none', builders=(),
        resolver_options={}, builder_options={})
    desc = package.describe(project, StagedTree(tree.root, install), PYTHON)
    assert (desc.summary, desc.license, desc.homepage, desc.maintainer) == (
        'Says hello', 'MIT', 'https://hello.example.org',
        'Hello Devs <devs@hello.example.org>')
