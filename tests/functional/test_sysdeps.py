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
from giftwrap.package import shlibs, sysdeps, sysdepsmemo
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


def _true_venv(path: Path) -> Path:
    """A tree with one real ELF program (it needs libc)."""
    (path / 'bin').mkdir(parents=True)
    shutil.copy('/usr/bin/true', path / 'bin' / 'true')
    return path


def _discover(venv: Path, cache: Path, log: Path, **kwargs):
    scratch = log.with_suffix('.scratch')
    scratch.mkdir()
    found = sysdeps.discover(venv, Runner(log), scratch=scratch,
                             host=Runner(log), cache_dir=cache,
                             candidates=['bin/true'], **kwargs)
    return found, log.read_text() if log.exists() else ''


def test_a_rebuild_with_the_same_files_and_host_remembers_the_answer(
        tmp_path, monkeypatch):
    """The same ELF files (the same inodes, as links from uv's cache are)
    on an unchanged host: no ldconfig, dpkg-query or dpkg-shlibdeps."""
    venv, cache = _true_venv(tmp_path / 'venv'), tmp_path / 'cache'
    state = tmp_path / 'dpkg-status'
    state.write_text('one\n')
    monkeypatch.setattr(sysdepsmemo, 'HOST_STATE', (str(state),))
    first, log = _discover(venv, cache, tmp_path / '1.log', remember=True)
    assert 'dpkg-query -S' in log and 'dpkg-shlibdeps' in log
    deb = {d.library: d.relation for d in first.depends['deb']}
    assert re.fullmatch(r'libc6 \(>= 2\.[0-9]+\)', deb['libc.so.6'])
    again, log = _discover(venv, cache, tmp_path / '2.log', remember=True)
    assert again == first
    assert log == ''  # nothing ran
    # not asked to remember (a target's container): asks again
    _, log = _discover(venv, cache, tmp_path / '3.log')
    assert 'dpkg-query -S' in log
    # a package installed or removed: the database is written anew
    renamed = tmp_path / 'status-new'
    renamed.write_text('two\n')
    renamed.replace(state)
    _, log = _discover(venv, cache, tmp_path / '4.log', remember=True)
    assert 'dpkg-query -S' in log
    # another file at the same path (a new inode): asked again
    shutil.copy('/usr/bin/false', venv / 'bin' / 'true.new')
    (venv / 'bin' / 'true.new').replace(venv / 'bin' / 'true')
    _, log = _discover(venv, cache, tmp_path / '5.log', remember=True)
    assert 'dpkg-query -S' in log


@pytest.mark.parametrize('relation', [
    'libc6 (>= 2.34)\nDescription: injected', 'libc6 (>= 2.34)\x00',
    ['not', 'a', 'string']])
def test_a_tampered_memo_is_ignored(tmp_path, relation):
    """The cache is only a file: a memo whose relations could put a line
    of their own into a control file is not used."""
    venv, cache = _true_venv(tmp_path / 'venv'), tmp_path / 'cache'
    first, _ = _discover(venv, cache, tmp_path / '1.log', remember=True)
    memo, = (cache / 'shlibs').glob('discovered-*.json')
    data = json.loads(memo.read_text())
    data['depends']['deb'][0][0] = relation
    memo.write_text(json.dumps(data))
    again, log = _discover(venv, cache, tmp_path / '2.log', remember=True)
    assert 'dpkg-query -S' in log
    assert again == first
