"""The executor driver API: where a build's jobs run.

Executors are stevedore drivers in the ``giftwrap.executors`` namespace,
registered in ``setup.cfg`` like builders and resolvers.  The build plans,
checks, merges the locks and writes the summary on this machine whichever
executor runs the jobs; an executor only runs each project's
:class:`giftwrap.run.job.Job` somewhere and brings its outcomes (and
artifacts) home.  ``local`` is the reference executor.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from giftwrap.trust import lockfile
from giftwrap.run.outcome import Outcome

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.run.build import Options
    from giftwrap.plugins import Option
    from giftwrap.run.outcome import Progress
    from giftwrap.plan.planner import Plan, ProjectPlan

#: What one project's job gives back: its summary rows and lock entries.
JobResult = tuple[list[Outcome], dict[str, lockfile.Entry]]


@dataclasses.dataclass(frozen=True)
class ExecutorContext:
    """Everything an executor may use.

    :ivar plan: the checked build plan.
    :ivar options: how to run (directories, ``-j``, locks...).
    :ivar progress: called with ``(project, stage)`` as work advances.
    :ivar settings: this executor's validated options (see
        :attr:`Executor.options`).
    """

    plan: 'Plan'
    options: 'Options'
    progress: 'Progress'
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Executor(abc.ABC):
    """Base class of executors (``giftwrap.executors``).

    The first line of a subclass's docstring is its summary in
    ``giftwrap list-executors``.  An executor is a context manager:
    leaving it releases what :meth:`check` acquired (a connection).
    """

    #: The options it accepts (``--scheduler``... on the command line,
    #: under the option's name with ``-`` for ``_``).
    options: ClassVar[Mapping[str, 'Option']] = {}
    #: The driver API (major, minor) this executor is written against (see
    #: :attr:`giftwrap.api.Builder.api_version`).
    api_version: ClassVar[tuple[int, int]] = (1, 0)

    def __init__(self, context: ExecutorContext):
        self.context = context

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Check the options against each other, before any work (each
        one's type is checked already); by default nothing.

        :raises giftwrap.errors.DriverError: what is wrong and what to set.
        """

    @abc.abstractmethod
    def check(self) -> None:
        """Make sure the jobs can run where this executor sends them,
        before any job starts (connect, compare the workers' software).

        :raises giftwrap.errors.GiftwrapError: naming the place that cannot
            build and what differs there.
        """

    @abc.abstractmethod
    def run(self, projects: Sequence['ProjectPlan']) -> dict[str, JobResult]:
        """Run the job of every project in ``projects``.

        A project's failure is a failed row in its result, never an
        exception.  Artifacts are in the projects' output directories,
        published whole, when this returns.

        :param projects: the plan's projects, in manifest order.
        :returns: project name -> its outcomes and lock entries.
        :raises KeyboardInterrupt: after stopping the running jobs.
        """

    def close(self) -> None:
        """Release what :meth:`check` acquired; by default nothing."""

    def __enter__(self) -> 'Executor':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
