"""giftwrap's errors: one base class, one subclass per kind of failure.

Every error says *what* failed, *where* (a manifest ``file:line``, a project
and stage, or a command) and *what to do* about it.  The App maps each class to
its own exit status (``exit_code``) and shows a traceback only with
``--debug``; nothing else in giftwrap decides how an error is shown.
"""

from __future__ import annotations


class GiftwrapError(Exception):
    """Base class of every error giftwrap reports to its user.

    :param what: one sentence saying what is wrong.
    :param where: where it is wrong: ``manifest.yml:12``, ``project nova
        (resolve)``, or the command that failed.
    :param hint: what the operator can do to fix it.
    :param output: the tail of a failed command's output, if any.
    :param log: the log file holding a failed command's whole output.

    ``where`` is set once, by the code that raises (or by :meth:`located`
    when it could not know).  The project and stage a build was in when the
    error ended it are a separate field, ``stage``, which the job sets once
    (:meth:`at_stage`); :attr:`place` joins the two for display.
    """

    exit_code = 1
    kind = 'error'

    def __init__(self, what: str, *, where: str | None = None,
                 hint: str | None = None, output: str | None = None,
                 log: str | None = None):
        super().__init__(what)
        self.what = what
        self.where = where
        self.hint = hint
        self.output = output
        self.log = log
        self.stage: str | None = None

    def located(self, where: str) -> 'GiftwrapError':
        """Return this error with ``where`` filled in if it was not set."""
        if not self.where:
            self.where = where
        return self

    def at_stage(self, stage: str) -> 'GiftwrapError':
        """Record the project and stage this error ended (``project nova
        (virtualenv)``), unless an inner stage already did."""
        if not self.stage:
            self.stage = stage
        return self

    @property
    def place(self) -> str:
        """The stage and the ``where``, as shown: ``project nova (clone):
        https://...``."""
        return ': '.join(p for p in (self.stage, self.where) if p)

    def __str__(self) -> str:
        text = f'{self.place}: {self.what}' if self.place else self.what
        if self.output:
            text += '\n' + '\n'.join(
                '    ' + line for line in self.output.rstrip().splitlines())
        if self.hint:
            text += f'\n  hint: {self.hint}'
        if self.log:
            text += f'\n  log: {self.log}'
        return text


class ManifestError(GiftwrapError):
    """The manifest (its YAML, keys, values or templates) is wrong."""

    exit_code = 2
    kind = 'manifest'


class DriverError(GiftwrapError):
    """A builder or resolver is unknown, broken or given bad options."""

    exit_code = 3
    kind = 'driver'


class MissingToolError(GiftwrapError):
    """An external program a driver needs is not installed."""

    exit_code = 4
    kind = 'missing tool'


class SourceError(GiftwrapError):
    """A project's source could not be fetched or checked out."""

    exit_code = 5
    kind = 'source'


class ResolveError(GiftwrapError):
    """A project's dependency pins could not be resolved."""

    exit_code = 6
    kind = 'resolve'


class BuildError(GiftwrapError):
    """Building a project's virtualenv or packaging it failed."""

    exit_code = 7
    kind = 'build'


class VerifyError(GiftwrapError):
    """A package failed to install or pass its smoke commands on a clean
    image, or no container of that image could be started."""

    exit_code = 8
    kind = 'verify'


class CommandError(BuildError):
    """An external command exited non-zero; ``output`` holds its tail."""


#: Exit status when a run was interrupted (128 + signal number).
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
