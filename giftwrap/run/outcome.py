"""What a job reports: one :class:`Outcome` per project and builder.

The summary table, ``-f json`` and the lock merge read outcomes; nothing
else of a job leaves it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from giftwrap import errors
from giftwrap.fetch import patches
from giftwrap.resolve import overrides

BUILT, FAILED, LOCKED, REUSED = 'built', 'failed', 'locked', 'reused'

Progress = Callable[[str, str], None]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One row of the summary: a project and builder, and what happened."""

    project: str
    builder: str
    status: str
    artifact: str = ''
    #: one line; a failure's says what failed and in which stage
    message: str = ''
    #: a failure's further lines: the failing command's output tail
    details: str = ''
    #: what to do about a failure
    hint: str = ''
    #: the project's log file, when a failure wrote one
    log: str = ''
    error: errors.GiftwrapError | None = dataclasses.field(
        default=None, compare=False, repr=False)
    #: the executor's worker that built it ('' on this machine)
    worker: str = dataclasses.field(default='', compare=False)

    @classmethod
    def failed(cls, project: str, builder: str, exc: errors.GiftwrapError,
               log_file: Path | None = None) -> 'Outcome':
        """The summary's row of ``exc``: its first line as the message."""
        first, _, rest = exc.what.partition('\n')
        details = [rest.strip('\n')] if rest.strip() else []
        if exc.output and exc.output.strip():
            details.append(exc.output.rstrip())
        if exc.log:
            log = str(exc.log)
        else:
            log = str(log_file) if log_file is not None and \
                log_file.exists() else ''
        return cls(project, builder, FAILED,
                   message=f'{exc.place}: {first}' if exc.place else first,
                   details='\n'.join(details), hint=exc.hint or '', log=log,
                   error=exc)


def reused(project: str, builder: str, path: Path) -> Outcome:
    return Outcome(project, builder, REUSED, artifact=str(path),
                   message='inputs unchanged since it was built')


def notes(report, applied, changes) -> str:
    """The summary's message: patches, overrides, unpinned distributions."""
    notes = [patches.summary(applied)] if applied else []
    notes += overrides.summary(changes)
    if report.unpinned:
        notes.append('not pinned by the resolver: ' + ', '.join(
            f'{n}=={v}' for n, v in sorted(report.unpinned.items())))
    return '; '.join(n for n in notes if n)
