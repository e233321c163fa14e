"""The documentation files Debian policy asks of every package.

* ``/usr/share/doc/<package>/copyright``, machine-readable (DEP-5): a
  ``Files`` paragraph for the project (``*``) and one for every
  distribution bundled in the virtualenv, with its copyright holders and
  its license as a DEP-5 short name.  Licenses in Debian's
  ``/usr/share/common-licenses`` are referenced there; the full text of any
  other comes from the distribution's ``.dist-info``.
* ``changelog.Debian.gz``: what the lock entry records -- version, commit,
  patches, every installed distribution -- dated ``SOURCE_DATE_EPOCH``;
  and ``changelog.gz``, which points at the project's own history.

Everything is read from the staged virtualenv and the build's facts, never
from the clock or the build machine, so a rebuild elsewhere writes the same
bytes.  :func:`files` gives them as :class:`~giftwrap.package.description.GeneratedFile`
for the deb packagers; :func:`license_files` lists the license files an
rpm marks ``%license``.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.parser
import email.utils
import logging
import os
import re
import textwrap
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from packaging.utils import canonicalize_name

LOG = logging.getLogger(__name__)

FORMAT = 'https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/'
DOC_DIR = PurePosixPath('/usr/share/doc')
#: The Debian changelog and the upstream one, in the package's doc dir.
DEBIAN_CHANGELOG, UPSTREAM_CHANGELOG = 'changelog.Debian.gz', 'changelog.gz'

#: The licenses whose text every Debian system has in
#: /usr/share/common-licenses (Debian 12).  "BSD" there is the
#: Regents' text only, so a BSD license always ships its own text.
COMMON_LICENSES = frozenset((
    'Apache-2.0', 'Artistic', 'CC0-1.0', 'GFDL-1.2', 'GFDL-1.3', 'GPL-1',
    'GPL-2', 'GPL-3', 'LGPL-2', 'LGPL-2.1', 'LGPL-3', 'MPL-1.1', 'MPL-2.0'))

# SPDX identifiers DEP-5 spells differently.
_SPDX = {'mit': 'Expat', 'bsd-2-clause': 'BSD-2-clause',
         'bsd-3-clause': 'BSD-3-clause', 'bsd-4-clause': 'BSD-4-clause',
         'gpl-2.0': 'GPL-2', 'gpl-2.0-only': 'GPL-2', 'gpl-2.0+': 'GPL-2+',
         'gpl-2.0-or-later': 'GPL-2+', 'gpl-3.0': 'GPL-3',
         'gpl-3.0-only': 'GPL-3', 'gpl-3.0-or-later': 'GPL-3+',
         'gpl-3.0+': 'GPL-3+', 'lgpl-2.1': 'LGPL-2.1',
         'lgpl-2.1-only': 'LGPL-2.1', 'lgpl-2.1-or-later': 'LGPL-2.1+',
         'lgpl-2.1+': 'LGPL-2.1+', 'lgpl-3.0': 'LGPL-3',
         'lgpl-3.0-only': 'LGPL-3', 'lgpl-3.0-or-later': 'LGPL-3+',
         'lgpl-3.0+': 'LGPL-3+', 'python-2.0': 'Python-2.0',
         'zpl-2.1': 'ZPL-2.1'}
# The free-text names and trove classifiers seen in PyPI metadata.
_NAMES = {
    'mit': 'Expat', 'mit license': 'Expat', 'the mit license': 'Expat',
    'expat': 'Expat', 'apache 2.0': 'Apache-2.0', 'apache-2': 'Apache-2.0',
    'apache 2': 'Apache-2.0', 'apache license 2.0': 'Apache-2.0',
    'apache license, version 2.0': 'Apache-2.0',
    'apache license version 2.0': 'Apache-2.0',
    'apache software license': 'Apache-2.0',
    'apache software license 2.0': 'Apache-2.0', 'asl 2.0': 'Apache-2.0',
    'asl2': 'Apache-2.0', 'bsd': 'BSD-3-clause',
    'bsd license': 'BSD-3-clause', 'new bsd': 'BSD-3-clause',
    'new bsd license': 'BSD-3-clause', '3-clause bsd': 'BSD-3-clause',
    '3-clause bsd license': 'BSD-3-clause', 'bsd-3': 'BSD-3-clause',
    'modified bsd license': 'BSD-3-clause', 'simplified bsd': 'BSD-2-clause',
    'isc license (iscl)': 'ISC', 'isc license': 'ISC', 'isc': 'ISC',
    'psf': 'PSF-2.0', 'psfl': 'PSF-2.0', 'psf license': 'PSF-2.0',
    'python software foundation license': 'PSF-2.0',
    'mozilla public license 2.0 (mpl 2.0)': 'MPL-2.0', 'mpl 2.0': 'MPL-2.0',
    'mpl-2.0': 'MPL-2.0',
    'gnu general public license v2 (gplv2)': 'GPL-2',
    'gnu general public license v2 or later (gplv2+)': 'GPL-2+',
    'gnu general public license v3 (gplv3)': 'GPL-3',
    'gnu general public license v3 or later (gplv3+)': 'GPL-3+',
    'gnu lesser general public license v2 (lgplv2)': 'LGPL-2',
    'gnu lesser general public license v2 or later (lgplv2+)': 'LGPL-2+',
    'gnu lesser general public license v3 (lgplv3)': 'LGPL-3',
    'gnu lesser general public license v3 or later (lgplv3+)': 'LGPL-3+',
    'gnu library or lesser general public license (lgpl)': 'LGPL',
    'lgpl': 'LGPL', 'lgplv2+': 'LGPL-2+', 'gpl': 'GPL', 'gplv2': 'GPL-2',
    'gplv2+': 'GPL-2+', 'gplv3': 'GPL-3', 'gplv3+': 'GPL-3+',
    'the unlicense (unlicense)': 'Unlicense', 'unlicense': 'Unlicense',
    'zope public license': 'ZPL-2.1', 'zpl 2.1': 'ZPL-2.1',
    'historical permission notice and disclaimer (hpnd)': 'HPND',
    'public domain': 'public-domain', 'cc0 1.0 universal (cc0 1.0) public '
    'domain dedication': 'CC0-1.0',
}
#: What identifies a full copy of a common license in a license file:
#: such a file is referenced, not copied (lintian's
#: copyright-file-contains-full-*-license).
_COMMON_TEXTS = (
    ('Apache-2.0', ('Apache License', 'Version 2.0, January 2004')),
    ('GPL-2', ('GNU GENERAL PUBLIC LICENSE', 'Version 2, June 1991')),
    ('GPL-3', ('GNU GENERAL PUBLIC LICENSE', 'Version 3, 29 June 2007')),
    ('LGPL-2.1', ('GNU LESSER GENERAL PUBLIC LICENSE',
                  'Version 2.1, February 1999')),
    ('LGPL-3', ('GNU LESSER GENERAL PUBLIC LICENSE',
                'Version 3, 29 June 2007')),
    ('MPL-2.0', ('Mozilla Public License Version 2.0',)),
)
_SHORT = re.compile(r'^[A-Za-z0-9][A-Za-z0-9.+-]*\Z')
_LICENSE_FILE = re.compile(r'^(LICEN[CS]E|COPYING|COPYRIGHT|NOTICE)',
                           re.IGNORECASE)
_CONTROL = re.compile(r'[\x00-\x08\x0b-\x1f\x7f]')


@dataclasses.dataclass(frozen=True)
class Distribution:
    """What the copyright file says of one installed distribution.

    :ivar files: DEP-5 patterns of what it installed, relative to ``/``.
    :ivar license: the DEP-5 license expression (``Expat or Apache-2.0``).
    :ivar raw_license: what its metadata says, for the record.
    :ivar license_files: its license texts, in its ``.dist-info``.
    """

    name: str
    version: str
    holder: str
    license: str
    raw_license: str = ''
    files: tuple[str, ...] = ()
    license_files: tuple[Path, ...] = ()


def installed(venv: Path, install_path: PurePosixPath
              ) -> tuple[Distribution, ...]:
    """Every distribution installed in the staged virtualenv ``venv``,
    which is installed at ``install_path``, by canonical name."""
    found = []
    for info in sorted(venv.glob('lib/python*/site-packages/*.dist-info')):
        site = install_path / info.parent.relative_to(venv)
        dist = _distribution(info, PurePosixPath(site))
        if dist is not None:
            found.append(dist)
    return tuple(sorted(found, key=lambda d: canonicalize_name(d.name)))


def _distribution(info: Path, site: PurePosixPath) -> Distribution | None:
    try:
        text = (info / 'METADATA').read_text(encoding='utf-8',
                                             errors='replace')
    except OSError:
        LOG.debug('no METADATA in %s', info)
        return None
    meta = email.parser.HeaderParser().parsestr(text)
    name = _one_line(meta.get('Name') or info.name.split('-')[0])
    version = _one_line(meta.get('Version') or '')
    raw = meta.get('License-Expression') or meta.get('License') or ''
    return Distribution(
        name=name, version=version, holder=holder(meta, name),
        license=short_name(meta), raw_license=_one_line(raw),
        files=_patterns(info, site),
        license_files=_license_files(info, meta.get_all('License-File') or ()))


def holder(meta, name: str) -> str:
    """The copyright holders a METADATA names: its authors, else its
    maintainers, else "the NAME authors"."""
    for field in ('Author', 'Maintainer'):
        who = _one_line(meta.get(field) or '')
        address = _one_line(meta.get(f'{field}-email') or '')
        if '<' in address or not who:
            value = address or who
        else:
            value = f'{who} <{address}>' if address else who
        if value:
            return value
    return f'the {name} authors'


def short_name(meta) -> str:
    """The DEP-5 license expression of a parsed METADATA.

    ``License-Expression`` (SPDX) first, then a ``License`` that is a known
    name or a short identifier, then the license classifiers (joined with
    ``or``); ``other`` when none says.
    """
    expression = _one_line(meta.get('License-Expression') or '')
    if expression:
        return _spdx(expression)
    named = _named(meta.get('License') or '')
    if named:
        return named
    classifiers = [c.split('::')[-1].strip()
                   for c in meta.get_all('Classifier') or ()
                   if c.startswith('License ::')]
    names = [n for n in (_NAMES.get(c.lower()) for c in classifiers) if n]
    if names:
        return ' or '.join(dict.fromkeys(names))
    return 'other'


def _named(value: str) -> str | None:
    """A license field that is a known name or a short identifier, spelled
    for DEP-5 (``MIT License`` -> ``Expat``); else None."""
    value = value.strip()
    if not value or '\n' in value:
        return None
    known = _NAMES.get(value.lower()) or _SPDX.get(value.lower())
    if known:
        return known
    return value if _SHORT.match(value) and value.upper() != 'UNKNOWN' \
        else None


def _spdx(expression: str) -> str:
    words = []
    for word in re.split(r'(\s+|\(|\))', expression):
        upper = word.upper()
        if upper in ('OR', 'AND', 'WITH'):
            words.append(upper.lower())
        else:
            words.append(_SPDX.get(word.lower(), word))
    return ''.join(words).strip()


def _patterns(info: Path, site: PurePosixPath) -> tuple[str, ...]:
    """DEP-5 patterns of what a distribution installed: one per top-level
    entry of its RECORD below site-packages."""
    relative = str(site).lstrip('/')
    tops = set()
    try:
        record = (info / 'RECORD').read_text(encoding='utf-8',
                                             errors='replace')
    except OSError:
        record = ''
    for line in record.splitlines():
        path = line.rsplit(',', 2)[0] if line.count(',') >= 2 else line
        path = path.strip().strip('"')
        if not path or path.startswith(('..', '/')):
            continue  # console scripts: the project's "Files: *"
        top, sep, _ = path.partition('/')
        if top == '__pycache__' or any(c in top for c in '*?\\'):
            continue
        tops.add(f'{relative}/{top}' + ('/*' if sep else ''))
    tops.add(f'{relative}/{info.name}/*')
    return tuple(sorted(tops))


def _license_files(info: Path, declared: Sequence[str]) -> tuple[Path, ...]:
    """The license files of a ``.dist-info``: those its METADATA declares
    (``License-File``, in ``licenses/`` since metadata 2.4), else those
    named like one."""
    found = []
    for name in declared:
        for path in (info / 'licenses' / name, info / name):
            if _inside(path, info) and path.is_file() and path not in found:
                found.append(path)
                break
    if not found:
        candidates = list(info.iterdir()) + (
            sorted((info / 'licenses').rglob('*'))
            if (info / 'licenses').is_dir() else [])
        found = [p for p in sorted(candidates) if p.is_file()
                 and not p.is_symlink() and (_LICENSE_FILE.match(p.name)
                                             or 'licenses' in p.parts)]
    return tuple(found)


def _inside(path: Path, top: Path) -> bool:
    try:
        return not path.is_symlink() and \
            Path(os.path.realpath(path)).is_relative_to(os.path.realpath(top))
    except OSError:
        return False


def copyright_file(project: str, source: str, holder_: str, license_: str,
                   distributions: Iterable[Distribution],
                   project_files: Sequence[Path] = ()) -> str:
    """The DEP-5 copyright file of a package of ``project``.

    :param source: where its source comes from (``Source:``).
    :param holder_: the project's copyright holders.
    :param license_: its license, as a DEP-5 expression.
    :param distributions: the bundled distributions (the project's own is
        skipped: ``Files: *`` is the project).
    :param project_files: the project's own license files.
    """
    paragraphs = [[f'Format: {FORMAT}', f'Upstream-Name: {_one_line(project)}',
                   f'Source: {_one_line(source)}']]
    used: list[str] = []
    paragraphs.append(_files_paragraph(['*'], holder_, license_ or 'other',
                                       project_files, project, used))
    wanted = canonicalize_name(project)
    for dist in distributions:
        if canonicalize_name(dist.name) == wanted:
            continue
        paragraphs.append(_files_paragraph(
            dist.files, dist.holder, dist.license, dist.license_files,
            f'{dist.name} {dist.version}', used, dist.raw_license))
    for name in used:
        paragraphs.append([
            f'License: {name}',
            f' On Debian systems, the complete text of the {name} license '
            f'can be',
            f' found in "/usr/share/common-licenses/{name}".'])
    return '\n\n'.join('\n'.join(p) for p in paragraphs) + '\n'


def _files_paragraph(patterns, holder_, expression, license_files, what,
                     used: list[str], raw: str = '') -> list[str]:
    lines = ['Files: ' + '\n '.join(patterns),
             f'Copyright: {_one_line(holder_) or "unknown"}',
             f'License: {expression}']
    components = _components(expression)
    if components and all(c in COMMON_LICENSES for c in components):
        used.extend(c for c in components if c not in used)
        return lines
    texts = (_license_text(p, used) for p in license_files)
    text = '\n\n'.join(t for t in texts if t)
    if not text:
        text = (f'{what} ships no license text in its .dist-info; its '
                f'metadata names the license {raw or "nowhere"}.')
    return lines + _continuation(text)


def _components(expression: str) -> list[str]:
    """The license names of a DEP-5 expression, a ``+`` suffix dropped."""
    words = re.split(r'\s+(?:or|and)\s+|[()]', expression)
    return [w.strip().rstrip('+') for w in words
            if w.strip() and ' with ' not in w]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding='utf-8', errors='replace').strip()
    except OSError as exc:
        LOG.warning('cannot read license file %s: %s', path, exc)
        return ''


def _license_text(path: Path, used: list[str]) -> str:
    """A license file's text, or a reference to the common license it is
    a copy of (which then gets its standalone paragraph)."""
    text = _read(path)
    head = ' '.join(text[:2000].split())
    for name, marks in _COMMON_TEXTS:
        if all(m.lower() in head.lower() for m in marks):
            if name not in used:
                used.append(name)
            return (f'{path.name}: the {name} license (see the {name} '
                    f'paragraph).')
    return text


def _continuation(text: str) -> list[str]:
    """Text as DEP-5 continuation lines: indented, blank lines as " .",
    no control characters."""
    lines = []
    for line in _CONTROL.sub('', text.replace('\t', '    ')).splitlines():
        line = line.rstrip()
        lines.append(f' {line}' if line and line != '.' else ' .')
    return lines


def _one_line(value: str) -> str:
    return ' '.join(_CONTROL.sub(' ', str(value)).split())


def debian_changelog(*, package: str, version: str, project: str,
                     upstream: str, source: str, gitref: str, commit: str,
                     distributions: Iterable[Distribution],
                     patches: Iterable = (), maintainer: str,
                     epoch: int) -> str:
    """The Debian changelog: one entry with what the lock records."""
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    items = [f'{project} {upstream} built by giftwrap from {source} at '
             f'{gitref} (commit {commit}).']
    items += [f'Patch {p.name} (sha256 {p.sha256}).' for p in patches]
    lines = [f'{package} ({version}) unstable; urgency=medium', '']
    for item in items:
        lines += textwrap.wrap(item, 78, initial_indent='  * ',
                               subsequent_indent='    ',
                               break_long_words=False, break_on_hyphens=False)
    installed_ = [f'    - {d.name} {d.version}' for d in distributions]
    if installed_:
        lines += ['  * Installed in the virtualenv:', *installed_]
    lines += ['', f' -- {_one_line(maintainer)}  '
              f'{email.utils.format_datetime(when)}', '']
    return '\n'.join(_one_line(line) if not line.startswith(' ') else
                     line.rstrip() for line in lines)


def upstream_changelog(project: str, upstream: str, source: str,
                       commit: str) -> str:
    """``changelog.gz``: the project's history is its git log."""
    return (f'{project} {upstream} is commit {commit} of\n{source};\n'
            f'its history there is the changelog.\n')


def files(package, project, tree, *, commit: str, epoch: int,
          patches: Iterable = ()) -> tuple:
    """The deb's copyright file and changelogs as generated files.

    :param package: the :class:`~giftwrap.package.description.PackageDescription`.
    :param project: the rendered manifest project.
    :param tree: the staged tree.
    """
    from giftwrap.package.description import GeneratedFile, dist_info

    distributions = installed(tree.venv, tree.install_path)
    own = dist_info(tree.venv, project.name)
    own_meta = email.parser.HeaderParser().parsestr(
        (own / 'METADATA').read_text(encoding='utf-8', errors='replace')
        if own and (own / 'METADATA').is_file() else '')
    license_ = _named(package.license) or short_name(own_meta)
    source = _source(project.provenance_url, package.homepage)
    doc = DOC_DIR / package.deb_name
    only_deb = frozenset({'deb'})
    copyright_ = copyright_file(
        project.name, source, holder(own_meta, project.name), license_,
        distributions, _license_files(own, own_meta.get_all('License-File')
                                      or ()) if own else ())
    changelog = debian_changelog(
        package=package.deb_name, version=package.version.deb,
        project=project.name, upstream=package.version.upstream,
        source=source, gitref=project.gitref, commit=commit,
        distributions=distributions, patches=patches,
        maintainer=package.maintainer, epoch=epoch)
    return (GeneratedFile(doc / 'copyright', copyright_, formats=only_deb),
            GeneratedFile(doc / DEBIAN_CHANGELOG, changelog, formats=only_deb,
                          compress=True),
            GeneratedFile(doc / UPSTREAM_CHANGELOG, upstream_changelog(
                project.name, package.version.upstream, source, commit),
                formats=only_deb, compress=True))


def _source(url: str, homepage: str) -> str:
    """Where the source comes from, without a path of the build machine:
    an absolute local path (a checkout, a mirror) stands for the project's
    homepage, else for "a local git repository"."""
    if os.path.isabs(url) or url.startswith('file:'):
        return homepage or 'a local git repository'
    return url


def license_files(tree) -> tuple[PurePosixPath, ...]:
    """Installed paths of every license file in the virtualenv's
    ``.dist-info`` directories (rpm's ``%license``)."""
    found = []
    for info in sorted(tree.venv.glob('lib/python*/site-packages/*.dist-info')):
        meta = email.parser.HeaderParser().parsestr(
            _read(info / 'METADATA'))
        for path in _license_files(info, meta.get_all('License-File') or ()):
            found.append(tree.install_path / PurePosixPath(
                path.relative_to(tree.venv).as_posix()))
    return tuple(found)
