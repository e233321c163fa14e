"""OpenStack series and their support phase, from a table shipped here.

A manifest that builds ``stable/juno`` in 2026 builds code nobody fixes any
more: ``validate`` (and every build) warns about it.  The table is a copy of
openstack/releases' ``data/series_status.yaml`` as published on
:data:`AS_OF`, so the check never touches the network; transitions that file
schedules (``next-phase`` with a date) are applied on their date, so a
series moves from maintained to unmaintained or end of life without a new
giftwrap.  Refresh the table from that file with each giftwrap release.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
from typing import Iterable, Iterator, Sequence

LOG = logging.getLogger(__name__)

#: the day the table below was copied from openstack/releases
#: (data/series_status.yaml at commit 02df7c9a).
AS_OF = datetime.date(2026, 8, 21)
SOURCE = 'https://releases.openstack.org'

MAINTAINED = 'maintained'
UNMAINTAINED = 'unmaintained'
END_OF_LIFE = 'end of life'
#: phases a build should be warned about
UNSUPPORTED = (UNMAINTAINED, END_OF_LIFE)


@dataclasses.dataclass(frozen=True)
class Series:
    """One OpenStack series and its published phase.

    :ivar since: the day ``status`` began, where the table gives it (the
        end-of-life date for end-of-life series).
    :ivar next_status: the next phase, scheduled for ``next_date``.
    """

    name: str
    release_id: str
    status: str
    since: datetime.date | None = None
    next_status: str = ''
    next_date: datetime.date | None = None

    @property
    def label(self) -> str:
        return f'{self.release_id} ({self.name})' if self.release_id \
            else self.name

    def phase(self, day: datetime.date) -> tuple[str, datetime.date | None]:
        """The series' phase on ``day`` and since when, if known."""
        if self.next_date and day >= self.next_date:
            return self.next_status, self.next_date
        return self.status, self.since


def _d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


_EOL, _UNM = END_OF_LIFE, UNMAINTAINED
#: newest first, as openstack/releases lists them
TABLE: tuple[Series, ...] = (
    Series('indri', '2027.1', 'future', None, 'development', _d('2026-10-01')),
    Series('hibiscus', '2026.2', 'development', None, MAINTAINED,
           _d('2026-09-30')),
    Series('gazpacho', '2026.1', MAINTAINED, _d('2026-04-01'), _UNM,
           _d('2027-10-27')),
    Series('flamingo', '2025.2', MAINTAINED, _d('2025-10-01'), _EOL,
           _d('2027-04-28')),
    Series('epoxy', '2025.1', MAINTAINED, _d('2025-04-02'), _UNM,
           _d('2026-10-02')),
    Series('dalmatian', '2024.2', _EOL, _d('2026-04-29')),
    Series('caracal', '2024.1', _UNM),
    Series('bobcat', '2023.2', _EOL, _d('2025-04-30')),
    Series('antelope', '2023.1', _UNM),
    Series('zed', '', _UNM),
    Series('yoga', '', _UNM),
    Series('xena', '', _EOL, _d('2025-12-19')),
    Series('wallaby', '', _EOL, _d('2025-12-19')),
    Series('victoria', '', _EOL, _d('2025-12-19')),
    Series('ussuri', '', _EOL, _d('2024-02-20')),
    Series('train', '', _EOL, _d('2024-02-20')),
    Series('stein', '', _EOL, _d('2024-01-04')),
    Series('rocky', '', _EOL, _d('2023-08-16')),
    Series('queens', '', _EOL, _d('2023-01-18')),
    Series('pike', '', _EOL, _d('2022-10-13')),
    Series('ocata', '', _EOL, _d('2021-06-15')),
    Series('newton', '', _EOL, _d('2017-10-25')),
    Series('mitaka', '', _EOL, _d('2017-04-10')),
    Series('liberty', '', _EOL, _d('2016-11-17')),
    Series('kilo', '', _EOL, _d('2016-05-02')),
    Series('juno', '', _EOL, _d('2015-12-07')),
    Series('icehouse', '', _EOL, _d('2015-07-02')),
    Series('havana', '', _EOL, _d('2014-09-30')),
    Series('grizzly', '', _EOL, _d('2014-03-29')),
    Series('folsom', '', _EOL, _d('2013-11-19')),
    Series('essex', '', _EOL, _d('2013-05-06')),
    Series('diablo', '', _EOL, _d('2013-05-06')),
    Series('cactus', '', _EOL),
    Series('bexar', '', _EOL),
    Series('austin', '', _EOL),
)
_BY_NAME = {key: s for s in TABLE for key in (s.name, s.release_id) if key}

# stable/juno, unmaintained/yoga, origin/stable/2025.2, juno-eol, yoga-eom
_REF = re.compile(r'^(?:refs/(?:heads|tags)/)?(?:origin/)?(?:'
                  r'(?:stable|unmaintained)/([A-Za-z0-9.]+)|'
                  r'([A-Za-z]+|\d{4}\.\d)-(?:eol|eom|em))\Z')
# .../branch/stable/2025.2/upper-constraints.txt, ...?h=stable/mitaka,
# https://releases.openstack.org/constraints/upper/2025.2
_URL = re.compile(r'(?:[/=](?:stable|unmaintained)/([A-Za-z0-9.]+)(?:[/&]|$)|'
                  r'/constraints/upper/([A-Za-z0-9.]+)/?$)')


def find(name: str) -> Series | None:
    """The series called ``name`` (``juno``, ``2025.2``, ``Flamingo``)."""
    return _BY_NAME.get(str(name).strip().lower())


def of_ref(ref: str) -> Series | None:
    """The series a branch or tag names, if any."""
    match = _REF.match(str(ref or '').strip())
    return find(match.group(1) or match.group(2)) if match else None


def of_url(url: str) -> Series | None:
    """The series a constraints URL names, if any."""
    match = _URL.search(str(url or ''))
    return find(match.group(1) or match.group(2)) if match else None


def named_by(project) -> Iterator[tuple[Series, str, str]]:
    """Each series the project's gitref or resolver options name, with
    what names it and where (``manifest.yml:12``)."""
    found = of_ref(project.gitref)
    if found:
        yield found, f'gitref {project.gitref}', project.where_key('gitref')
    options = project.resolver_options.get(project.resolver, {})
    where = project.where_key('resolver_options') or project.where_key(
        'constraints')
    values = [(key, options.get(key), look) for key, look in (
        ('release', find), ('ref', of_ref), ('branch', of_ref),
        ('url', of_url))]
    values += [('constraints', url, of_url) for url in options.get('urls') or ()]
    for key, value, look in values:
        found = look(value) if isinstance(value, str) else None
        if found:
            yield found, f'{key} {value}', where


def unsupported(projects: Iterable, today: datetime.date | None = None
                ) -> list[str]:
    """One message per unmaintained or end-of-life series the projects
    build, naming each project and where the manifest names the series."""
    today = today or datetime.date.today()
    users: dict[Series, dict[str, list[str]]] = {}
    for project in projects:
        for found, what, where in named_by(project):
            if found.phase(today)[0] in UNSUPPORTED:
                users.setdefault(found, {}).setdefault(
                    project.name, []).append(f'{what} at {where}')
    return [_message(found, [f'{name} ({"; ".join(whats)})'
                             for name, whats in names.items()], today)
            for found, names in users.items()]


def warn_unsupported(projects: Sequence, today: datetime.date | None = None
                     ) -> list[str]:
    """Log :func:`unsupported`'s messages as warnings; returns them."""
    messages = unsupported(projects, today)
    for message in messages:
        LOG.warning('%s', message)
    return messages


def _message(found: Series, names: list[str], today: datetime.date) -> str:
    status, since = found.phase(today)
    when = f' since {since.isoformat()}' if since else ''
    consequence = ('it gets no fixes at all, not even security fixes'
                   if status == END_OF_LIFE else
                   'its branches take only community fixes, with no '
                   'coordinated security releases')
    current = ', '.join(s.release_id for s in TABLE
                        if s.phase(today)[0] == MAINTAINED)
    # a transition after the table was copied was scheduled, not seen
    source = (f'as scheduled by {SOURCE} on {AS_OF.isoformat()}'
              if since and since > AS_OF else
              f'{SOURCE}, as of {AS_OF.isoformat()}')
    return (f'OpenStack {found.label} is {status}{when} ({source}): '
            f'{consequence}; built by '
            f'{", ".join(names)}; consider a maintained series '
            f'({current})')
