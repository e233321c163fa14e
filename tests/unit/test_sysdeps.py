"""Unit tests of system dependencies: bindep.txt, ELF files, the manifest."""

from __future__ import annotations

import struct
import types
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.package import sysdeps
from tests.modelutil import make_project

DEBIAN = sysdeps.host({'ID': 'debian', 'VERSION_ID': '12',
                       'VERSION_CODENAME': 'bookworm'})
FEDORA = sysdeps.host({'ID': 'fedora', 'VERSION_ID': '40'})
X86_64 = 62

BINDEP = """\
# runtime, every platform
tzdata
libxml2 [platform:dpkg]
libxml2-libs [platform:rpm]
libvirt0 [platform:debian-12]
libldap-2.5-0 [platform:dpkg ldap]
# build-only
libyaml-dev [platform:dpkg compile]
libyaml-devel [platform:rpm compile]
gcc [build]
mysql-server [test]
graphviz [doc]
libssl3 [platform:dpkg !ldap]
qemu-img [platform:dpkg] >=7.0
libpq5 !=15.1,<16
"""


def make_elf(path: Path, *, needed=(), soname: str = '', elf_class: int = 2,
             big_endian: bool = False, machine: int = X86_64) -> Path:
    """A minimal shared object: one PT_LOAD, a dynamic section, a string
    table, in either class and byte order."""
    end = '>' if big_endian else '<'
    header, phdr, dyn = (struct.Struct(end + f)
                         for f in sysdeps._LAYOUT[elf_class])
    strings, offsets = b'\0', {}
    for name in [*needed, soname]:
        if name:
            offsets[name] = len(strings)
            strings += name.encode() + b'\0'
    phoff = 16 + header.size
    strtab = phoff + 2 * phdr.size
    dynamic = strtab + len(strings) + (-(strtab + len(strings)) % 8)
    base = 0x400000
    entries = [(1, offsets[n]) for n in needed]
    entries += [(14, offsets[soname])] if soname else []
    entries += [(5, base + strtab), (0, 0)]
    dyn_bytes = b''.join(dyn.pack(t, v) for t, v in entries)
    total = dynamic + len(dyn_bytes)

    def segment(kind, offset, size):
        if elf_class == 1:
            return phdr.pack(kind, offset, base + offset, base + offset,
                             size, size, 4, 0x1000)
        return phdr.pack(kind, 4, offset, base + offset, base + offset,
                         size, size, 0x1000)

    ident = b'\x7fELF' + bytes([elf_class, 2 if big_endian else 1, 1]) + \
        b'\0' * 9
    data = (ident + header.pack(3, machine, 1, 0, phoff, 0, 0,
                                16 + header.size, phdr.size, 2, 0, 0, 0)
            + segment(1, 0, total) + segment(2, dynamic, len(dyn_bytes))
            + strings)
    data += b'\0' * (dynamic - len(data)) + dyn_bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_bindep(tmp_path: Path, text: str = BINDEP) -> sysdeps.Bindep:
    (tmp_path / 'bindep.txt').write_text(text)
    return sysdeps.read_bindep(tmp_path)


# -- platforms ----------------------------------------------------------------

def test_host_profiles_as_bindep_names_them():
    assert DEBIAN.family == 'dpkg'
    assert {'platform:debian', 'platform:debian-12', 'platform:dpkg',
            'platform:debian-bookworm'} <= set(DEBIAN.profiles)
    assert FEDORA.family == 'rpm'
    assert {'platform:fedora', 'platform:fedora-40', 'platform:rpm',
            'platform:redhat'} <= set(FEDORA.profiles)


def test_host_family_from_id_like():
    rocky = sysdeps.host({'ID': 'rocky', 'ID_LIKE': 'rhel centos fedora',
                          'VERSION_ID': '9.3'})
    assert rocky.family == 'rpm'
    assert {'platform:rocky-9', 'platform:rocky-9.3'} <= set(rocky.profiles)
    assert sysdeps.host({}).family is None


# -- bindep.txt ---------------------------------------------------------------

def test_parsed_rules_come_from_the_cache_the_second_time(tmp_path):
    cache = tmp_path / 'cache'
    (tmp_path / 'bindep.txt').write_text(BINDEP)
    first = sysdeps.read_bindep(tmp_path, cache)
    stored = list((cache / 'bindep').iterdir())
    assert len(stored) == 1
    second = sysdeps.read_bindep(tmp_path, cache)
    for profiles in (DEBIAN.profiles, FEDORA.profiles,
                     (*DEBIAN.profiles, 'compile', 'test')):
        assert second.active(profiles) == first.active(profiles)
    for fmt in ('deb', 'rpm'):
        assert sysdeps.runtime(second, fmt) == sysdeps.runtime(first, fmt)
    # a garbled cache entry is parsed again, not trusted
    stored[0].write_text('{not json')
    assert sysdeps.read_bindep(tmp_path, cache).active(DEBIAN.profiles) == \
        first.active(DEBIAN.profiles)


def test_no_bindep_file(tmp_path):
    assert sysdeps.read_bindep(tmp_path) is None
    assert sysdeps.runtime(None, 'deb') == ()
    sysdeps.check_build_host(None, runner=None, build_host=DEBIAN)


def test_unparsable_bindep_file(tmp_path):
    with pytest.raises(errors.BuildError, match='cannot parse bindep.txt'):
        write_bindep(tmp_path, 'libfoo [platform:dpkg\n')


def test_profile_less_entries_are_never_runtime(tmp_path):
    # bindep.txt is written for CI test nodes: without bindep_profiles
    # nothing of it is a runtime dependency.
    found = write_bindep(tmp_path)
    assert sysdeps.runtime(found, 'deb', build_host=DEBIAN) == ()
    assert sysdeps.runtime(found, 'rpm', build_host=DEBIAN) == ()


def test_only_entries_naming_a_profile_are_runtime(tmp_path):
    found = write_bindep(tmp_path)
    # bindep selects profile-less entries under every selection; they must
    # not come back when a profile is named.
    assert sysdeps.runtime(found, 'deb', ['ldap'], build_host=DEBIAN) == (
        'libldap-2.5-0',)
    assert sysdeps.runtime(found, 'rpm', ['ldap'], build_host=DEBIAN) == ()


def test_profile_entries_filtered_by_platform(tmp_path):
    found = write_bindep(tmp_path, 'libvirt0 [platform:debian-12 virt]\n'
                                   'libvirt [platform:rpm virt]\n')
    assert sysdeps.runtime(found, 'deb', ['virt'], build_host=DEBIAN) == (
        'libvirt0',)
    # An rpm host building a deb knows nothing of Debian 12.
    assert sysdeps.runtime(found, 'deb', ['virt'], build_host=FEDORA) == ()
    assert sysdeps.runtime(found, 'rpm', ['virt'], build_host=DEBIAN) == (
        'libvirt',)


def test_profile_less_headers_are_listed_for_the_build_host(tmp_path):
    found = write_bindep(tmp_path, 'libldap2-dev\nmariadb-server\n'
                                   'libpq-dev [test]\n')
    assert [r[0] for r in sysdeps.headers(found, DEBIAN)] == ['libldap2-dev']


def test_build_only_entries_are_never_runtime(tmp_path):
    found = write_bindep(tmp_path)
    everything = set()
    for fmt in ('deb', 'rpm'):
        everything |= set(sysdeps.runtime(
            found, fmt, ['compile', 'test', 'doc', 'build'],
            build_host=DEBIAN))
    assert not everything & {'libyaml-dev', 'libyaml-devel', 'gcc',
                             'mysql-server', 'graphviz'}


def test_build_only_entries_checked_on_this_machine(tmp_path):
    found = write_bindep(tmp_path)
    names = [r[0] for r in sysdeps.build_only(found, DEBIAN)]
    assert names == ['libyaml-dev', 'gcc']  # not test, not doc
    assert [r[0] for r in sysdeps.build_only(found, FEDORA)] == [
        'libyaml-devel', 'gcc']


# -- ELF ------------------------------------------------------------------------

@pytest.mark.parametrize('elf_class, big_endian', [
    (2, False), (1, False), (2, True), (1, True)])
def test_read_elf(tmp_path, elf_class, big_endian):
    path = make_elf(tmp_path / 'libx.so', needed=('libyaml-0.so.2',
                                                  'libc.so.6'),
                    soname='libx.so.1', elf_class=elf_class,
                    big_endian=big_endian)
    assert sysdeps.read_elf(path) == sysdeps.Elf(
        elf_class, X86_64, ('libyaml-0.so.2', 'libc.so.6'), 'libx.so.1')


def test_read_elf_of_other_files(tmp_path):
    (tmp_path / 'x.py').write_text('print(1)\n')
    assert sysdeps.read_elf(tmp_path / 'x.py') is None
    (tmp_path / 'short').write_bytes(b'\x7fELF\x02')
    assert sysdeps.read_elf(tmp_path / 'short') is None
    (tmp_path / 'cut').write_bytes(
        make_elf(tmp_path / 'whole.so').read_bytes()[:30])
    with pytest.raises(ValueError):
        sysdeps.read_elf(tmp_path / 'cut')


def test_libraries_bundled_in_the_virtualenv_are_not_needed(tmp_path):
    venv = tmp_path / 'venv'
    site = venv / 'lib/python3.11/site-packages'
    make_elf(site / 'yaml/_yaml.so', needed=('libyaml-0.so.2', 'libc.so.6'))
    make_elf(site / 'numpy/core/_multiarray.so',
             needed=('libopenblas-r0.so', 'libc.so.6', 'libm.so.6'))
    make_elf(site / 'numpy.libs/libopenblas-r0.so', soname='libopenblas-r0.so',
             needed=('libgfortran-1a2b.so.5',))
    make_elf(site / 'numpy.libs/libgfortran-1a2b.so.5')
    (venv / 'bin').mkdir()
    (venv / 'bin/python').symlink_to('/usr/bin/python3.11')  # not followed
    needed = sysdeps.needed_libraries(venv)
    assert [lib.soname for lib in needed] == [
        'libc.so.6', 'libm.so.6', 'libyaml-0.so.2']
    assert needed[2].needed_by == 'lib/python3.11/site-packages/yaml/_yaml.so'


def test_rpm_capabilities():
    assert sysdeps.Library('libyaml-0.so.2', 2, X86_64, 'x').rpm_capability \
        == 'libyaml-0.so.2()(64bit)'
    assert sysdeps.Library('libyaml-0.so.2', 1, 3, 'x').rpm_capability == \
        'libyaml-0.so.2'


def test_locate_prefers_the_same_class_and_machine(tmp_path):
    lib32 = make_elf(tmp_path / 'lib32/libfoo.so.1', elf_class=1)
    lib64 = make_elf(tmp_path / 'lib64/libfoo.so.1')
    cache = {'libfoo.so.1': [str(lib32), str(lib64)]}
    wanted = sysdeps.Library('libfoo.so.1', 2, X86_64, 'x')
    assert sysdeps.locate(wanted, cache) == str(lib64)
    assert sysdeps.locate(sysdeps.Library('libnone.so.9', 2, X86_64, 'x'),
                          cache) is None


def test_dpkg_paths_with_and_without_merged_usr():
    variants = sysdeps._path_variants('/lib/x86_64-linux-gnu/libfoo.so.1')
    assert '/usr/lib/x86_64-linux-gnu/libfoo.so.1' in variants
    assert '/lib/x86_64-linux-gnu/libfoo.so.1' in sysdeps._path_variants(
        '/usr/lib/x86_64-linux-gnu/libfoo.so.1')


# -- the manifest's control ---------------------------------------------------------

DISCOVERED = sysdeps.Discovered(
    libraries=(sysdeps.Library('libyaml-0.so.2', 2, X86_64, 'a/_yaml.so'),
               sysdeps.Library('libc.so.6', 2, X86_64, 'a/_yaml.so'),
               sysdeps.Library('libpthread.so.0', 2, X86_64, 'a/_yaml.so'),
               sysdeps.Library('libodd.so.1', 2, X86_64, 'b/_odd.so')),
    depends={'deb': (sysdeps.Dependency('libyaml-0-2', 'libyaml-0.so.2'),
                     sysdeps.Dependency('libc6', 'libc.so.6'),
                     sysdeps.Dependency('libc6', 'libpthread.so.0'),
                     sysdeps.Dependency('', 'libodd.so.1')),
             'rpm': (sysdeps.Dependency('libyaml-0.so.2()(64bit)',
                                        'libyaml-0.so.2'),
                     sysdeps.Dependency('libc.so.6()(64bit)', 'libc.so.6'),
                     sysdeps.Dependency('libpthread.so.0()(64bit)',
                                        'libpthread.so.0'),
                     sysdeps.Dependency('libodd.so.1()(64bit)',
                                        'libodd.so.1'))})


def resolve(fmt, **fields):
    return sysdeps.for_format(make_project(**fields), fmt,
                              first=('python3.11',), bindep_runtime=('tzdata',),
                              discovered=DISCOVERED)


def test_every_source_in_order_without_duplicates():
    deb = resolve('deb', system_dependencies=('libvirt0', 'python3.11'))
    assert deb.depends == ('python3.11', 'libvirt0', 'tzdata', 'libyaml-0-2',
                           'libc6')
    assert deb.unowned == ('libodd.so.1 (needed by b/_odd.so)',)
    rpm = resolve('rpm')
    assert rpm.depends == ('python3.11', 'tzdata', 'libyaml-0.so.2()(64bit)',
                           'libc.so.6()(64bit)', 'libpthread.so.0()(64bit)',
                           'libodd.so.1()(64bit)')
    assert rpm.unowned == ()


def test_a_mapping_per_format():
    deps = types.MappingProxyType({'all': ['libvirt0'], 'deb': ['libssl3'],
                                   'rpm': ['openssl-libs']})
    assert resolve('deb', system_dependencies=deps).depends[:3] == (
        'python3.11', 'libvirt0', 'libssl3')
    assert resolve('rpm', system_dependencies=deps).depends[:3] == (
        'python3.11', 'libvirt0', 'openssl-libs')
    assert sysdeps.declared(make_project(system_dependencies=deps), None) \
        == ('libvirt0',)


def test_exclude_by_name_or_soname():
    deb = resolve('deb', system_dependencies_exclude=(
        'tzdata', 'libodd.so.1', 'libyaml-0.so.2'))
    assert deb.depends == ('python3.11', 'libc6') and deb.unowned == ()
    rpm = resolve('rpm', system_dependencies_exclude=('libodd.so.1',))
    assert 'libodd.so.1()(64bit)' not in rpm.depends


def test_replace_by_name_or_soname():
    deb = resolve('deb', system_dependencies_replace={
        'libodd.so.1': 'odd-libs >= 2', 'tzdata': 'tzdata-legacy'})
    assert deb.depends[-2:] == ('libc6', 'odd-libs >= 2')
    assert 'tzdata-legacy' in deb.depends and deb.unowned == ()


@pytest.mark.parametrize('text', [
    BINDEP, BINDEP.rstrip('\n'), '', '# only a comment\n',
    'python3-dev [platform:dpkg (platform:ubuntu compile) !platform:centos]\n'
    'libffi [platform:rpm] >=3.0,<4\n\n# a comment\n'])
def test_the_grammar_compiled_once_parses_as_bindep(text):
    """The grammar is compiled once per process, not per file: the rules are
    bindep's own ``Depends``'s, file by file, for every host."""
    from bindep.depends import Depends
    ours = sysdeps._parse_bindep(text)
    theirs = Depends(text)
    assert ours._rules == theirs._rules
    for host in (DEBIAN, FEDORA):
        assert ours.active_rules(sorted(host.profiles)) == \
            theirs.active_rules(sorted(host.profiles))


def test_the_grammar_compiled_once_fails_as_bindep():
    from bindep.depends import Depends, DependsException
    text = 'libfoo [platform:dpkg\n'
    with pytest.raises(DependsException) as theirs:
        Depends(text)
    with pytest.raises(DependsException) as ours:
        sysdeps._parse_bindep(text)
    assert str(ours.value) == str(theirs.value)


def test_only_the_elf_files_the_virtualenv_stage_found_are_read(tmp_path):
    """The virtualenv stage's scan names the ELF files (it reads every
    file's first bytes anyway); a later stage may have removed one."""
    venv = tmp_path / 'venv'
    site = venv / 'lib/python3.11/site-packages'
    make_elf(site / 'yaml/_yaml.so', needed=('libyaml-0.so.2', 'libc.so.6'))
    make_elf(site / 'other/_other.so', needed=('libother.so.1',))
    found = sysdeps.scan(venv, ('lib/python3.11/site-packages/yaml/_yaml.so',
                                'lib/python3.11/site-packages/gone.so'))
    assert [lib.soname for lib in found.libraries] == [
        'libyaml-0.so.2', 'libc.so.6']
    assert found.files == (site / 'yaml/_yaml.so',)
    # without candidates every file is read
    assert {lib.soname for lib in sysdeps.scan(venv).libraries} == {
        'libyaml-0.so.2', 'libc.so.6', 'libother.so.1'}


def test_installed_debian_packages_in_one_query():
    """One dpkg-query for every name (this machine's own dpkg database);
    a name that is not a package name is never given to it as a pattern."""
    from giftwrap.util.process import Runner
    found = sysdeps._installed_debs(
        ['libc6', 'libc6:amd64', 'dpkg', 'no-such-package-giftwrap', '*',
         'Upper'], Runner())
    assert set(found) == {'libc6', 'libc6:amd64', 'dpkg'}
    assert found['libc6'] == found['libc6:amd64']
    assert all(found.values())
