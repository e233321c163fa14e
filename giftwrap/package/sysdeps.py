"""System dependencies: declared in bindep.txt, discovered in compiled code.

A package that installs but cannot load ``libvirt`` or ``lxml`` is no
package.  Its system dependencies come from three places, combined per
package format by :func:`for_format`:

* the manifest's ``system_dependencies`` (a list for every format, or a
  mapping of ``all``/``deb``/``rpm`` to lists);
* the project's ``bindep.txt`` (read with the bindep library), only its
  entries that name one of the manifest's ``bindep_profiles``, filtered for
  the target's platform: the rest is written for CI test nodes (its
  ``compile``/``build`` entries and headers are checked on the build
  machine, never made runtime dependencies);
* the shared libraries the virtualenv's compiled code needs (ELF
  ``NEEDED``) and does not bring itself: for deb, the package that owns the
  library where the build runs, versioned by dpkg-shlibdeps; for rpm, the
  capabilities rpm's own generator gives (:mod:`giftwrap.package.shlibs`).

``system_dependencies_exclude`` and ``system_dependencies_replace`` remove
or replace any of them, by name or by the soname a dependency was found
for.  ELF files are read with :mod:`struct` (their dynamic section only);
``ldconfig`` and ``dpkg-query`` run through the
:class:`~giftwrap.util.process.Runner`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence


from giftwrap import errors
from giftwrap.manifest import schema
from giftwrap.package import sysdepsmemo
from giftwrap.util import atomic
from giftwrap.util.process import Runner, find_tool
from giftwrap.venv.relocate import ELF_MAGIC

LOG = logging.getLogger(__name__)

BINDEP_FILE = 'bindep.txt'


def _bindep():
    """The bindep library, imported when a project has a bindep.txt (its
    parser generator is slow to import, and most runs need none)."""
    from bindep import depends
    return depends


@functools.lru_cache(maxsize=None)
def _bindep_parser():
    """bindep's grammar, compiled once per process, or None where this
    bindep has none to reuse.

    ``bindep.depends.Depends`` compiles its parsley grammar for every file
    (0.3 s of the GIL, in each project of a run); the grammar is the same.
    """
    grammar = getattr(_bindep(), 'grammar', None)
    if not isinstance(grammar, str):
        return None
    from parsley import makeGrammar
    return makeGrammar(grammar, {})


def _parse_bindep(text: str):
    """bindep's ``Depends`` of ``text``: as ``Depends(text)`` does, with
    the grammar compiled once (:func:`_bindep_parser`)."""
    depends = _bindep()
    parser = _bindep_parser()
    if parser is None:
        return depends.Depends(text)
    found = depends.Depends.__new__(depends.Depends)
    found.filename = None
    try:
        # The grammar wants every line to end with a newline.
        found._rules = parser(text if text.endswith('\n')
                              else text + '\n').rules()
    except Exception as exc:  # what Depends turns into its exception
        raise depends.DependsException(
            f'Requirements parsing error: {exc}') from None
    return found


#: bindep profiles whose entries are needed to build (or test), never to run.
BUILD_PROFILES = frozenset({'compile', 'build', 'test', 'doc'})
#: The build-only profiles checked on the build machine: giftwrap compiles,
#: it runs neither tests nor documentation builds.
CHECKED_PROFILES = ('compile', 'build')
#: bindep's platform family of each package format.
FAMILY = {'deb': 'dpkg', 'rpm': 'rpm'}
_FAMILY_OF_ID = {'debian': 'dpkg', 'ubuntu': 'dpkg', 'rhel': 'rpm',
                 'fedora': 'rpm', 'centos': 'rpm', 'suse': 'rpm',
                 'opensuse': 'rpm', 'sles': 'rpm'}
_OPS = {'==': '=', '<=': '<=', '>=': '>=', '<': '<', '>': '>'}
_NAME = re.compile(r'^\s*([^\s()<>=!|,]+)')


@dataclasses.dataclass(frozen=True)
class Dependency:
    """One system dependency of a package format.

    :ivar relation: ``name``, ``name >= 1``; ``''`` for a library no
        package owns.
    :ivar library: the soname it was discovered for, if it was.
    """

    relation: str
    library: str = ''

    @property
    def name(self) -> str:
        match = _NAME.match(self.relation)
        return match.group(1) if match else self.relation


@dataclasses.dataclass(frozen=True)
class Host:
    """The build machine's bindep platform profiles and package family."""

    profiles: tuple[str, ...]
    family: str | None


def host(os_release: Mapping[str, str] | None = None) -> Host:
    """The build machine's platform, from ``/etc/os-release`` as bindep sees
    it: ``platform:debian``, ``platform:debian-12``, ``platform:dpkg``...
    """
    if os_release is None:
        try:
            os_release = platform.freedesktop_os_release()
        except OSError:
            os_release = {}
    distro = ''.join(os_release.get('ID', '').split()).lower()
    likes = os_release.get('ID_LIKE', '').lower().split()
    family = next((_FAMILY_OF_ID[i] for i in [distro, *likes]
                   if i in _FAMILY_OF_ID), None)
    atoms = {distro} if distro else set()
    for key, sep in (('VERSION_CODENAME', ' '), ('VERSION_ID', '.')):
        bits = os_release.get(key, '').lower().split(sep)
        atoms.update(f'{distro}-{sep.join(bits[:i + 1]).replace(" ", "-")}'
                     for i in range(len(bits)) if distro and bits[0])
    if family:
        atoms.add(family)
        if family == 'rpm':
            atoms.add('suse' if 'suse' in distro + ' '.join(likes)
                      else 'redhat')
    atoms.add(_bindep().PY3)
    return Host(tuple(sorted(f'platform:{a}' for a in atoms)), family)


# -- bindep.txt -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Bindep:
    """A project's ``bindep.txt``, parsed."""

    path: Path
    depends: Any = dataclasses.field(compare=False)  # bindep's Depends

    def active(self, profiles: Iterable[str]) -> list[tuple]:
        """The rules bindep selects for ``profiles`` (platform ones too):
        ``(name, selectors, [(op, version), ...])``."""
        return self.depends.active_rules(sorted(profiles))


def read_bindep(checkout: Path, cache_dir: Path | None = None
                ) -> Bindep | None:
    """The project's ``bindep.txt``, or None if it has none.

    :param cache_dir: keep the parsed rules there, by the file's hash:
        bindep's parser takes about half a second for a 40-line file, on
        every rebuild of an unchanged file otherwise.
    :raises giftwrap.errors.BuildError: the file does not parse.
    """
    path = Path(checkout) / BINDEP_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding='utf-8')
    cached = _cached_rules(cache_dir, text)
    if cached is not None:
        return Bindep(path, cached)
    try:
        depends = _parse_bindep(text)
    except _bindep().DependsException as exc:
        raise errors.BuildError(
            f'cannot parse {BINDEP_FILE}: {exc}', where=str(path),
            hint='fix the file with a patch (patches:) or ask upstream; see '
                 'https://docs.opendev.org/opendev/bindep') from None
    _cache_rules(cache_dir, text, depends)
    return Bindep(path, depends)


def _rules_file(cache_dir: Path, text: str) -> Path:
    digest = hashlib.sha256(text.encode('utf-8')).hexdigest()
    return cache_dir / 'bindep' / f'{digest}.json'


def _cached_rules(cache_dir: Path | None, text: str):
    """bindep's ``Depends`` made from cached rules, or None."""
    if cache_dir is None:
        return None
    try:
        rules = json.loads(_rules_file(cache_dir, text).read_text(),
                           object_hook=_untuple)
    except (OSError, ValueError):
        return None
    # bindep keeps the parsed file in _rules; only if it still does.
    depends = _bindep().Depends.__new__(_bindep().Depends)
    depends.filename, depends._rules = None, rules
    return depends


def _cache_rules(cache_dir: Path | None, text: str, depends) -> None:
    rules = getattr(depends, '_rules', None)
    if cache_dir is None or not isinstance(rules, list):
        return
    try:
        _rules_file(cache_dir, text).parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(_rules_file(cache_dir, text),
                          json.dumps(_tupled(rules)))
    except OSError as exc:  # a cache: the build goes on without it
        LOG.debug('cannot cache bindep rules: %s', exc)


def _tupled(value):
    """JSON for bindep's rules, which tell tuples from lists."""
    if isinstance(value, tuple):
        return {'tuple': [_tupled(v) for v in value]}
    if isinstance(value, list):
        return [_tupled(v) for v in value]
    return value


def _untuple(value: dict):
    return tuple(value['tuple']) if set(value) == {'tuple'} else value


def _user_profiles(rule) -> set[str]:
    """The positive, non-platform profiles a rule names."""
    names = set()
    for group in rule[1]:
        for sense, profile in group if isinstance(group, list) else [group]:
            if sense and not profile.startswith('platform:'):
                names.add(profile)
    return names


def _relations(rule) -> list[str]:
    """``name`` or one relation per version constraint of a rule."""
    name, _, versions = rule
    for op, version in versions:
        if op not in _OPS:
            LOG.warning('%s: ignoring %s%s (deb and rpm cannot say "not '
                        'equal")', name, op, version)
    found = [f'{name} {_OPS[op]} {v}' for op, v in versions if op in _OPS]
    return found or [name]


def runtime(found: Bindep | None, fmt: str, profiles: Sequence[str] = (),
            build_host: Host | None = None) -> tuple[str, ...]:
    """The runtime dependencies ``bindep.txt`` declares for format ``fmt``:
    only the entries that name one of ``profiles`` explicitly.

    A project's ``bindep.txt`` is written for CI test nodes: its entries
    without a profile are the database servers, compilers and ``-dev``
    headers a test run needs, not what the installed service runs with
    (LOCI keeps its own lists for that reason).  bindep selects a
    profile-less entry under *every* selection, so the entries are picked
    here by the profiles they name, never by bindep's selection alone.

    The target's platform is ``platform:dpkg`` (deb) or ``platform:rpm``,
    plus the build machine's own profiles when it uses the same format
    (``platform:debian-12`` entries then count).

    :param profiles: the manifest's ``bindep_profiles``.
    """
    wanted_profiles = set(profiles) - BUILD_PROFILES
    if found is None or not wanted_profiles:
        return ()
    build_host = build_host or host()
    wanted = {f'platform:{FAMILY[fmt]}', f'platform:{_bindep().PY3}',
              *wanted_profiles}
    if build_host.family == FAMILY[fmt]:
        wanted.update(build_host.profiles)
    return tuple(dict.fromkeys(
        relation for rule in found.active(wanted)
        if _user_profiles(rule) & wanted_profiles
        and not _user_profiles(rule) & BUILD_PROFILES
        for relation in _relations(rule)))


def build_only(found: Bindep | None, build_host: Host,
               profiles: Sequence[str] = ()) -> list[tuple]:
    """The ``compile``/``build`` rules of ``bindep.txt`` on this machine."""
    if found is None:
        return []
    wanted = {*build_host.profiles, *CHECKED_PROFILES, *profiles}
    return [rule for rule in found.active(wanted)
            if _user_profiles(rule) & set(CHECKED_PROFILES)]


def headers(found: Bindep | None, build_host: Host) -> list[tuple]:
    """The profile-less ``-dev``/``-devel`` rules of ``bindep.txt`` on this
    machine: headers a source build may need, listed for CI nodes."""
    if found is None:
        return []
    return [rule for rule in found.active(build_host.profiles)
            if not _user_profiles(rule)
            and rule[0].endswith(('-dev', '-devel'))]


def check_build_host(found: Bindep | None, runner: Runner, *,
                     profiles: Sequence[str] = (),
                     build_host: Host | None = None) -> str:
    """Fail before the build when build-only entries are not installed.

    :returns: ``''``, or a hint naming the profile-less header packages
        (``libldap2-dev``) that are not installed either: a warning, which
        becomes part of the error only if a source build then fails.
    :raises giftwrap.errors.BuildError: naming every missing package and
        how to install them.
    """
    build_host = build_host or host()
    rules = build_only(found, build_host, profiles)
    optional = headers(found, build_host)
    if not rules and not optional:
        return ''
    if build_host.family is None:
        LOG.warning('cannot check the build dependencies of %s: unknown '
                    'package manager on this machine', found.path)
        return ''
    missing = _missing(rules, build_host.family, runner)
    if missing:
        tool = _INSTALLER[build_host.family]
        raise errors.BuildError(
            f'{BINDEP_FILE} lists build dependencies that are not installed:'
            f' {", ".join(missing.values())}', where=str(found.path),
            hint=f'install them ({tool} install {" ".join(missing)}) and '
                 f'build again')
    absent = list(_missing(optional, build_host.family, runner))
    if not absent:
        return ''
    LOG.warning('%s lists headers that are not installed: %s (needed only '
                'if a distribution is built from source)', found.path,
                ', '.join(absent))
    return (f'{BINDEP_FILE} lists headers that are not installed here: '
            f'{_INSTALLER[build_host.family]} install {" ".join(absent)}')


_INSTALLER = {'dpkg': 'apt-get', 'rpm': 'dnf'}


def _missing(rules, family: str, runner: Runner) -> dict[str, str]:
    """name -> what was wanted, for the rules not met on this machine."""
    missing = {}
    known = _installed_debs([name for name, _, _ in rules], runner) \
        if family == 'dpkg' else {}
    for name, _, versions in rules:
        installed = known.get(name) if family == 'dpkg' else \
            _installed_version(name, family, runner)
        wanted = name + ''.join(f' {op} {v}' for op, v in versions)
        if installed is None:
            missing[name] = wanted
        elif not all(_bindep()._eval(installed, op, v) for op, v in versions):
            missing[name] = f'{wanted} (installed: {installed})'
    return missing


def _installed_debs(names: Sequence[str], runner: Runner
                    ) -> dict[str, str]:
    """name -> installed version, of the Debian packages ``names`` that are
    installed: one ``dpkg-query`` for all.  A name matches a package's name
    or its architecture-qualified one, never as a pattern.  dpkg-query
    names the missing ones on its standard error, which shares the pipe:
    a name not found is asked again alone, so a line cut by one of those
    messages cannot make an installed package look missing."""
    # only names a package can have: dpkg-query would take others as
    # patterns (and they cannot be installed anyway)
    wanted = sorted(n for n in set(names) if _DEB_NAME.match(n))
    if not wanted:
        return {}
    result = runner.run(
        ['dpkg-query', '-W', '-f',
         '${Package}\t${binary:Package}\t${Status}\t${Version}\n', '--',
         *wanted], check=False, what='dpkg-query (build dependencies)')
    found: dict[str, str] = {}
    for line in result.output.splitlines():
        fields = line.split('\t')
        if len(fields) != 4 or not fields[2].endswith(' installed'):
            continue
        for name in fields[:2]:
            if name in wanted:
                found.setdefault(name, fields[3])
    for name in wanted:
        if name not in found:
            alone = runner.run(
                ['dpkg-query', '-W', '-f', '${Status}\t${Version}', '--',
                 name], check=False, what=f'dpkg-query {name}')
            status, _, version = alone.output.strip().partition('\t')
            if alone.returncode == 0 and status.endswith(' installed'):
                found[name] = version
    return found


_DEB_NAME = re.compile(r'[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?\Z')


def _installed_version(name: str, family: str, runner: Runner) -> str | None:
    """The version of the rpm that provides ``name``, if one is installed."""
    argv = ['rpm', '-q', '--whatprovides', '--qf',
            '%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\n', '--', name]
    result = runner.run(argv, check=False, what=f'{argv[0]} {name}')
    if result.returncode != 0 or not result.output.strip():
        return None
    return result.output.strip().splitlines()[0]


# -- libraries the compiled code needs ---------------------------------------

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NEEDED, _DT_STRTAB, _DT_SONAME = 1, 5, 14
_EM_ALPHA = 0x9026
#: The ELF header after e_ident, the program header and a dynamic entry,
#: for ELFCLASS32 (1) and ELFCLASS64 (2).
_LAYOUT = {1: ('HHIIIIIHHHHHH', 'IIIIIIII', 'iI'),
           2: ('HHIQQQIHHHHHH', 'IIQQQQQQ', 'qQ')}


@dataclasses.dataclass(frozen=True)
class Elf:
    """What a shared object says about linking: class, machine, names."""

    elf_class: int
    machine: int
    needed: tuple[str, ...] = ()
    soname: str = ''

    @property
    def abi(self) -> tuple[int, int]:
        return self.elf_class, self.machine


def read_elf(path: Path) -> Elf | None:
    """The dynamic section of ``path``, or None if it is no ELF file.

    :raises ValueError: a truncated or inconsistent ELF file.
    """
    import struct
    with open(path, 'rb') as stream:
        ident = stream.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC or ident[4] not in _LAYOUT:
            return None
        end = '<' if ident[5] == 1 else '>'
        header, phdr, dyn = (struct.Struct(end + f) for f in _LAYOUT[ident[4]])
        try:
            fields = header.unpack(stream.read(header.size))
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = fields[:10]
            stream.seek(phoff)
            segments = [phdr.unpack(stream.read(phentsize)[:phdr.size])
                        for _ in range(phnum)]
        except struct.error as exc:
            raise ValueError(f'{path}: truncated ELF header') from exc
        # (type, offset, vaddr, filesz) whatever the class's field order.
        spans = [(s[0], s[1], s[2], s[4]) if ident[4] == 1 else
                 (s[0], s[2], s[3], s[5]) for s in segments]
        entries = _dynamic(stream, spans, dyn)
        if entries is None:
            return Elf(ident[4], machine)
        strtab = _file_offset(spans, next(
            (v for t, v in entries if t == _DT_STRTAB), None))
        names = {t: [] for t in (_DT_NEEDED, _DT_SONAME)}
        for tag, value in entries:
            if tag in names and strtab is not None:
                names[tag].append(_string(stream, strtab + value))
    return Elf(ident[4], machine, tuple(names[_DT_NEEDED]),
               (names[_DT_SONAME] or [''])[0])


def _dynamic(stream, spans, dyn) -> list[tuple[int, int]] | None:
    dynamic = next((s for s in spans if s[0] == _PT_DYNAMIC), None)
    if dynamic is None:
        return None
    stream.seek(dynamic[1])
    data = stream.read(dynamic[3])
    entries = []
    for tag, value in dyn.iter_unpack(data[:len(data) - len(data) % dyn.size]):
        if tag == 0:
            break
        entries.append((tag, value))
    return entries


def _file_offset(spans, vaddr: int | None) -> int | None:
    """Where the address ``vaddr`` of a loaded segment is in the file."""
    if vaddr is None:
        return None
    for kind, offset, start, size in spans:
        if kind == _PT_LOAD and start <= vaddr < start + size:
            return vaddr - start + offset
    return None


def _string(stream, offset: int) -> str:
    stream.seek(offset)
    data = b''
    while b'\0' not in data:
        chunk = stream.read(256)
        if not chunk:
            break
        data += chunk
    return data.split(b'\0', 1)[0].decode('utf-8', 'replace')


@dataclasses.dataclass(frozen=True)
class Library:
    """A shared library compiled code in the virtualenv needs.

    :ivar needed_by: one file that needs it, relative to the virtualenv.
    """

    soname: str
    elf_class: int
    machine: int
    needed_by: str

    @property
    def rpm_capability(self) -> str:
        """What rpmbuild's elfdeps requires: ``libyaml-0.so.2()(64bit)``."""
        if self.elf_class == 2 and self.machine != _EM_ALPHA:
            return f'{self.soname}()(64bit)'
        return self.soname


def needed_libraries(venv: Path) -> tuple[Library, ...]:
    """The libraries the virtualenv's ELF files need and do not bring.

    A library is brought when a file of the virtualenv has its name or
    soname (manylinux wheels bundle theirs, e.g. in ``numpy.libs/``).
    Symlinks are not followed: ``bin/python`` is the system's.
    """
    return scan(venv).libraries


@dataclasses.dataclass(frozen=True)
class Scan:
    """What the virtualenv's ELF files need from the system.

    :ivar files: the ELF files that need a library it does not bring.
    :ivar bundled: the sonames (and file names) it brings.
    """

    libraries: tuple[Library, ...]
    files: tuple[Path, ...]
    bundled: frozenset[str]


def scan(venv: Path, candidates: Sequence[str] = ()) -> Scan:
    """Read every ELF file of ``venv`` (see :func:`needed_libraries`).

    :param candidates: the ELF files (relative to ``venv``) the virtualenv
        stage found (:attr:`giftwrap.venv.tree.StagedTree.elf_files`): only
        those still there are read; empty: every file is.
    """
    objects = dict(_elf_files(venv, candidates))
    inside = {p.name for p in objects} | {e.soname for e in objects.values()}
    needed: dict[str, Library] = {}
    files = []
    for path, elf in sorted(objects.items()):
        outside = [s for s in elf.needed if s not in inside]
        if outside:
            files.append(path)
        for soname in outside:
            if soname not in needed:
                needed[soname] = Library(soname, elf.elf_class, elf.machine,
                                         path.relative_to(venv).as_posix())
    return Scan(tuple(needed.values()), tuple(files),
                frozenset(s for s in inside if s))


def _elf_files(venv: Path, candidates: Sequence[str] = ()
               ) -> Iterator[tuple[Path, Elf]]:
    every = (os.path.join(top, name) for top, _, names in os.walk(venv)
             for name in names)
    for path in (venv / c for c in candidates) if candidates else every:
        if not os.path.isfile(path) or os.path.islink(path):
            continue  # a link, or a candidate a later stage removed
        try:
            elf = read_elf(Path(path))
        except (OSError, ValueError) as exc:
            LOG.warning('cannot read %s as ELF: %s', path, exc)
            continue
        if elf is not None:
            yield Path(path), elf


def library_paths(runner: Runner) -> dict[str, list[str]]:
    """soname -> paths, from the dynamic linker's cache (``ldconfig -p``)."""
    ldconfig = find_tool('ldconfig') or next(
        (p for p in ('/sbin/ldconfig', '/usr/sbin/ldconfig')
         if os.access(p, os.X_OK)), 'ldconfig')
    output = runner.run([ldconfig, '-p'], what='ldconfig -p').output
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        name, arrow, path = line.strip().partition(' => ')
        if arrow:
            found.setdefault(name.split(' (')[0], []).append(path.strip())
    return found


_STANDARD_DIRS = ('/lib64', '/usr/lib64', '/lib', '/usr/lib')


def locate(library: Library, cache: Mapping[str, Sequence[str]]
           ) -> str | None:
    """The build machine's file for ``library``, of the same class and
    machine as the code that needs it: the cache first, then the
    standard directories."""
    multiarch = [f'/usr/lib/{d}' for d in (_multiarch(),) if d]
    candidates = list(cache.get(library.soname, ())) + [
        f'{d}/{library.soname}' for d in (*multiarch, *_STANDARD_DIRS)]
    for path in dict.fromkeys(candidates):
        try:
            elf = read_elf(Path(path))
        except (OSError, ValueError):
            continue
        if elf is not None and elf.abi == (library.elf_class,
                                           library.machine):
            return path
    return None


def _multiarch() -> str:
    import sysconfig
    return sysconfig.get_config_var('MULTIARCH') or ''


def _path_variants(path: str) -> list[str]:
    """The names dpkg may know a file by, with or without merged /usr."""
    paths = [path, os.path.realpath(path)]
    for p in list(paths):
        if p.startswith('/usr/'):
            paths.append(p[len('/usr'):])
        elif re.match(r'^/(lib|lib64|bin|sbin)/', p):
            paths.append('/usr' + p)
    return list(dict.fromkeys(paths))


def dpkg_owners(paths: Iterable[str], runner: Runner) -> dict[str, str]:
    """path -> the Debian package that owns it (``dpkg-query -S``)."""
    wanted = list(dict.fromkeys(v for p in paths for v in _path_variants(p)))
    if not wanted:
        return {}
    result = runner.run(['dpkg-query', '-S', '--', *wanted], check=False,
                        what='dpkg-query -S')
    owners = {}
    for line in result.output.splitlines():
        if line.startswith(('dpkg-query:', 'diversion ')) or ': ' not in line:
            continue
        packages, _, path = line.partition(': ')
        owners[path.strip()] = packages.split(',')[0].split(':')[0].strip()
    return {p: owner for p in paths for v in _path_variants(p)
            if (owner := owners.get(v))}


@dataclasses.dataclass(frozen=True)
class Discovered:
    """The dependencies found for the libraries compiled code needs.

    :ivar libraries: what the virtualenv needs from the system.
    :ivar depends: format -> one :class:`Dependency` per library; a deb
        one with no relation names a library no package owns.
    """

    libraries: tuple[Library, ...] = ()
    depends: Mapping[str, tuple[Dependency, ...]] = dataclasses.field(
        default_factory=dict)


def discover(venv: Path, runner: Runner, *, scratch: Path | None = None,
             host: Runner | None = None, cache_dir: Path | None = None,
             candidates: Sequence[str] = (),
             remember: bool = False) -> Discovered:
    """:func:`find` what the virtualenv's compiled code needs; with
    ``remember`` (``runner`` runs on the build host), ``cache_dir`` and
    ``candidates``, the last build's answer for the same files and the same
    host (:mod:`giftwrap.package.sysdepsmemo`)."""
    memo = sysdepsmemo.key(venv, candidates, versioned=scratch is not None,
                           capabilities=host is not None) \
        if remember and cache_dir is not None and candidates else None
    if memo is not None:
        found = _from_memo(sysdepsmemo.recall(cache_dir, memo))
        if found is not None:
            LOG.info('system dependencies from the cache (the same ELF '
                     'files, libraries and packages as a build before)')
            _log_needs(found)
            return found
    found = find(venv, runner, scratch=scratch, host=host,
                 cache_dir=cache_dir, candidates=candidates)
    if memo is not None:
        sysdepsmemo.keep(cache_dir, memo, _to_memo(found))
    return found


#: what a remembered relation or capability may hold: a tampered memo
#: must not put a line of its own into a package's control file
_MEMO_RELATION = re.compile(r'[A-Za-z0-9][A-Za-z0-9.+:~_()<>=|, -]{0,300}')


def _to_memo(found: Discovered) -> dict:
    return {'libraries': [dataclasses.asdict(lib) for lib in found.libraries],
            'depends': {fmt: [[d.relation, d.library] for d in deps]
                        for fmt, deps in found.depends.items()}}


def _from_memo(memo: dict | None) -> Discovered | None:
    """The answer a memo holds, or None if it is not one."""
    try:
        libraries = tuple(
            Library(str(lib['soname']), int(lib['elf_class']),
                    int(lib['machine']), str(lib['needed_by']))
            for lib in memo['libraries'])
        depends = {str(fmt): tuple(Dependency(str(rel), str(lib))
                                   for rel, lib in deps)
                   for fmt, deps in memo['depends'].items()}
    except (TypeError, KeyError, ValueError):
        return None
    words = [lib.soname for lib in libraries] + [
        w for deps in depends.values() for d in deps
        for w in (d.relation, d.library)]
    if not all(_MEMO_RELATION.fullmatch(w) for w in words if w) or \
            not all(lib.needed_by.isprintable() for lib in libraries):
        return None
    return Discovered(libraries, depends)


def _log_needs(found: Discovered) -> None:
    LOG.info('compiled code needs %s', ', '.join(
        f'{lib.soname} ({d.relation or "no package"})'
        for lib, d in zip(found.libraries, found.depends.get('deb', ()))))


def find(venv: Path, runner: Runner, *, scratch: Path | None = None,
         host: Runner | None = None, cache_dir: Path | None = None,
         candidates: Sequence[str] = ()) -> Discovered:
    """Find the system libraries the virtualenv's compiled code needs.

    :param runner: runs where the build runs (a target's container).
    :param scratch: an empty directory for dpkg-shlibdeps; without it the
        Debian dependencies are unversioned.
    :param host: runs on the build machine (rpm's elfdeps); without it the
        rpm requirements are the sonames alone.
    :param cache_dir: keep dpkg-shlibdeps' answers there
        (:func:`giftwrap.package.shlibs.deb_relations`).
    :returns: the versioned Debian packages that own them where the build
        runs, and rpm's capabilities (:mod:`giftwrap.package.shlibs`); a library
        not found, or owned by no package, has an empty relation:
        :func:`for_format` reports it.
    :param candidates: as for :func:`scan`.
    :raises giftwrap.errors.MissingToolError: ldconfig is missing.
    """
    from giftwrap.package import shlibs

    found = scan(venv, candidates)
    libraries = found.libraries
    if not libraries:
        return Discovered()
    cache = library_paths(runner)
    paths = {lib.soname: locate(lib, cache) for lib in libraries}
    try:
        owners = dpkg_owners([p for p in paths.values() if p], runner)
    except errors.MissingToolError:
        LOG.warning('dpkg-query is not installed: no Debian package is known '
                    'for %s', ', '.join(paths))
        owners = {}
    owner = {lib.soname: owners.get(paths[lib.soname] or '', '')
             for lib in libraries}
    versioned = shlibs.deb_relations(
        found.files, venv, runner, scratch, owner, cache_dir) if (
            scratch is not None and any(owner.values())) else {}
    deb = [Dependency(versioned.get(owner[lib.soname], owner[lib.soname]),
                      lib.soname) for lib in libraries]
    named = {d.name for d in deb}
    # What dpkg-shlibdeps adds beyond the owners (a symbols file may point
    # at another package).
    deb += [Dependency(r) for name, r in versioned.items() if name not in named]
    requires = shlibs.rpm_requires(found.files, found.bundled, host) \
        if host is not None else None
    rpm = tuple(Dependency(cap, soname) for cap, soname in requires) \
        if requires is not None else tuple(
            Dependency(lib.rpm_capability, lib.soname) for lib in libraries)
    found = Discovered(libraries, {'deb': tuple(deb), 'rpm': rpm})
    _log_needs(found)
    return found


# -- what a package of one format depends on ---------------------------------

@dataclasses.dataclass(frozen=True)
class Resolved:
    """A format's dependencies after the manifest's exclusions and
    replacements.

    :ivar unowned: libraries no package owns (``soname (needed by
        file)``); a package of this format cannot be built.
    """

    depends: tuple[str, ...]
    unowned: tuple[str, ...] = ()


def declared(project, fmt: str | None) -> tuple[str, ...]:
    """The manifest's ``system_dependencies`` for ``fmt`` (``all`` first;
    ``None``: those for every format only)."""
    value = schema.per_format(project.system_dependencies)
    return tuple(value.get('all', ())) + tuple(value.get(fmt or '', ()))


def for_format(project, fmt: str | None, *, first: Sequence[str] = (),
               bindep_runtime: Sequence[str] = (),
               discovered: Discovered | None = None) -> Resolved:
    """Every dependency of a ``fmt`` package, in order: ``first`` (the
    interpreter's package), the manifest's, bindep.txt's, the discovered
    ones; ``system_dependencies_exclude`` drops a dependency named (or
    found for a soname) in it, ``system_dependencies_replace`` replaces
    it.  Duplicates are dropped."""
    candidates = [Dependency(r) for r in (*first, *declared(project, fmt),
                                          *bindep_runtime)]
    if discovered is not None and fmt:
        candidates += discovered.depends.get(fmt, ())
    exclude = set(project.system_dependencies_exclude)
    replace = project.system_dependencies_replace
    needed_by = {lib.soname: lib.needed_by
                 for lib in (discovered.libraries if discovered else ())}
    depends, unowned = [], []
    for dep in candidates:
        keys = [k for k in (dep.relation and dep.name, dep.library) if k]
        if exclude.intersection(keys):
            continue
        key = next((k for k in keys if k in replace), None)
        relation = replace[key] if key else dep.relation
        if relation:
            depends.append(relation)
        else:
            unowned.append(f'{dep.library} (needed by '
                           f'{needed_by.get(dep.library, "?")})')
    return Resolved(tuple(dict.fromkeys(depends)),
                    tuple(dict.fromkeys(unowned)))
