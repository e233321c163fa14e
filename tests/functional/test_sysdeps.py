"""System dependencies for real: bindep.txt, a C extension linking libyaml,
ldconfig and dpkg-query, the Depends of a .deb and the Requires of an .rpm.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.package import shlibs, sysdeps
from giftwrap.util.process import Runner, find_tool
from tests import projectutil
from tests.cli import giftwrap

pytestmark = [
    pytest.mark.skipif(find_tool('nfpm') is None, reason='nfpm is not installed'),
    pytest.mark.skipif(shutil.which('dpkg-query') is None,
                       reason='the build machine must be Debian (dpkg)')]

BINDEP = """\
tzdata [runtime]
libxml2 [platform:dpkg runtime]
libxml2-libs [platform:rpm runtime]
libexpat1 [platform:debian-12 runtime]
libldap-2.5-0 [platform:dpkg ldap]
mariadb-server
giftwrap-no-such-header-dev
libyaml-dev [platform:dpkg compile]
libyaml-devel [platform:rpm compile]
mysql-server [test]
graphviz [doc]
"""


def build(base: Path, bindep: str, builders: str, **settings) -> tuple:
    repo = base / 'hello-yaml'
    projectutil.sample_repo(
        repo, name='hello-yaml', requirements=['six'], libyaml=True,
        extra_files={'requirements.txt': 'six==1.16.0\n',
                     'bindep.txt': bindep})
    extra = ''.join(f'  {k}: {json.dumps(v)}\n' for k, v in settings.items())
    (base / 'manifest.yml').write_text(textwrap.dedent(f"""\
        settings:
          version: '1.0-1'
          base_path: /opt/giftwrap-sysdeps-{uuid.uuid4().hex[:8]}
          package_name_format: 'gw-{{{{ project.name }}}}'
          builders: [{builders}]
          resolver: requirements-file
        projects:
          - name: hello-yaml
            giturl: {repo}
        """).replace('settings:\n', 'settings:\n' + extra, 1))
    status, stdout, stderr = giftwrap(
        'build', '-m', str(base / 'manifest.yml'), '-o', str(base / 'out'),
        '--cache-dir', str(base / 'cache'), '-f', 'json')
    return status, json.loads(stdout or '[]'), stderr


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    if not (projectutil.can_build_c_extension() and
            projectutil.can_link_libyaml()):
        pytest.skip('needs a C compiler, python3-dev and libyaml-dev')
    base = tmp_path_factory.mktemp('sysdeps')
    status, rows, stderr = build(base, BINDEP, 'nfpm-deb, nfpm-rpm',
                                 bindep_profiles=['runtime', 'ldap'])
    assert status == 0, stderr
    return {r['Builder']: Path(r['Artifact']) for r in rows}


def test_deb_depends(built):
    deb = built['nfpm-deb']
    assert '_all' not in deb.name  # compiled code: architecture-specific
    depends = Runner().run(['dpkg-deb', '-f', '--', str(deb), 'Depends']
                           ).output.strip().split(', ')
    assert depends[:5] == ['python3.11', 'tzdata', 'libxml2', 'libexpat1',
                           'libldap-2.5-0']
    # What the extension links (it calls nothing of libc directly).
    assert depends[5:] == ['libyaml-0-2']
    for build_only in ('libyaml-dev', 'mysql-server', 'graphviz',
                       'mariadb-server', 'giftwrap-no-such-header-dev'):
        assert build_only not in depends


def test_rpm_requires(built):
    if shutil.which('rpm') is None:
        pytest.skip('rpm is not installed')
    requires = Runner().run(['rpm', '-qp', '--requires', '--',
                             str(built['nfpm-rpm'])]).output.splitlines()
    assert {'python3.11', 'tzdata', 'libxml2-libs',
            'libyaml-0.so.2()(64bit)'} <= set(requires)
    assert not {'libxml2', 'libexpat1', 'libyaml-devel'} & set(requires)


def test_discover_finds_libyaml_and_its_owner(tmp_path):
    if not (projectutil.can_build_c_extension() and
            projectutil.can_link_libyaml()):
        pytest.skip('needs a C compiler, python3-dev and libyaml-dev')
    # A plain build of the extension: no virtualenv needed to read ELF.
    src = projectutil.write_sample_project(tmp_path / 'src', libyaml=True,
                                           requirements=())
    Runner().run(['/usr/bin/python3', 'setup.py', '-q', 'build_ext',
                  '--build-lib', str(tmp_path / 'venv/lib')], cwd=src,
                 check=False)
    if not list((tmp_path / 'venv').rglob('*.so')):
        pytest.skip('setuptools could not build the extension here')
    found = sysdeps.discover(tmp_path / 'venv', Runner())
    deb = {d.library: d.relation for d in found.depends['deb']}
    assert deb['libyaml-0.so.2'] == 'libyaml-0-2'  # no scratch: unversioned
    assert 'libyaml-0.so.2()(64bit)' in {
        d.relation for d in found.depends['rpm']}
    # A real program that uses versioned libc symbols, beside it.
    (tmp_path / 'venv/bin').mkdir()
    shutil.copy('/usr/bin/true', tmp_path / 'venv/bin/true')
    (tmp_path / 'scratch').mkdir()
    found = sysdeps.discover(tmp_path / 'venv', Runner(),
                             scratch=tmp_path / 'scratch', host=Runner())
    deb = {d.library: d.relation for d in found.depends['deb']}
    # dpkg-shlibdeps, from the symbols files: libyaml-0-2's are all
    # version 0 (so unversioned, as Debian's own packages depend on it);
    # libc6's give the newest symbol the program uses.
    assert deb['libyaml-0.so.2'] == 'libyaml-0-2'
    assert re.fullmatch(r'libc6 \(>= 2\.[0-9]+\)', deb['libc.so.6'])
    rpm = {d.relation for d in found.depends['rpm']}
    assert 'libyaml-0.so.2()(64bit)' in rpm
    # rpm's generator: the glibc symbol versions
    assert any(re.fullmatch(r'libc\.so\.6\(GLIBC_2\.[0-9.]+\)\(64bit\)', r)
               for r in rpm), rpm


def test_shlibs_files_version_where_dpkg_shlibdeps_is_missing():
    # What a target image without dpkg-dev gives: the owner's shlibs entry
    # (real dpkg-query on this machine).
    if shutil.which('dpkg-query') is None:
        pytest.skip('dpkg-query is not installed')
    relations = shlibs._from_shlibs_files({'libc.so.6': 'libc6'}, Runner())
    assert re.fullmatch(r'libc6 \(>= [0-9.]+\)', relations['libc6'])


def test_missing_build_dependencies_fail_before_the_virtualenv(tmp_path):
    bindep = 'libyaml-dev [compile]\ngiftwrap-no-such-package [build]\n' \
             'also-missing [compile] >=2\nnot-checked [test]\n'
    status, rows, stderr = build(tmp_path, bindep, 'nfpm-deb')
    assert status == errors.BuildError.exit_code
    message = rows[0]['Message']
    assert ('bindep.txt lists build dependencies that are not installed: '
            'giftwrap-no-such-package, also-missing >= 2') in message
    assert 'apt-get install giftwrap-no-such-package also-missing' in \
        rows[0]['Hint']
    assert 'virtualenv' not in stderr.split('build dependencies')[-1]


def test_check_build_host_with_dpkg(tmp_path):
    (tmp_path / 'bindep.txt').write_text(
        'dpkg [build]\ndpkg [build] >=1.0\nlibc6 [compile] <1.0\n')
    found = sysdeps.read_bindep(tmp_path)
    with pytest.raises(errors.BuildError) as info:
        sysdeps.check_build_host(found, Runner())
    assert info.value.what.endswith(
        'not installed: libc6 < 1.0 (installed: '
        + Runner().run(['dpkg-query', '-W', '-f', '${Version}', 'libc6']
                       ).output + ')')
    assert info.value.hint == 'install them (apt-get install libc6) and ' \
        'build again'


def test_missing_profile_less_headers_are_a_hint_not_an_error(tmp_path):
    # Written for CI nodes: a missing header fails nothing by itself.
    (tmp_path / 'bindep.txt').write_text(
        'giftwrap-no-such-header-dev\nlibc6-dev\nmariadb-server\n')
    found = sysdeps.read_bindep(tmp_path)
    hint = sysdeps.check_build_host(found, Runner())
    assert hint == ('bindep.txt lists headers that are not installed here: '
                    'apt-get install giftwrap-no-such-header-dev')
    (tmp_path / 'bindep.txt').write_text('libc6-dev\n')
    assert sysdeps.check_build_host(sysdeps.read_bindep(tmp_path),
                                    Runner()) == ''
