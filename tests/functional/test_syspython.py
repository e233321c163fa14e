"""system_python_packages for real: python3-apt's apt_pkg (compiled, only
from Debian) linked into a virtualenv of /usr/bin/python3, packaged by
nfpm, installed with dpkg and imported; the .deb's Depends, the lock and
the SBOM; and the errors (a clash, another interpreter, a package that is
not installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from giftwrap.util.process import find_tool
from tests import projectutil
from tests.cli import giftwrap

PACKAGE = 'python3-apt'

pytestmark = [
    pytest.mark.skipif(find_tool('nfpm') is None,
                       reason='nfpm is not installed'),
    pytest.mark.skipif(shutil.which('dpkg-query') is None,
                       reason='the build machine must be Debian (dpkg)')]


def installed(package: str) -> bool:
    result = subprocess.run(['dpkg-query', '-W', '-f', '${db:Status-Status}',
                             package], capture_output=True, text=True)
    return result.stdout == 'installed'


def build(base: Path, system_python: list, *, requirements=('six',),
          pins='six==1.16.0\n', python='/usr/bin/python3',
          command='build', extra=()) -> tuple[int, list, str, str]:
    repo = base / 'hello-app'
    projectutil.sample_repo(repo, requirements=list(requirements),
                            extra_files={'requirements.txt': pins})
    install_base = f'/opt/giftwrap-syspy-{uuid.uuid4().hex[:8]}'
    (base / 'manifest.yml').write_text(textwrap.dedent(f"""\
        settings:
          version: '1.0-1'
          base_path: {install_base}
          package_name_format: 'gw-syspy-{{{{ project.name }}}}'
          builders: [nfpm-deb]
          resolver: requirements-file
          python: {python}
        projects:
          - name: hello-app
            giturl: {repo}
            system_python_packages: {json.dumps(system_python)}
        """))
    args = ['-m', str(base / 'manifest.yml'), '-f', 'json', *extra]
    if command == 'build':
        args += ['-o', str(base / 'out'), '--cache-dir', str(base / 'cache')]
    else:
        args += ['--lock-file', str(base / 'out' / 'giftwrap.lock')]
    status, stdout, stderr = giftwrap(command, *args)
    rows = json.loads(stdout) if stdout.strip().startswith('[') else []
    return status, rows, stderr, f'{install_base}/hello-app'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    if not installed(PACKAGE):
        pytest.skip(f'{PACKAGE} is not installed (tools/test.sh installs it)')
    base = tmp_path_factory.mktemp('syspython')
    status, rows, stderr, install = build(base, [PACKAGE])
    assert status == 0, stderr + json.dumps(rows)
    deb = Path(rows[0]['Artifact'])
    return {'deb': deb, 'install': install, 'out': base / 'out', 'base': base}


def test_deb_depends_on_the_package_and_ships_links(built):
    deb, install = built['deb'], built['install']
    depends = subprocess.run(['dpkg-deb', '-f', str(deb), 'Depends'],
                             capture_output=True, text=True,
                             check=True).stdout
    assert PACKAGE in [d.strip() for d in depends.split(',')]
    listing = subprocess.run(['dpkg-deb', '-c', str(deb)], capture_output=True,
                             text=True, check=True).stdout
    site = f'.{install}/lib/python3.11/site-packages'
    system = '/usr/lib/python3/dist-packages'
    for entry in ('apt', 'apt_pkg.cpython-311-x86_64-linux-gnu.so',
                  'python_apt-2.6.0.egg-info'):
        if not os.path.lexists(f'{system}/{entry}'):
            continue  # another python3-apt version; apt is checked below
        assert f'{site}/{entry} -> {system}/{entry}' in listing
    assert f'{site}/apt -> {system}/apt' in listing
    assert not any(line.startswith('-') and f'{site}/apt/' in line
                   for line in listing.splitlines())


def test_installed_package_imports_the_module(built):
    deb, install = built['deb'], built['install']
    name = subprocess.run(['dpkg-deb', '-f', str(deb), 'Package'],
                          capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(['dpkg', '-i', str(deb)], check=True, capture_output=True)
    try:
        code = ('import apt_pkg, importlib.metadata as m, sys; '
                'print(apt_pkg.__file__, m.version("python-apt"), sys.prefix)')
        out = subprocess.run([f'{install}/bin/python', '-c', code],
                             capture_output=True, text=True, check=True).stdout
        path, version, prefix = out.split()
        assert path.startswith(f'{install}/lib/python3.11/site-packages/')
        assert prefix == install
        assert version == dpkg_version(PACKAGE).split('+')[0]
        # the rest of the system's site-packages stays out of sight
        hidden = subprocess.run([f'{install}/bin/python', '-c', 'import yaml'],
                                capture_output=True, text=True)
        assert hidden.returncode != 0
    finally:
        subprocess.run(['dpkg', '--purge', name], check=True,
                       capture_output=True)


def dpkg_version(package: str) -> str:
    return subprocess.run(['dpkg-query', '-W', '-f', '${Version}', package],
                          capture_output=True, text=True,
                          check=True).stdout


def test_lock_and_sbom_record_the_system_package(built):
    lock = json.loads((built['out'] / 'giftwrap.lock').read_text())
    entry = lock['projects']['hello-app']
    arch = subprocess.run(['dpkg', '--print-architecture'], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert entry['system_python_packages'] == [{
        'name': PACKAGE, 'version': dpkg_version(PACKAGE), 'arch': arch,
        'format': 'deb'}]
    assert 'python-apt' not in entry['pins']
    sbom = json.loads(Path(str(built['deb']) + '.cdx.json').read_text())
    component = next(c for c in sbom['components'] if c['name'] == PACKAGE)
    assert component['version'] == dpkg_version(PACKAGE)
    assert component['purl'].startswith(f'pkg:deb/debian/{PACKAGE}@')
    assert component['purl'].endswith(f'?arch={arch}')
    properties = {p['name']: p['value'] for p in component['properties']}
    assert properties['giftwrap:kind'] == 'system-package'
    assert 'apt_pkg' in properties['giftwrap:linked-modules']
    assert properties['giftwrap:site-dir'] == '/usr/lib/python3/dist-packages'


def test_rebuild_from_a_lock_warns_when_the_package_moved(built, tmp_path):
    lock = json.loads((built['out'] / 'giftwrap.lock').read_text())
    lock['projects']['hello-app']['system_python_packages'][0][
        'version'] = '0.1-old'
    edited = tmp_path / 'giftwrap.lock'
    edited.write_text(json.dumps(lock))
    base = built['base']
    status, stdout, stderr = giftwrap(
        'build', '-m', str(base / 'manifest.yml'), '--lock', str(edited),
        '-o', str(tmp_path / 'out'), '--cache-dir', str(base / 'cache'))
    assert status == 0, stderr
    assert (f'not as locked: system_python_packages: {PACKAGE} 0.1-old -> '
            f'{dpkg_version(PACKAGE)}') in stderr


def test_lock_command_records_the_system_package(tmp_path):
    if not installed(PACKAGE):
        pytest.skip(f'{PACKAGE} is not installed')
    status, rows, stderr, _ = build(tmp_path, [PACKAGE], command='lock')
    assert status == 0, stderr
    lock = json.loads((tmp_path / 'out' / 'giftwrap.lock').read_text())
    assert lock['projects']['hello-app']['system_python_packages'][0][
        'version'] == dpkg_version(PACKAGE)


def test_clash_with_a_pinned_distribution_names_both(tmp_path):
    if not installed('python3-yaml'):
        pytest.skip('python3-yaml is not installed')
    status, rows, stderr, _ = build(tmp_path, ['python3-yaml'],
                                    requirements=['PyYAML'],
                                    pins='PyYAML==6.0.2\n')
    assert status == 7, stderr
    message = rows[0]['Message']
    assert 'python3-yaml brings PyYAML' in message
    assert 'pyyaml==6.0.2' in message
    assert 'pip_exclude' in rows[0]['Hint']


def test_a_package_that_is_not_installed_fails_with_the_install_hint(tmp_path):
    status, rows, stderr, _ = build(tmp_path, ['python3-giftwrap-no-such'])
    assert status == 7, stderr
    message = rows[0]['Message']
    assert 'python3-giftwrap-no-such, which is not installed' in message
    assert 'apt-get install python3-giftwrap-no-such' in rows[0]['Hint']


def test_another_interpreter_is_refused_before_any_work(tmp_path):
    if os.path.realpath(sys.executable).startswith('/usr/bin/'):
        pytest.skip('needs a Python that is not the distribution\'s')
    # trusted on the command line (else it is refused as untrusted, exit
    # 2): the bindings' ABI is what refuses it then
    python = os.path.realpath(sys.executable)
    status, rows, stderr, _ = build(tmp_path, [PACKAGE], python=python,
                                    extra=('--interpreter', python))
    assert status == 7
    assert 'needs the distribution\'s interpreter' in stderr
    assert 'ABI' in stderr
    assert not (tmp_path / 'out').exists()
