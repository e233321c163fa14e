"""The benchmark's table and its targets (printed PASS/FAIL, not tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

GIFTWRAP, DH, FPM = 'giftwrap', 'dh-virtualenv', 'fpm'
#: giftwrap with the dask executor: one scheduler, two workers, this host
DASK = 'giftwrap (dask)'
COLD, CHANGED, UNCHANGED = 'cold', 'changed commit', 'unchanged'
MB = 1024  # ru_maxrss is in KiB


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


def table(rows: Sequence[Row]) -> str:
    """The rows as a fixed-width table, with each tool's time as a ratio
    of giftwrap's in the same scenario."""
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
        if row.note:
            lines.append(('', '', f'  {row.note}', '', '', '', '', '', ''))
    widths = [max(len(line[i]) for line in lines if line[2].strip() != ''
                  and not line[2].startswith('  ')) for i in range(len(head))]
    return '\n'.join(
        line[2] if line[2].startswith('  ') else
        '  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in lines)


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


def _cold_half(rows) -> tuple[str, str]:
    ours, theirs = _find(rows, COLD, GIFTWRAP), _find(rows, COLD, DH)
    goal = f'{COLD}: giftwrap <= 0.5 x {DH}\'s time'
    if not ours or not theirs:
        return 'SKIP', f'{goal} (not measured)'
    share = ours.wall / theirs.wall
    return _verdict(share <= 0.5), f'{goal}: {share:.2f} x'


def _eight_vs_one(rows) -> tuple[str, str]:
    one, eight = _find(rows, COLD, GIFTWRAP, 1), _find(rows, COLD, GIFTWRAP, 8)
    goal = 'eight projects < 2.5 x the time of one (cold)'
    if not one or not eight:
        return 'SKIP', f'{goal} (not measured)'
    ratio = eight.wall / one.wall
    return _verdict(ratio < 2.5), f'{goal}: {ratio:.2f} x'


def _memory(rows) -> tuple[str, str]:
    eight = _find(rows, COLD, GIFTWRAP, 8)
    goal = 'giftwrap\'s own peak memory < 200 MB building eight projects'
    if not eight or not eight.peak_kib:
        return 'SKIP', f'{goal} (not measured)'
    peak = eight.peak_kib / MB
    return _verdict(peak < 200), f'{goal}: {peak:.0f} MB'


def _dask_overhead(rows) -> tuple[str, str]:
    local = _find(rows, COLD, GIFTWRAP, 8)
    dask = _find(rows, COLD, DASK, 8)
    goal = ('eight projects on a scheduler and two workers (this host) '
            '<= 1.25 x the local executor\'s time')
    if not local or not dask:
        return 'SKIP', f'{goal} (not measured)'
    ratio = dask.wall / local.wall
    return _verdict(ratio <= 1.25), f'{goal}: {ratio:.2f} x'


def _verdict(ok: bool) -> str:
    return 'PASS' if ok else 'FAIL'


TARGETS: tuple[Check, ...] = (
    _speedup(CHANGED, DH, 8), _speedup(CHANGED, FPM, 3.5),
    _speedup(UNCHANGED, DH, 100), _cold_half, _eight_vs_one, _memory,
    _dask_overhead)


def targets(rows: Sequence[Row]) -> str:
    """One PASS, FAIL or SKIP line per target."""
    return '\n'.join(f'{verdict}  {text}' for verdict, text in
                     (check(rows) for check in TARGETS))
