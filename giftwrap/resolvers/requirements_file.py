"""The ``requirements-file`` resolver: pins from a pip requirements file.

The smallest resolver.  It reads a file in the checkout (or at a path or
URL) the way pip and pbr do: ``-r`` includes, ``-c`` constraints, markers
for the target interpreter.  Only exact lines (``==``/``===``, a pip freeze)
are pins; every other requirement is handed to the installer to resolve at
build time and reported as unpinned.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import urllib.parse
from pathlib import Path

from giftwrap.api import Option, Pin, Pins, Resolver
from giftwrap import errors
from giftwrap.resolve import reqfiles
from giftwrap.resolve.http import is_remote

LOG = logging.getLogger(__name__)

_INCLUDE = {'-r': False, '--requirement': False,
            '-c': True, '--constraint': True}
_EDITABLE = ('-e', '--editable')
# Index and install options: where pip looks, not what it installs.
_IGNORED = ('-i', '--index-url', '--extra-index-url', '-f', '--find-links',
            '--no-index', '--pre', '--trusted-host', '--prefer-binary',
            '--only-binary', '--no-binary', '--require-hashes',
            '--use-feature', '-Z', '--always-unzip')
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')
_FILE_HINT = ('set resolver_options: {requirements-file: {file: PATH}}: a '
              'path relative to the checkout, an absolute path or an http(s) '
              'URL')


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where a requirements file is: in the checkout, elsewhere, remote.

    :ivar root: the checkout, for files that must stay inside it.
    """

    location: str
    remote: bool = False
    root: Path | None = None

    @property
    def shown(self) -> str:
        """The location, relative to the checkout when inside it."""
        if self.root is None:
            return self.location
        return str(Path(self.location).relative_to(self.root))

    @property
    def private(self) -> bool:
        """A local file outside the checkout: its lines are never quoted."""
        return not self.remote and self.root is None

    def include(self, ref: str, where: str) -> '_Source':
        """The file an ``-r``/``-c`` line of this one names."""
        if is_remote(ref):
            return _Source(ref, remote=True)
        if self.remote:
            if _URL.match(ref) or ref.startswith('/'):
                raise errors.ResolveError(
                    f'the remote file {self.location} includes the local '
                    f'file {ref!r}', where=where,
                    hint='remote requirements files may include only URLs '
                         'and paths relative to themselves')
            joined = urllib.parse.urljoin(self.location, ref)
            if not is_remote(joined):  # file:/etc/passwd has no "//"
                raise errors.ResolveError(
                    f'the remote file {self.location} includes {ref!r}, '
                    'which is not an http(s) URL', where=where,
                    hint='remote requirements files may include only URLs '
                         'and paths relative to themselves')
            return _Source(joined, remote=True)
        path = Path(self.location).parent / _local_path(ref)
        return _local(path, self.root, where, included=True)


def _local_path(ref: str) -> str:
    parts = urllib.parse.urlsplit(ref)
    return urllib.parse.unquote(parts.path) if parts.scheme == 'file' else ref


def _local(path: Path, root: Path | None, where: str, *, included: bool
           ) -> _Source:
    """A local source; one in the checkout must stay inside it."""
    path = Path(path).resolve()
    if root is not None and not path.is_relative_to(root):
        raise errors.ResolveError(
            f'{path} is outside the checkout {root}', where=where,
            hint=('requirements files in the checkout may include only '
                  'files inside it' if included else _FILE_HINT))
    return _Source(str(path), root=root)


class RequirementsFile(Resolver):
    """Pins from a requirements file: its exact == lines (a pip freeze)."""

    options = {
        'file': Option(str, 'requirements.txt',
                       help='a path relative to the checkout, an absolute '
                            'path, or an http(s) URL'),
    }

    def resolve(self) -> Pins:
        source = self._root_source()
        reader = _Reader(self.context.interpreter.marker_environment(),
                         self.context.http, self.context.checkout.path)
        reader.read(source, constraint=False, chain=(),
                    where=self._where())
        own = reqfiles.project_name(self.context.checkout.path,
                                    self.context.project_info.name)
        pins = [p for p in reader.pins if not reqfiles.same_name(p.name, own)]
        requirements = [r for r in dict.fromkeys(reader.requirements)
                        if not reqfiles.same_name(_name(r), own)]
        LOG.info('%s: %d pins and %d unpinned requirements from %s',
                 self.context.project_info.name, len(pins), len(requirements),
                 source.location)
        return Pins.of(pins, {'resolver': 'requirements-file',
                              'file': source.shown}, requirements)

    def _where(self) -> str:
        project = self.context.project_info
        return project.where_key('resolver_options') or f'project {project.name}'

    def _root_source(self) -> _Source:
        value = str(self.context.options.get('file') or 'requirements.txt')
        if is_remote(value):
            return _Source(value, remote=True)
        root = self.context.checkout.path.resolve()
        path = Path(_local_path(value))
        if path.is_absolute() and not path.resolve().is_relative_to(root):
            return _Source(str(path.resolve()))
        return _local(root / path, root, self._where(), included=False)


def _name(requirement: str) -> str:
    return re.split(r'[^A-Za-z0-9._-]', requirement, maxsplit=1)[0]


class _Reader:
    """Walks a requirements file and its includes, collecting pins."""

    def __init__(self, env, http, checkout: Path):
        self.env = env
        self.http = http
        self.checkout = checkout.resolve()
        self.pins: list[Pin] = []
        self.requirements: list[str] = []

    def read(self, source: _Source, *, constraint: bool,
             chain: tuple[str, ...], where: str) -> None:
        """Read ``source`` (included from ``where``) and what it includes."""
        if source.location in chain:
            cycle = ' -> '.join(chain + (source.location,))
            raise errors.ResolveError(
                f'requirements files include each other: {cycle}', where=where,
                hint='remove one of the -r/-c lines')
        text = self._text(source, where, included=bool(chain))
        chain = chain + (source.location,)
        for line in reqfiles.logical_lines(text, source.location,
                                           private=source.private):
            if line.text.startswith('-'):
                self._option(line, source, constraint, chain)
            else:
                self._requirement(line, constraint)

    def _text(self, source: _Source, where: str, *, included: bool) -> str:
        if source.remote:
            return self.http.get_text(
                source.location, cache_key=reqfiles.cache_key(source.location),
                what='requirements file')
        path = Path(source.location)
        try:
            return path.read_text(encoding='utf-8')
        except FileNotFoundError:
            raise errors.ResolveError(
                f'the requirements file {path} does not exist', where=where,
                hint='fix the -r/-c line that names it' if included
                else _FILE_HINT) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.ResolveError(
                f'cannot read the requirements file {path}: {exc}',
                where=where, hint=_FILE_HINT) from exc

    def _option(self, line: reqfiles.Line, source: _Source,
                constraint: bool, chain: tuple[str, ...]) -> None:
        name, value = _split_option(line.text)
        if name in _INCLUDE:
            if not value:
                raise errors.ResolveError(f'{name} names no file',
                                          where=line.where)
            self.read(source.include(value, line.where),
                      constraint=constraint or _INCLUDE[name], chain=chain,
                      where=line.where)
        elif name in _EDITABLE:
            self._direct(dataclasses.replace(line, text=value), constraint)
        elif name in _IGNORED:
            LOG.debug('%s: ignoring %s', line.where, name)
        else:
            LOG.warning('%s: ignoring the unknown option %s', line.where,
                        line.shown)

    def _requirement(self, line: reqfiles.Line, constraint: bool) -> None:
        line = dataclasses.replace(
            line, text=reqfiles.strip_line_options(line.text))
        text = line.text
        if _URL.match(text) or text.startswith(('.', '/')):
            self._direct(line, constraint)
            return
        req = reqfiles.parse_requirement(line, self.env)
        if req is None:
            return
        pin = reqfiles.exact_pin(req)
        if pin is not None:
            self.pins.append(pin)
        elif constraint:
            # pip would apply it as a bound; a range is no pin, and
            # installing it as a requirement would add a dependency.
            LOG.info('%s: the range constraint %s is not kept', line.where,
                     line.shown)
        else:
            extras = f'[{",".join(sorted(req.extras))}]' if req.extras else ''
            self.requirements.append(f'{req.name}{extras}{req.specifier}')

    def _direct(self, line: reqfiles.Line, constraint: bool) -> None:
        """An ``-e``/URL/path line: keep the name it installs, as pbr does."""
        if self._is_checkout(line.text):
            LOG.debug('%s: skipping the project itself (%s)', line.where,
                      line.text)
            return
        requirement = reqfiles.egg_requirement(line.text)
        if requirement is None:
            raise errors.ResolveError(
                f'cannot tell which project {line.shown} installs',
                where=line.where,
                hint='add "#egg=NAME" to the URL, or write "NAME @ URL"')
        if constraint:
            LOG.info('%s: the editable constraint %s is not kept', line.where,
                     line.shown)
        else:
            self.requirements.append(requirement)

    def _is_checkout(self, target: str) -> bool:
        """Whether ``target`` (``.``, ``file://...``) is the project itself."""
        if is_remote(target) or target.startswith(('git+', 'hg+', 'svn+', 'bzr+')):
            return False
        path = re.sub(r'\[.*\]$', '', target.split('#', 1)[0])
        return (self.checkout / _local_path(path)).resolve() == self.checkout


def _split_option(text: str) -> tuple[str, str]:
    """``--requirement=a.txt``/``-r a.txt``/``-ra.txt`` -> (option, value)."""
    match = re.match(r'^(--[A-Za-z0-9-]+)(?:\s*=\s*|\s+)?(.*)$', text)
    name, value = match.groups() if match else (text[:2], text[2:])
    return name, value.strip().strip('\'"')
