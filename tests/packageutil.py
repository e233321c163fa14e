"""Helpers of the packaging tests: tools, staged trees, builds, signing keys.

Shared by the nfpm, fpm, signing, publishing and package tests; the ``name``
fixture they use is in ``tests/functional/conftest.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap.cli import app as shell
from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.trust import signing
from giftwrap.cli.commands.publish import Publish
from giftwrap.package.builder import StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project
from giftwrap.package.description import PackageDescription
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Checkout, Pins


def need(*tools: str) -> None:
    for tool in tools:
        if find_tool(tool) is None:
            pytest.skip(f'{tool} is not installed')


@dataclasses.dataclass(frozen=True)
class GpgKey:
    home: Path
    fingerprint: str

    def public(self, dest: Path, armor: bool = False) -> Path:
        return signing.export_public_key(self.fingerprint, dest, Runner(),
                                         gnupg_home=self.home, armor=armor)


def make_key(uid: str) -> GpgKey:
    """A new signing key without passphrase in a new GnuPG home.

    The home is short and under /tmp: gpg-agent's socket path must stay
    under the 108 bytes a Unix socket name may have.
    """
    home = Path(tempfile.mkdtemp(prefix='gw-gpg-', dir='/tmp'))
    env = signing.environment(home)
    Runner().run(['gpg', '--batch', '--passphrase', '', '--quick-gen-key',
                  '--', uid, 'ed25519', 'sign', 'never'], env=env)
    listing = Runner().run(['gpg', '--batch', '--with-colons',
                            '--list-secret-keys', '--', uid], env=env).output
    fingerprint = next(line.split(':')[9] for line in listing.splitlines()
                       if line.startswith('fpr:'))
    return GpgKey(home, fingerprint)


def remove_key(key: GpgKey) -> None:
    """Stop the gpg-agent of the key's home and remove the home."""
    if find_tool('gpgconf'):
        Runner().run(['gpgconf', '--kill', 'all'],
                     env=signing.environment(key.home), check=False)
    shutil.rmtree(key.home, ignore_errors=True)


def _stage(root: Path, install: PurePosixPath) -> StagedTree:
    venv = root / install.relative_to('/')
    (venv / 'bin').mkdir(parents=True)
    script = venv / 'bin' / 'hello'
    script.write_text('#!/bin/sh\necho hello\n')
    script.chmod(0o755)
    return StagedTree(root=root, install_path=install)


def build_package(builder, tmp_path: Path, name: str,
                  out: Path | None = None, options=None,
                  version_text: str = '1.0-1') -> Path:
    """A small real package of ``name`` (installs /opt/<name>/bin/hello)."""
    install = PurePosixPath('/opt') / name
    version = versions.parse(version_text)
    out = out or tmp_path / 'out'
    project = Project(
        name='hello', package_name=name, version=version_text,
        package_version=version, install_path=install,
        giturl='https://example.invalid/hello', gitref='master',
        python='/usr/bin/python3', resolver='none',
        builders=('nfpm-deb', 'nfpm-rpm'), resolver_options={},
        builder_options={}, force_overwrite=True, output_dir=out,
        where='manifest.yml:1')
    package = PackageDescription(
        name=name, version=version, install_path=install,
        summary='hello for a giftwrap test', license='Apache-2.0',
        maintainer='giftwrap tests <test@example.invalid>',
        depends=(), machine='x86_64')
    checkout = Checkout(tmp_path / 'src', project.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    work = tmp_path / f'work-{builder.__name__}-{version_text}'
    work.mkdir(parents=True, exist_ok=True)
    context = testing.build_context(
        tmp_path, project=project, package=package,
        interpreter=Interpreter(Path('/usr/bin/python3.11'), '3.11.2'),
        checkout=checkout, pins=Pins.of([]), options=options or {},
        work_dir=work,
        output_dir=out, runner=Runner(tmp_path / 'build.log'))
    tree = _stage(tmp_path / f'stage-{builder.__name__}-{version_text}',
                  install)
    return builder(context).build(tree).path


ODD_NAME = 'odd$HOME[1]*.txt'


def stage(root: Path, install: PurePosixPath) -> StagedTree:
    """A hand-made virtualenv tree: script, python link, config, odd name."""
    venv = root / install.relative_to('/')
    for sub in ('bin', 'etc', 'lib/python3.11/site-packages'):
        (venv / sub).mkdir(parents=True)
    script = venv / 'bin' / 'hello'
    script.write_text(f'#!{install}/bin/python\nprint("hello")\n')
    script.chmod(0o755)
    (venv / 'bin' / 'python').symlink_to('/usr/bin/python3.11')
    (venv / 'etc' / 'hello.conf').write_text('[hello]\ngreeting = hi\n')
    (venv / 'lib/python3.11/site-packages/hello.py').write_text('X = 1\n')
    (venv / ODD_NAME).write_text('literal\n')
    return StagedTree(root=root, install_path=install,
                      config_files=(install / 'etc' / 'hello.conf',))


def run(*argv: str) -> str:
    return Runner().run(list(argv)).output


def dpkg(*argv: str) -> str:
    """Run dpkg, waiting while apt or another dpkg holds its lock."""
    for _ in range(60):
        result = Runner().run(['dpkg', *argv], check=False)
        if result.returncode == 0:
            return result.output
        if 'lock' not in result.output:
            raise AssertionError(f'dpkg {argv} failed:\n{result.output}')
        time.sleep(5)
    pytest.skip('the dpkg database stayed locked')


ROOT = Path(__file__).resolve().parents[1]
RPMLINT_FILTERS = ROOT / 'giftwrap' / 'templates' / 'rpmlint-giftwrap.toml'
PYTHON = Interpreter(Path('/usr/bin/python3.11'), '3.11.2')
UNIT = """\
[Unit]
Description={{ project.name }} test service
Documentation=https://opendev.org/x/giftwrap

[Service]
User={{ service.user }}
ExecStart={{ install_path }}/bin/python {{ install_path }}/bin/hello

[Install]
WantedBy=multi-user.target
"""


def account(name: str) -> str:
    return 'gw' + name.rsplit('-', 1)[1]


def service_fields(tmp_path: Path, name: str) -> dict:
    """Manifest values of a service: account, directories, unit, sudoers."""
    user = account(name)
    (tmp_path / 'hello.service.j2').write_text(UNIT)
    return dict(
        user=user, directories=(f'/var/lib/{user}', f'/var/log/{user}'),
        systemd_units={f'{user}.service': 'hello.service.j2'},
        sudoers={user: f'{user} ALL=(root) NOPASSWD: /bin/true\n'},
        scripts={'postinst': f'touch /var/lib/{user}/postinst-ran\n'},
        maintainer='giftwrap tests <giftwrap-tests@opendev.org>',
        homepage='https://opendev.org/x/giftwrap', license='Apache-2.0',
        summary='Hello, packaged by giftwrap for a test')


def build(builder, tmp_path: Path, name: str, version: str = '10.0-bbc1',
          manifest_dir: Path | None = None, options=None, **fields):
    """Build ``name`` with ``builder``; returns the artifact and install
    path.  Templates are relative to ``manifest_dir`` (default tmp_path)."""
    install = PurePosixPath('/opt') / name
    tree = stage(tmp_path / 'stage', install)
    project = Project(
        name='hello', package_name=name, version=version,
        package_version=versions.parse(version), install_path=install,
        giturl='https://opendev.org/x/hello', gitref='master',
        python='/usr/bin/python3.11', resolver='none',
        builders=('nfpm-deb',), resolver_options={}, builder_options={},
        where=f'{manifest_dir or tmp_path}/manifest.yml:1', **fields)
    checkout = Checkout(tmp_path / 'src', project.giturl, 'master', 'a' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    context = testing.build_context(
        tmp_path, project=project, package=package.describe(project, tree, PYTHON),
        interpreter=PYTHON, checkout=checkout, pins=Pins.of([]),
        options=options or {},
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=Runner(tmp_path / 'build.log'))
    return builder(context).build(tree), install


def findings(output: str, marker: str) -> list[str]:
    return [line for line in output.splitlines() if marker in line]


def need_root_dpkg() -> None:
    need('dpkg')
    if os.geteuid() != 0:
        pytest.skip('installing a package needs root')
    if not Path('/usr/bin/python3.11').exists():
        pytest.skip('the package depends on python3.11, not installed')
    if shutil.which('adduser') is None:
        pytest.skip('the package depends on adduser, not installed')


def forget_account(user: str) -> None:
    """Remove the test's account: packages keep it on purge, tests not."""
    for tool in ('userdel', 'groupdel'):
        Runner().run([tool, '--', user], check=False)


class Apt:
    """apt-get with a private sources list, lists, cache and log."""

    def __init__(self, base: Path, repo: Path, keyring: Path):
        base.mkdir(parents=True, exist_ok=True)
        for sub in ('lists/partial', 'cache/archives/partial', 'log'):
            (base / sub).mkdir(parents=True, exist_ok=True)
        sources = base / 'sources.list'
        sources.write_text(f'deb [signed-by={keyring}] file:{repo} '
                           'stable main\n')
        self.options = [
            '-o', f'Dir::Etc::sourcelist={sources}',
            '-o', 'Dir::Etc::sourceparts=-',
            '-o', f'Dir::State::Lists={base}/lists',
            '-o', f'Dir::State::extended_states={base}/extended_states',
            '-o', f'Dir::Cache={base}/cache',
            '-o', f'Dir::Cache::Archives={base}/cache/archives',
            '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=',
            '-o', f'Dir::Log={base}/log',
            '-o', 'APT::Sandbox::User=root',
            '-o', 'DPkg::Lock::Timeout=300']

    def run(self, *args: str, check: bool = True):
        env = signing.environment()
        env['DEBIAN_FRONTEND'] = 'noninteractive'
        return Runner().run(['apt-get', '-q', *self.options, *args], env=env,
                            check=check, timeout=600)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    app = shell.GiftwrapApp(stdout=out, stderr=err)
    app.command_manager.add_command('publish', Publish)
    return app.run(list(argv)), out.getvalue(), err.getvalue()
