"""The ``upper-constraints`` resolver: OpenStack's tested versions.

openstack/requirements keeps one ``upper-constraints.txt`` per series: the
exact version of every library the gate tested (``oslo.config===10.7.0``).
This resolver finds the right file for a project, in this order:

1. the options: ``urls`` (the 2014 ``settings.constraints`` list), then
   ``release`` (a series name, looked up under ``releases_url``), then
   ``url``; all merged in that order, later files winning;
2. the series of a ``stable/<series>`` or ``unmaintained/<series>`` gitref;
3. the constraints URL in the checkout's ``tox.ini`` (what its own tests
   use);

and drops the project's own entry, which would conflict with the version
being built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.parse
from pathlib import Path

from giftwrap.api import Option, Pin, Pins, Resolver
from giftwrap import errors
from giftwrap.fetch import links
from giftwrap.resolve import reqfiles, requirements_repo
from giftwrap.resolve.http import is_remote

LOG = logging.getLogger(__name__)

RELEASES_URL = 'https://releases.openstack.org/constraints/upper/'
REQUIREMENTS_REPO = 'https://opendev.org/openstack/requirements'

_SERIES_REF = re.compile(
    r'^(?:refs/heads/)?(?:origin/)?(?:stable|unmaintained)/([A-Za-z0-9][A-Za-z0-9._-]*)\Z')
_SERIES = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*\Z')
# deps = -c{env:TOX_CONSTRAINTS_FILE:https://...}; install_command and
# tox 4's "constraints =" use the same substitution.
_TOX_ENV = re.compile(
    r'\{env:(?:TOX|UPPER)_CONSTRAINTS_FILE:((?:\{[^{}]*\}|[^{}])+)\}')
_INI_COMMENT = re.compile(r'^\s*[#;].*$', re.M)
_TOX_CONSTRAINTS = re.compile(r'^\s*constraints\s*=\s*(\S+)', re.M)
_TOX_DASH_C = re.compile(r'(?:^|\s)-c\s*(https?://\S+)', re.M)
# The cgit URL tox.ini files used until 2019; that server is gone.
_CGIT = re.compile(r'^https?://git\.openstack\.org/cgit/openstack/requirements/'
                   r'plain/upper-constraints\.txt(?:\?h=(.+))?\Z')
_OPENDEV_RAW = ('https://opendev.org/openstack/requirements/raw/branch/'
                '{ref}/upper-constraints.txt')


class UpperConstraints(Resolver):
    """Pins from OpenStack's upper-constraints for the project's series."""

    options = {
        'url': Option(str, None, help='a constraints file: an http(s) URL, '
                      'a path relative to the checkout, or one starting '
                      'with ./ or ../, relative to the manifest'),
        'urls': Option(list, None, help='several constraints files, merged '
                       'in order (later wins); the 2014 settings.constraints'),
        'release': Option(str, None, help='an OpenStack series (master, '
                          '2025.1, yoga): its constraints under releases_url'),
        'releases_url': Option(str, RELEASES_URL, help='where series '
                               'constraints are published'),
        'repo': Option(str, None, help='read upper-constraints.txt from this '
                       'requirements repository (git URL or path) instead; '
                       f'with ref or date alone: {REQUIREMENTS_REPO}'),
        'ref': Option(str, None, help='branch, tag or commit of the '
                      'requirements repository (stable/X falls back to '
                      'unmaintained/X, X-eol, X-eom); default: the series '
                      'of the gitref, else master'),
        'date': Option(str, None, help='use the last requirements commit at '
                       'or before this time (ISO 8601, e.g. 2025-06-01 or '
                       '2025-06-01T12:00:00Z): what a build of that day saw'),
    }

    def resolve(self) -> Pins:
        options = self.context.options
        if any(options.get(k) for k in ('repo', 'ref', 'date')):
            text, location, facts = requirements_repo.read(
                self.context, repo=options.get('repo') or REQUIREMENTS_REPO,
                ref=options.get('ref') or series_ref(
                    self.context.project_info.gitref),
                date=options.get('date'))
            return self._pins([(location, text)], 'requirements repository',
                              facts)
        locations, origin = self._locations()
        return self._pins([(loc, self._read(loc)) for loc in locations],
                          origin, {})

    def fingerprint(self) -> str | None:
        """The constraints files' texts (read again; remote ones too), or
        None where tox.ini or a requirements repository chooses them."""
        options = self.context.options
        if any(options.get(k) for k in ('repo', 'ref', 'date')):
            return None
        values = self._explicit_values()
        if not values:
            series = series_of(self.context.project_info.gitref)
            if not series:
                return None  # tox.ini, in the checkout, names the file
            values = [self._release_url(series)]
        digest = hashlib.sha256()
        for value in map(self._normal, values):
            # A path in the checkout is a function of the commit.
            value = self._beside_manifest(value)
            text = self._read(value) if is_remote(value) or \
                value.startswith('file:') or Path(value).is_absolute() \
                else 'checkout:' + value
            digest.update(text.encode('utf-8') + b'\0')
        return digest.hexdigest()

    def _pins(self, texts, origin, facts) -> Pins:
        env = self.context.interpreter.marker_environment()
        pins: list[Pin] = []
        locations = [location for location, _ in texts]
        for location, text in texts:
            found = reqfiles.parse_constraints(
                text, location, env, private=self._private(location, origin))
            if not found:
                raise errors.ResolveError(
                    f'{location} holds no constraints for Python '
                    f'{env["python_version"]}', where=self._where(),
                    hint='check that the URL serves an upper-constraints.txt')
            pins.extend(found)
        own = reqfiles.project_name(self.context.checkout.path,
                                    self.context.project_info.name)
        provenance = {'resolver': 'upper-constraints',
                      'constraints_url': ' '.join(locations),
                      'constraints_from': origin, **facts}
        result = Pins.of(pins, provenance)
        if any(reqfiles.same_name(own, key) for key in result.pins):
            LOG.info('dropping %s from the constraints: it is the project '
                     'being built', own)
            result = result.without(own)
        return result

    def _where(self) -> str:
        project = self.context.project_info
        return project.where_key('resolver_options') or f'project {project.name}'

    def _locations(self) -> tuple[list[str], str]:
        """The constraints files to merge, and why they were chosen."""
        explicit = self._explicit()
        if explicit:
            return explicit, 'resolver_options'
        series = series_of(self.context.project_info.gitref)
        if series:
            return [self._release_url(series)], f'gitref {self.context.project_info.gitref}'
        url = tox_constraints_url(self.context.checkout.path)
        if url:
            return [self._tox_location(url)], 'tox.ini'
        raise errors.ResolveError(
            'cannot tell which upper-constraints to use: the gitref '
            f'{self.context.project_info.gitref!r} names no stable/ or '
            'unmaintained/ series and tox.ini names no constraints file',
            where=self._where(),
            hint='set resolver_options: {upper-constraints: {release: '
                 'SERIES}} (e.g. 2025.1 or master) or {url: URL}')

    def _explicit(self) -> list[str]:
        return [self._location(u) for u in self._explicit_values()]

    def _explicit_values(self) -> list[str]:
        options = self.context.options
        urls = list(options.get('urls') or ())
        for url in urls:
            if not isinstance(url, str) or not url:
                raise errors.ResolveError(
                    f'urls must list URLs or paths, not {url!r}',
                    where=self._where())
        if options.get('release'):
            urls.append(self._release_url(str(options['release'])))
        if options.get('url'):
            urls.append(str(options['url']))
        return urls

    def _release_url(self, series: str) -> str:
        if not _SERIES.match(series) or '..' in series:
            raise errors.ResolveError(
                f'{series!r} is not an OpenStack series name',
                where=self._where(), hint='e.g. master, 2025.1, zed, yoga')
        base = str(self.context.options.get('releases_url') or RELEASES_URL)
        return base.rstrip('/') + '/' + series

    def _normal(self, value: str) -> str:
        value = value.strip()
        legacy = _CGIT.match(value)
        if legacy:
            value = _OPENDEV_RAW.format(ref=legacy.group(1) or 'master')
            LOG.info('git.openstack.org is gone; using %s instead', value)
        return value

    def _location(self, value: str) -> str:
        """A URL as is; a path relative to the checkout made absolute."""
        value = self._beside_manifest(self._normal(value))
        if is_remote(value) or value.startswith('file:'):
            return value
        return str(self.context.checkout.path / value.replace(
            '{toxinidir}', str(self.context.checkout.path)))

    def _beside_manifest(self, value: str) -> str:
        """``./uc.txt`` or ``../uc.txt``: a file of the release repository,
        beside the manifest (vendored constraints), made absolute; any
        other relative path stays one in the checkout."""
        if value.startswith(('./', '../')):
            return os.path.normpath(self.context.project_info.manifest_dir / value)
        return value

    def _tox_location(self, value: str) -> str:
        """What tox.ini names: an http(s) URL, or a file in the checkout.

        tox.ini comes from the repository, so a ``file:`` URL or path
        leading out of the checkout (``{toxinidir}/../..``) is refused: it
        would read the build machine's files for someone else.
        """
        value, checkout = self._normal(value), self.context.checkout.path
        if is_remote(value):
            return value
        parts = urllib.parse.urlsplit(value)
        if parts.scheme == 'file':
            value = urllib.parse.unquote(parts.path)
        path = checkout / value.replace('{toxinidir}', str(checkout))
        if (parts.scheme not in ('', 'file') or parts.netloc
                or not links.inside(checkout, path)):
            raise errors.ResolveError(
                f'tox.ini names the constraints file {value!r}, which is not '
                'an http(s) URL or a file inside the checkout',
                where=_tox_line(checkout, value), hint=(
                    'a repository may name only files inside its checkout; '
                    'set resolver_options: {upper-constraints: {url: URL}} '
                    'or {release: SERIES}'))
        return str(path)

    def _private(self, location: str, origin: str) -> bool:
        """A local constraints file outside the checkout: never quoted."""
        if origin == 'requirements repository' or is_remote(location):
            return False
        parts = urllib.parse.urlsplit(location)
        path = urllib.parse.unquote(parts.path) if parts.scheme == 'file' \
            else location
        return not links.inside(self.context.checkout.path, path)

    def _read(self, location: str) -> str:
        """The text of one constraints file.

        Reading the requirements repository at a commit with dulwich
        (``git+<url>@<ref>``) will be one more kind of location here.
        """
        key = reqfiles.cache_key(location) if is_remote(location) else None
        if is_remote(location) and key is None:
            LOG.info('fetching %s without caching: only a commit URL is '
                     'immutable, this one can change daily', location)
        try:
            return self.context.http.get_text(location, cache_key=key,
                                              what='upper constraints')
        except errors.ResolveError as exc:
            raise exc.located(self._where())


def series_ref(gitref: str) -> str:
    """The requirements branch matching a project's gitref."""
    series = series_of(gitref)
    return f'stable/{series}' if series else 'master'


def series_of(gitref: str) -> str | None:
    """``2025.1`` for ``stable/2025.1`` or ``unmaintained/2025.1``."""
    match = _SERIES_REF.match(gitref or '')
    return match.group(1) if match else None


def _tox_line(checkout: Path, value: str) -> str:
    """``tox.ini:N``, the first line naming ``value`` (``tox.ini``)."""
    text = (checkout / 'tox.ini').read_text(encoding='utf-8', errors='replace')
    for number, line in enumerate(text.splitlines(), 1):
        if value in line and not _INI_COMMENT.match(line):
            return f'tox.ini:{number}'
    return 'tox.ini'


def tox_constraints_url(checkout: Path) -> str | None:
    """The constraints file the checkout's tox.ini installs with, if any.

    :returns: a URL or a path (``{toxinidir}`` still in it), or ``None``.
    """
    path = checkout / 'tox.ini'
    if not path.is_file():
        return None
    text = _INI_COMMENT.sub('', path.read_text(encoding='utf-8',
                                               errors='replace'))
    match = _TOX_ENV.search(text)
    if match:
        return match.group(1).strip()
    for pattern in (_TOX_CONSTRAINTS, _TOX_DASH_C):
        for match in pattern.finditer(text):
            value = match.group(1).strip()
            if '{' not in value.replace('{toxinidir}', ''):
                return value
    return None
