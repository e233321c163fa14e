"""The benchmark's table and its targets (printed PASS/FAIL, not tests)."""

from __future__ import annotations

import dataclasses
import re
import statistics
from pathlib import Path
from typing import Callable, Sequence

GIFTWRAP, DH, FPM = 'giftwrap', 'dh-virtualenv', 'fpm'
#: giftwrap with the dask executor: one scheduler, two workers, this host
DASK = 'giftwrap (dask)'
#: the least any tool must do for a changed commit: uv from a warm cache
#: into a fresh virtualenv, then dpkg-deb of that tree (no byte-code, no
#: relocation, no checks, no SBOM)
FLOOR = 'floor (uv + dpkg-deb)'
COLD, CHANGED, UNCHANGED = 'cold', 'changed commit', 'unchanged'
MB = 1024  # ru_maxrss is in KiB
#: the key of :attr:`Row.parts` for dpkg-deb's time in the floor
DPKG_DEB = 'dpkg-deb'
#: the key of :attr:`Row.parts` for giftwrap's packaging stage
PACKAGE = 'package'
#: the floor's dpkg-deb again, its tree byte-compiled as giftwrap's is
DPKG_DEB_SAME_TREE = 'dpkg-deb, with byte-code'
#: the key of :attr:`Row.parts` for the dpkg-deb commands of that stage
PACKAGE_DPKG_DEB = 'its dpkg-deb'
#: the key of :attr:`Row.parts` for dpkg-deb of the tree giftwrap's .deb
#: holds (extracted, then packed as the floor packs), after the build
DPKG_DEB_ITS_TREE = 'dpkg-deb of its tree'


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured build (or why it was not measured)."""

    scenario: str
    tool: str
    projects: int = 1
    wall: float | None = None
    cpu: float | None = None
    peak_kib: int | None = None
    installer: str = ''
    compression: str = ''
    note: str = ''
    #: wall seconds of named parts of the build (:data:`DPKG_DEB` for the
    #: floor, :data:`PACKAGE` for giftwrap's packaging stage)
    parts: dict[str, float] = dataclasses.field(
        default_factory=dict, compare=False, hash=False)


def median(rows: Sequence[Row]) -> Row:
    """One row of the repetitions ``rows`` of a build: the median of each
    number (a part missing from a repetition is left out of its median)."""
    first = rows[0]
    names = dict.fromkeys(name for row in rows for name in row.parts)
    return dataclasses.replace(
        first, wall=_median([r.wall for r in rows]),
        cpu=_median([r.cpu for r in rows]),
        peak_kib=_median([r.peak_kib for r in rows], whole=True),
        parts={name: _median([r.parts.get(name) for r in rows])
               for name in names})


def _median(values, whole: bool = False):
    known = [v for v in values if v is not None]
    if not known:
        return None
    middle = statistics.median(known)
    return int(middle) if whole else middle


#: the line giftwrap's project log gives its packaging stage
_PACKAGED = re.compile(r'^== package with (\S+): ([0-9.]+) s$', re.M)


#: a command of a giftwrap log and its time: ``$ argv`` ... ``[exit status
#: 0, 0.69 s]`` (the command's output between)
_COMMAND = re.compile(r'^\$ ([^\n]*)\n.*?^\[exit status -?\d+, ([0-9.]+) s\]$',
                      re.M | re.S)


def command_seconds(log_text: str, program: str, longest: bool = False
                    ) -> float:
    """The seconds of every command of ``program`` (its base name, run
    directly or by a wrapper such as ``unshare``) in a giftwrap project log
    (one build's): their sum, or with ``longest`` the longest one (for
    commands that run beside each other)."""
    found = [float(seconds) for line, seconds in _COMMAND.findall(log_text)
             if any(word.rpartition('/')[2] == program
                    for word in line.split())]
    return max(found, default=0.0) if longest else sum(found)


def packaging_seconds(log_text: str) -> float | None:
    """The packaging stage's seconds in a giftwrap project log (the last
    ``== package with BUILDER: N.NN s`` line), or None when absent."""
    found = _PACKAGED.findall(log_text)
    return float(found[-1][1]) if found else None


def deb_compression(deb: Path) -> str:
    """The compression of a .deb's data member (read from its ar index)."""
    with open(deb, 'rb') as stream:
        if stream.read(8) != b'!<arch>\n':
            return '?'
        while header := stream.read(60):
            name = header[:16].decode().strip().rstrip('/')
            size = int(header[48:58].decode().strip())
            if name.startswith('data.tar'):
                suffix = name[len('data.tar'):].lstrip('.')
                return {'zst': 'zstd', 'xz': 'xz', 'gz': 'gzip', 'bz2': 'bzip2',
                        '': 'none'}.get(suffix, suffix)
            stream.seek(size + size % 2, 1)
    return '?'


def table(rows: Sequence[Row], repeat: int = 1) -> str:
    """The rows as a fixed-width table, with each tool's time as a ratio
    of giftwrap's in the same scenario (headed "median of N" when each
    row is the median of ``repeat`` builds)."""
    head = ('scenario', 'projects', 'tool', 'installer', 'compression',
            'wall s', 'cpu s', 'peak MB', 'x giftwrap')
    lines = [head]
    for row in rows:
        ours = _find(rows, row.scenario, GIFTWRAP, row.projects)
        ratio = (f'{row.wall / ours.wall:.1f}' if row.wall and ours and
                 ours.wall else '')
        lines.append((row.scenario, str(row.projects), row.tool, row.installer,
                      row.compression, _num(row.wall), _num(row.cpu),
                      _num(row.peak_kib / MB if row.peak_kib else None, 0),
                      ratio if row.tool != GIFTWRAP else '1.0'))
        for text in filter(None, (_parts(row), row.note)):
            lines.append(('', '', f'  {text}', '', '', '', '', '', ''))
    widths = [max(len(line[i]) for line in lines if line[2].strip() != ''
                  and not line[2].startswith('  ')) for i in range(len(head))]
    body = '\n'.join(
        line[2] if line[2].startswith('  ') else
        '  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in lines)
    if repeat > 1:
        return f'median of {repeat} builds per keystone row\n{body}'
    return body


def _parts(row: Row) -> str:
    return ', '.join(f'{name} {seconds:.2f} s'
                     for name, seconds in row.parts.items()
                     if seconds is not None)


def _num(value: float | None, digits: int = 1) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def _find(rows, scenario, tool, projects=1) -> Row | None:
    return next((r for r in rows if r.scenario == scenario and r.tool == tool
                 and r.projects == projects and r.wall), None)


Check = Callable[[Sequence[Row]], tuple[str, str]]


def _speedup(scenario: str, peer: str, factor: float) -> Check:
    def check(rows):
        ours = _find(rows, scenario, GIFTWRAP)
        theirs = _find(rows, scenario, peer)
        goal = f'{scenario}: giftwrap >= {factor:g}x faster than {peer}'
        if not ours or not theirs:
            return 'SKIP', f'{goal} (not measured)'
        ratio = theirs.wall / ours.wall
        return _verdict(ratio >= factor), f'{goal}: {ratio:.1f}x'
    return check


def _at_most(goal: str, top: tuple, bottom: tuple, limit: float,
             strict: bool = False) -> Check:
    """``goal``: the wall time of the row ``top`` over that of the row
    ``bottom`` (each ``(scenario, tool, projects)``) at most ``limit``
    (below it, if ``strict``)."""
    def check(rows):
        over, under = _find(rows, *top), _find(rows, *bottom)
        if not over or not under:
            return 'SKIP', f'{goal} (not measured)'
        ratio = over.wall / under.wall
        ok = ratio < limit if strict else ratio <= limit
        return _verdict(ok), f'{goal}: {ratio:.2f} x'
    return check


_cold_share = _at_most(f'{COLD}: giftwrap <= 0.3 x {DH}\'s time',
                       (COLD, GIFTWRAP, 1), (COLD, DH, 1), 0.3)
_near_floor = _at_most(
    f'{CHANGED}: giftwrap within 2.5 x the floor (uv + dpkg-deb)',
    (CHANGED, GIFTWRAP, 1), (CHANGED, FLOOR, 1), 2.5)


def _packaging(rows) -> tuple[str, str]:
    """giftwrap's packaging stage against dpkg-deb of the very tree its
    package holds; the floor's tree, byte-compiled, where that was not
    measured."""
    ours, floor = _find(rows, CHANGED, GIFTWRAP), _find(rows, CHANGED, FLOOR)
    goal = ('packaging stage <= 1.5 x dpkg-deb on the same tree '
            f'({CHANGED})')
    package = ours.parts.get(PACKAGE) if ours else None
    dpkg = ours.parts.get(DPKG_DEB_ITS_TREE) if ours else None
    if not dpkg:
        dpkg = floor.parts.get(DPKG_DEB_SAME_TREE) if floor else None
    if not package or not dpkg:
        return 'SKIP', f'{goal} (not measured)'
    ratio = package / dpkg
    return _verdict(ratio <= 1.5), (f'{goal}: {package:.2f} s / {dpkg:.2f} s'
                                    f' = {ratio:.2f} x')


_eight_vs_one = _at_most('eight projects < 2.5 x the time of one (cold)',
                         (COLD, GIFTWRAP, 8), (COLD, GIFTWRAP, 1), 2.5,
                         strict=True)


def _memory(rows) -> tuple[str, str]:
    eight = _find(rows, COLD, GIFTWRAP, 8)
    goal = 'giftwrap\'s own peak memory < 200 MB building eight projects'
    if not eight or not eight.peak_kib:
        return 'SKIP', f'{goal} (not measured)'
    peak = eight.peak_kib / MB
    return _verdict(peak < 200), f'{goal}: {peak:.0f} MB'


_dask_overhead = _at_most(
    'eight projects on a scheduler and two workers (this host) '
    '<= 1.25 x the local executor\'s time',
    (COLD, DASK, 8), (COLD, GIFTWRAP, 8), 1.25)


def _verdict(ok: bool) -> str:
    return 'PASS' if ok else 'FAIL'


#: the targets of issue 19, in its order
TARGETS: tuple[Check, ...] = (
    _speedup(CHANGED, DH, 8), _speedup(CHANGED, FPM, 3.5), _near_floor,
    _speedup(UNCHANGED, DH, 100), _cold_share, _eight_vs_one, _memory,
    _packaging, _dask_overhead)


def targets(rows: Sequence[Row]) -> str:
    """One PASS, FAIL or SKIP line per target."""
    return '\n'.join(f'{verdict}  {text}' for verdict, text in
                     (check(rows) for check in TARGETS))
