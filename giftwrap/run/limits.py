"""Checking the process's resource limits before any work.

A build holds git packs, pipes and files open in every parallel job; with a
tiny open-files or process limit it would fail half-way in a library, with
an error that does not say why.  giftwrap raises its soft limits as far as
the hard ones allow, and refuses to start when they are still too low.
"""

from __future__ import annotations

import resource

from giftwrap import errors

#: Open files one parallel job may need (git packs, pipes, logs), and the rest.
FILES_PER_JOB = 64
FILES_BASE = 64
#: Processes one job may run at once (pip and its build backends).
PROCESSES_PER_JOB = 16


def ensure(jobs: int) -> None:
    """Make sure ``jobs`` parallel jobs fit in the resource limits.

    :raises giftwrap.errors.BuildError: a limit is too low even after
        raising the soft limit to the hard one.
    """
    need = FILES_BASE + FILES_PER_JOB * max(1, jobs)
    have = _raise(resource.RLIMIT_NOFILE, need)
    if have < need:
        raise errors.BuildError(
            f'the limit of open files is {have}; {jobs} parallel job(s) need '
            f'about {need}', where='resource limits',
            hint=f'raise it (ulimit -n {need}) or build fewer projects at '
                 'once (-j, -s)')
    need = PROCESSES_PER_JOB * max(1, jobs)
    have = _raise(resource.RLIMIT_NPROC, need)
    if have < need:
        raise errors.BuildError(
            f'the limit of processes is {have}; {jobs} parallel job(s) need '
            f'about {need}', where='resource limits',
            hint='raise it (ulimit -u) or build fewer projects at once '
                 '(-j, -s)')


def _raise(limit: int, need: int) -> int:
    """Raise the soft ``limit`` towards ``need``; returns the soft limit."""
    soft, hard = resource.getrlimit(limit)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return need
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        resource.setrlimit(limit, (target, hard))
        soft = target
    return soft
