"""system_python_packages: the key, which files are linked, the checks, and
what the package, lock and SBOM say; a recording runner plays dpkg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors, testing
from giftwrap.manifest import loader as manifest
from giftwrap.package import description as package
from giftwrap.trust import lockfile, sbom
from giftwrap.venv import syspython
from giftwrap.package.builder import StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.util.process import Result
from tests.sbomutil import write_artifact

SYSTEM_PYTHON = Interpreter(Path('/usr/bin/python3.11'), '3.11.2',
                            owner='python3.11-minimal')
SITE = '/usr/lib/python3/dist-packages'


def load(tmp_path: Path, settings: str = '', project: str = ''):
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent("""\
        settings:
          version: '1.0-1'
        {settings}
        projects:
          - name: nova
        {project}
        """).format(settings=textwrap.indent(settings, '  '),
                    project=textwrap.indent(project, '    ')))
    return manifest.load(path).render('nova')


# -- the key ------------------------------------------------------------


def test_key_adds_up_per_format(tmp_path):
    project = load(tmp_path, 'system_python_packages: [python3-rbd]',
                   'system_python_packages:\n  deb: [python3-libvirt]\n'
                   '  rpm: [libvirt-python3]')
    assert syspython.requested(project, 'deb') == (
        'python3-rbd', 'python3-libvirt')
    assert syspython.requested(project, 'rpm') == (
        'python3-rbd', 'libvirt-python3')
    assert syspython.requested(project, None) == ('python3-rbd',)


@pytest.mark.parametrize('value,what', [
    ('[python3-rbd >= 1]', "entry 'python3-rbd >= 1' is not a package name"),
    ('[-python3-rbd]', 'is not a package name'),
    ('{debian: [python3-rbd]}', "unknown format 'debian'"),
    ('python3-rbd', 'must be a list'),
])
def test_bad_values_name_the_line(tmp_path, value, what):
    with pytest.raises(errors.ManifestError) as info:
        load(tmp_path, project=f'system_python_packages: {value}')
    assert what in info.value.what
    assert info.value.where.endswith('manifest.yml:6')


def test_packages_become_dependencies_of_every_format(tmp_path):
    project = load(tmp_path, project='system_python_packages:\n'
                   '  all: [python3-rbd]\n  rpm: [python3-rados]')
    tree = StagedTree(root=tmp_path / 'root',
                      install_path=project.install_path)
    (tree.venv / 'lib/python3.11/site-packages').mkdir(parents=True)
    described = package.describe(project, tree, SYSTEM_PYTHON)
    assert described.target('deb').depends == ('python3.11', 'python3-rbd')
    assert described.target('rpm').depends == ('python3.11', 'python3-rbd',
                                               'python3-rados')


# -- which files ----------------------------------------------------------

LISTING = [
    '/.', '/usr', '/usr/lib/python3', SITE,
    f'{SITE}/apt', f'{SITE}/apt/__init__.py', f'{SITE}/apt/cache.py',
    f'{SITE}/apt/__pycache__', f'{SITE}/apt/__pycache__/x.pyc',
    f'{SITE}/apt_pkg.cpython-311-x86_64-linux-gnu.so',
    f'{SITE}/apt_pkg-stubs', f'{SITE}/apt_pkg-stubs/__init__.pyi',
    f'{SITE}/python_apt-2.6.0.egg-info',
    f'{SITE}/python_apt-2.6.0.egg-info/PKG-INFO',
    f'{SITE}/apt.pth', f'{SITE}/__pycache__',
    '/usr/share/doc/python3-apt/copyright',
]


def test_select_keeps_top_level_modules_and_metadata():
    assert syspython.select(LISTING, ['/usr/local/lib/python3.11/dist-packages',
                                      SITE]) == [
        f'{SITE}/apt', f'{SITE}/apt_pkg-stubs',
        f'{SITE}/apt_pkg.cpython-311-x86_64-linux-gnu.so',
        f'{SITE}/python_apt-2.6.0.egg-info']


def test_select_finds_nothing_outside_the_site_dirs():
    assert syspython.select(LISTING, ['/usr/lib64/python3.11/site-packages']
                            ) == []


def test_select_refuses_a_namespace_package():
    with pytest.raises(errors.BuildError) as info:
        syspython.select([f'{SITE}/google', f'{SITE}/google/auth',
                          f'{SITE}/google/auth/__init__.py'], [SITE])
    assert 'google is a namespace package' in info.value.what


# -- the checks -------------------------------------------------------------


@pytest.mark.parametrize('python', [
    Interpreter(Path('/root/.pyenv/versions/3.11.7/bin/python3.11'),
                '3.11.7'),
    Interpreter(Path('/usr/local/bin/python3.12'), '3.12.1'),
    Interpreter(Path('/usr/bin/python3.11'), '3.11.2', owner=None)])
def test_only_the_distributions_interpreter(tmp_path, python):
    project = load(tmp_path, project='system_python_packages: [python3-rbd]')
    with pytest.raises(errors.BuildError) as info:
        syspython.check_interpreter(project, python)
    assert str(python.path) in info.value.what and 'ABI' in info.value.what
    assert info.value.where.endswith('manifest.yml:6')


def test_any_interpreter_without_the_key(tmp_path):
    syspython.check_interpreter(load(tmp_path), Interpreter(
        Path('/opt/python/bin/python3'), '3.12.0'))


def dpkg_runner(site: Path, packages) -> testing.RecordingRunner:
    """Answers dpkg-query and the interpreter's site probe from a fake
    system site directory."""

    def respond(call: testing.Call) -> Result:
        argv = call.argv
        if argv[1:4] == ('-I', '-c', syspython._SITE_PROBE):
            return Result(argv, 0, json.dumps([str(site)]) + '\n')
        if argv[1] == '-I':  # the metadata probe: real files, real Python
            done = subprocess.run([sys.executable, *argv[1:]], check=True,
                                  capture_output=True, text=True)
            return Result(argv, 0, done.stdout)
        name = argv[-1]
        if name not in packages:
            return Result(argv, 1, f'dpkg-query: no packages found matching '
                                   f'{name}\n')
        if argv[1] == '-W':
            return Result(argv, 0, 'installed\t2.6.0\tamd64\n')
        return Result(argv, 0, ''.join(f'{site}/{e}\n'
                                       for e in packages[name]))

    return testing.RecordingRunner(respond=respond)


@pytest.fixture
def system(tmp_path) -> Path:
    """A system site directory holding python3-apt's files."""
    site = tmp_path / 'system'
    (site / 'apt').mkdir(parents=True)
    (site / 'apt' / '__init__.py').write_text('')
    (site / 'apt_pkg.so').write_bytes(b'\x7fELF')
    info = site / 'python_apt-2.6.0.egg-info'
    info.mkdir()
    (info / 'PKG-INFO').write_text('Name: python-apt\nVersion: 2.6.0\n')
    return site


@pytest.fixture
def venv(tmp_path) -> Path:
    site = tmp_path / 'venv/lib/python3.11/site-packages'
    site.mkdir(parents=True)
    return tmp_path / 'venv'


APT = {'python3-apt': ['apt', 'apt/__init__.py', 'apt_pkg.so',
                       'python_apt-2.6.0.egg-info',
                       'python_apt-2.6.0.egg-info/PKG-INFO']}


def test_link_makes_absolute_links_and_reports_versions(tmp_path, system,
                                                        venv):
    project = load(tmp_path, project='system_python_packages: [python3-apt]')
    runner = dpkg_runner(system, APT)
    found, = syspython.link(venv, project, SYSTEM_PYTHON, runner, 'deb',
                            {'six': '1.16.0'})
    site = venv / 'lib/python3.11/site-packages'
    assert sorted(os.listdir(site)) == ['apt', 'apt_pkg.so',
                                        'python_apt-2.6.0.egg-info']
    assert os.readlink(site / 'apt') == f'{system}/apt'
    assert (found.name, found.version, found.arch) == ('python3-apt', '2.6.0',
                                                       'amd64')
    assert found.distributions == ('python-apt==2.6.0',)
    assert found.to_json() == {'name': 'python3-apt', 'version': '2.6.0',
                               'arch': 'amd64', 'format': 'deb'}
    assert ('dpkg-query', '-L', '--', 'python3-apt') in runner.argvs()


def test_link_without_the_key_asks_nothing(tmp_path, venv):
    runner = dpkg_runner(tmp_path, {})
    assert syspython.link(venv, load(tmp_path), SYSTEM_PYTHON, runner, 'deb',
                          {}) == ()
    assert runner.calls == []


def test_not_installed_gives_the_install_command(tmp_path, system, venv):
    project = load(tmp_path, project='system_python_packages: [python3-rbd]')
    with pytest.raises(errors.BuildError) as info:
        syspython.link(venv, project, SYSTEM_PYTHON, dpkg_runner(system, APT), 'deb',
                       {})
    assert 'python3-rbd, which is not installed' in info.value.what
    assert 'apt-get install python3-rbd' in info.value.hint


def test_rpm_hint_is_dnf(tmp_path, system, venv):
    with pytest.raises(errors.BuildError) as info:
        syspython.query('python3-rbd', 'rpm', dpkg_runner(system, {}))
    assert 'dnf install python3-rbd' in info.value.hint


def test_clash_by_distribution_names_both(tmp_path, system, venv):
    project = load(tmp_path, project='system_python_packages: [python3-apt]')
    with pytest.raises(errors.BuildError) as info:
        syspython.link(venv, project, SYSTEM_PYTHON, dpkg_runner(system, APT), 'deb',
                       {'python-apt': '2.7.0'})
    assert info.value.what.startswith(
        'python3-apt brings python-apt 2.6.0, which the virtualenv has from '
        'the pins already (python-apt==2.7.0)')
    assert 'pip_exclude' in info.value.hint
    assert not os.listdir(venv / 'lib/python3.11/site-packages')


def test_clash_by_module_names_the_owner(tmp_path, system, venv):
    site = venv / 'lib/python3.11/site-packages'
    (site / 'apt').mkdir()
    owner = site / 'other_apt-1.0.dist-info'
    owner.mkdir()
    (owner / 'METADATA').write_text('Name: other-apt\nVersion: 1.0\n')
    (owner / 'RECORD').write_text('apt/__init__.py,,\n')
    project = load(tmp_path, project='system_python_packages: [python3-apt]')
    with pytest.raises(errors.BuildError) as info:
        syspython.link(venv, project, SYSTEM_PYTHON, dpkg_runner(system, APT), 'deb',
                       {'other-apt': '1.0'})
    assert 'the module apt' in info.value.what
    assert '(other-apt==1.0)' in info.value.what


def test_a_package_without_modules(tmp_path, system, venv):
    project = load(tmp_path, project='system_python_packages: [python3-doc]')
    with pytest.raises(errors.BuildError) as info:
        syspython.link(venv, project, SYSTEM_PYTHON,
                       dpkg_runner(system, {'python3-doc': []}), 'deb', {})
    assert 'installs no Python module' in info.value.what


# -- the lock and the SBOM ------------------------------------------------


def entry(**extra) -> lockfile.Entry:
    return lockfile.Entry(giturl='https://x.invalid/nova', gitref='master',
                          commit='a' * 40, resolver='none', provenance={},
                          pins={}, interpreter={}, **extra)


def test_lock_round_trip_and_old_locks(tmp_path):
    path = tmp_path / 'giftwrap.lock'
    packages = ({'name': 'python3-apt', 'version': '2.6.0', 'arch': 'amd64',
                 'format': 'deb'},)
    lockfile.merge(path, {'nova': entry(system_python_packages=packages),
                          'glance': entry()})
    data = json.loads(path.read_text())
    assert 'system_python_packages' not in data['projects']['glance']
    read = lockfile.read(path)
    assert read['nova'].system_python_packages == packages
    assert read['glance'].system_python_packages == ()


def test_sbom_gives_the_linked_version(tmp_path, inputs):
    import dataclasses
    inputs.package = dataclasses.replace(
        inputs.package, depends=(*inputs.package.depends, 'python3-apt'))
    linked = syspython.SystemPackage(
        'python3-apt', '2.6.0', 'amd64', 'deb', SITE,
        ('apt', 'apt_pkg.so'), ('python-apt==2.6.0',))
    artifact = write_artifact(tmp_path, 'x_1_all.deb')
    bom = json.loads(sbom.write(artifact, **inputs.kwargs(
        system_python=(linked,))).read_text())
    component = next(c for c in bom['components']
                     if c['name'] == 'python3-apt')
    assert component['version'] == '2.6.0'
    assert component['purl'].endswith('/python3-apt@2.6.0?arch=amd64')
    properties = {p['name']: p['value'] for p in component['properties']}
    assert properties == {'giftwrap:kind': 'system-package',
                          'giftwrap:linked-modules': 'apt apt_pkg.so',
                          'giftwrap:site-dir': SITE,
                          'giftwrap:python-distribution': 'python-apt==2.6.0'}
    other = next(c for c in bom['components'] if c['name'] == 'python3.11')
    assert 'version' not in other


def test_changes_since_the_lock():
    linked = [syspython.SystemPackage('python3-apt', '2.6.1', 'amd64', 'deb')]
    assert syspython.changed([{'name': 'python3-apt', 'version': '2.6.0'}],
                             linked) == [
        'system_python_packages: python3-apt 2.6.0 -> 2.6.1']
    assert syspython.changed([], linked) == [
        'system_python_packages: python3-apt (not locked) -> 2.6.1']
    assert syspython.changed([p.to_json() for p in linked], linked) == []


def test_diff_shows_linked_package_changes():
    from giftwrap.trust import lockdiff

    def apt(version):
        return ({'name': 'python3-apt', 'version': version, 'arch': 'amd64',
                 'format': 'deb'},)
    old = {'nova': entry(system_python_packages=apt('2.6.0')),
           'glance': entry()}
    new = {'nova': entry(system_python_packages=apt('2.6.0+deb12u1')),
           'glance': entry(system_python_packages=apt('2.6.0'))}
    assert [c.row() for c in lockdiff.diff(old, new)] == [
        ('glance', 'system package', 'python3-apt', '', '2.6.0'),
        ('nova', 'system package', 'python3-apt', '2.6.0', '2.6.0+deb12u1')]
