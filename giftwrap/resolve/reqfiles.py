"""Reading pip requirement and constraint files, as pip and pbr do.

Shared by the ``requirements-file`` and ``upper-constraints`` resolvers:
line handling (comments, continuations, per-line options), exact pins
(``==``/``===``) versus ranges, markers evaluated for the *target*
interpreter (not the one running giftwrap), and the project's own
distribution name, which must never be pinned (pip refuses to install a
project whose constraints pin it to another version).
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import re
from pathlib import Path
from typing import Iterator, Mapping

from packaging.markers import InvalidMarker, UndefinedComparison
from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from giftwrap import errors
from giftwrap.resolve.base import Pin

try:
    import tomllib
except ImportError:  # Python < 3.11: a regex is enough for one key
    tomllib = None

LOG = logging.getLogger(__name__)

# pip's own rule: '#' starts a comment only at the start or after blanks,
# so 'git+https://...#egg=name' keeps its fragment.
_COMMENT = re.compile(r'(^|\s+)#.*$')
_EGG = re.compile(r'[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)')


@dataclasses.dataclass(frozen=True)
class Line:
    """One logical line of a requirements file, comments removed.

    :ivar where: ``file:line`` for messages.
    :ivar private: the file is a local one outside the checkout (the
        operator's, or one a mistake pointed at, such as ``/etc/shadow``):
        messages name ``where`` but never quote the line.
    """

    text: str
    where: str
    private: bool = False

    @property
    def shown(self) -> str:
        """The line for a message: quoted, unless the file is private."""
        return 'this line' if self.private else repr(self.text)


def logical_lines(text: str, source: str, *, private: bool = False
                  ) -> Iterator[Line]:
    """Non-blank lines with comments stripped and ``\\`` continuations joined.

    :param private: see :attr:`Line.private`.
    """
    pending, start = '', 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith('\\') and not _COMMENT.search(raw):
            pending += raw[:-1] + ' '
            continue
        line = _COMMENT.sub('', pending + raw).strip()
        pending = ''
        if line:
            yield Line(line, f'{source}:{start}', private)
    if pending.strip():
        yield Line(_COMMENT.sub('', pending).strip(), f'{source}:{start}',
                   private)


def strip_line_options(text: str) -> str:
    """Drop per-requirement options (``--hash=...``), as pip does."""
    kept = []
    for token in text.split(' '):
        if token.startswith('-') and kept:
            break
        kept.append(token)
    return ' '.join(kept).strip()


def parse_requirement(line: Line, env: Mapping[str, str]
                      ) -> Requirement | None:
    """``line`` as a requirement, or ``None`` if its marker excludes it.

    :param env: the target interpreter's marker environment.
    :raises giftwrap.errors.ResolveError: the line is not a requirement.
    """
    try:
        req = Requirement(line.text)
    except InvalidRequirement as exc:
        # packaging's message quotes the line too.
        detail = '' if line.private else f' ({exc})'
        raise errors.ResolveError(
            f'{line.shown} is not a requirement{detail}', where=line.where,
            hint='is this really a requirements or constraints file?'
        ) from (None if line.private else exc)
    if req.marker is None:
        return req
    try:
        keep = req.marker.evaluate({'extra': '', **env})
    except (InvalidMarker, UndefinedComparison,
            UndefinedEnvironmentName) as exc:
        raise errors.ResolveError(
            f'cannot evaluate the marker of {line.shown}'
            + ('' if line.private else f' ({exc})'),
            where=line.where) from (None if line.private else exc)
    return req if keep else None


def exact_pin(req: Requirement) -> Pin | None:
    """The pin of ``name==1.2``/``name===1.2``, or ``None`` for a range."""
    specs = list(req.specifier)
    if req.url or len(specs) != 1:
        return None
    spec = specs[0]
    if spec.operator == '===' or (spec.operator == '=='
                                  and not spec.version.endswith('.*')):
        return Pin(req.name, spec.version)
    return None


def egg_requirement(url: str) -> str | None:
    """pbr's reading of an ``-e``/URL line: ``#egg=name[-1.2]``.

    :returns: ``name`` or ``name>=1.2``; ``None`` without an egg fragment.
    """
    match = _EGG.search(url)
    if not match:
        return None
    egg = match.group(1)
    name, sep, version = egg.rpartition('-')
    if sep and version[:1].isdigit():
        return f'{name}>={version}'
    return egg


def project_name(checkout: Path, fallback: str) -> str:
    """The project's distribution name, to drop from its own pins.

    :returns: setup.cfg's ``[metadata] name``, else pyproject.toml's
        ``[project] name``, else ``fallback`` (the manifest's name).
    """
    name = _setup_cfg_name(checkout / 'setup.cfg') or _pyproject_name(
        checkout / 'pyproject.toml')
    return name or fallback


def _setup_cfg_name(path: Path) -> str | None:
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding='utf-8')
    except (configparser.Error, UnicodeDecodeError) as exc:
        LOG.warning('cannot read %s: %s', path, exc)
        return None
    name = parser.get('metadata', 'name', fallback='').strip()
    return name or None


def _pyproject_name(path: Path) -> str | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding='utf-8', errors='replace')
    if tomllib is not None:
        try:
            name = tomllib.loads(text).get('project', {}).get('name')
        except tomllib.TOMLDecodeError as exc:
            LOG.warning('cannot read %s: %s', path, exc)
            return None
        return name if isinstance(name, str) and name else None
    section = re.search(r'^\[project\]\s*$(.*?)(?=^\[|\Z)', text, re.M | re.S)
    match = section and re.search(r'^name\s*=\s*["\']([^"\']+)["\']',
                                  section.group(1), re.M)
    return match.group(1) if match else None


def same_name(a: str, b: str) -> bool:
    """Whether two distribution names are the same project."""
    return canonicalize_name(a) == canonicalize_name(b)


def parse_constraints(text: str, source: str, env: Mapping[str, str], *,
                      private: bool = False) -> list[Pin]:
    """The exact pins of a constraints file (``name===1.0;marker``).

    Lines whose marker does not hold for ``env`` are left out; options and
    ranges, which upper-constraints never has, are logged and ignored.

    :param source: the file's URL or path, for messages.
    :param private: a local file outside the checkout: messages never
        quote its lines (:attr:`Line.private`).
    :raises giftwrap.errors.ResolveError: a line is not a requirement.
    """
    pins = []
    for line in logical_lines(text, source, private=private):
        if line.text.startswith('-'):
            LOG.warning('%s: ignoring %s in a constraints file', line.where,
                        line.shown)
            continue
        req = parse_requirement(
            Line(strip_line_options(line.text), line.where, private), env)
        if req is None:
            continue
        pin = exact_pin(req)
        if pin is None:
            LOG.warning('%s: %s is not an exact version; ignored',
                        line.where, line.shown)
            continue
        pins.append(pin)
    return pins


# A full commit id in a URL (raw/commit/<sha>/, ?h=<sha>, ?id=<sha>).
_COMMIT_ID = re.compile(r'(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])')


def cache_key(url: str) -> str | None:
    """``url`` itself if what it serves can never change, else ``None``.

    Only a URL naming a commit is immutable; branch and releases URLs
    (``releases.openstack.org/constraints/upper/2025.1``) move daily, so
    they are fetched every time and never cached.
    """
    return url if _COMMIT_ID.search(url) else None
