"""The builder driver API: turn a staged install tree into an artifact.

Builders are stevedore drivers in the ``giftwrap.builders`` namespace.  A
builder declares what it needs (tools, options, whether it may run in
parallel) and implements :meth:`Builder.build`; the core never looks at a
builder's name.  ``giftwrap.builders.nfpm`` is the reference packager.
"""

from __future__ import annotations

import abc
import dataclasses
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from giftwrap import errors
from giftwrap.util import atomic
from giftwrap.plugins import fill_defaults
from giftwrap.util.process import find_tool
from giftwrap.projectinfo import DeprecatedProject, ProjectInfo
from giftwrap.venv.tree import StagedTree

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.plugins import Option
    from giftwrap.venv.interpreter import Interpreter
    from giftwrap.package.description import PackageDescription
    from giftwrap.util.process import Runner
    from giftwrap.resolve.base import Checkout, Pins


@dataclasses.dataclass(frozen=True)
class Tool:
    """An external program a builder runs, and how to get it."""

    name: str
    hint: str


@dataclasses.dataclass(frozen=True)
class BuildContext(DeprecatedProject):
    """Everything a builder may use; it writes only to work_dir/output_dir.

    :ivar project_info: the project (:class:`giftwrap.api.ProjectInfo`).
    :ivar package: what the package is made of: name, versions,
        dependencies, scripts (:class:`giftwrap.api.PackageDescription`).
    :ivar options: this builder's ``builder_options``, every option of
        :attr:`Builder.options` present (defaults filled in).
    :ivar work_dir: scratch space of this builder for this project.
    :ivar output_dir: where finished artifacts go (see :meth:`Builder.publish`).
    :ivar runner: runs every command (:class:`giftwrap.api.Runner`); each
        gets ``SOURCE_DATE_EPOCH`` in its environment.
    """

    project_info: ProjectInfo
    package: 'PackageDescription'
    interpreter: 'Interpreter'
    checkout: 'Checkout'
    pins: 'Pins'
    options: Mapping[str, object]
    work_dir: Path
    output_dir: Path
    runner: 'Runner'
    #: the build's time for every timestamp (``SOURCE_DATE_EPOCH``: the
    #: operator's, else the commit's), so rebuilds are byte-identical
    source_date_epoch: int | None = None
    #: stages what :meth:`Builder.publish` publishes, for the job to commit
    #: after the SBOM; ``None``: publish at once
    publisher: 'Publisher | None' = None
    #: the core's own project, behind the deprecated ``context.project``
    legacy_project: object = dataclasses.field(default=None, repr=False,
                                               compare=False)
    #: ``--offline``: use only what is on this machine (local images, no
    #: index, no registry)
    offline: bool = False


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A finished artifact: a file in the output directory or an image."""

    name: str
    path: Path | None = None


class Builder(abc.ABC):
    """Base class of builders (``giftwrap.builders``).

    The first line of a subclass's docstring is its summary in
    ``giftwrap list-builders``.
    """

    #: The options this builder accepts under ``builder_options``.
    options: ClassVar[Mapping[str, 'Option']] = {}
    #: External programs it runs; checked before anything is cloned.
    tools: ClassVar[tuple[Tool, ...]] = ()
    #: False if two builds with this builder must not run at once.
    parallel_safe: ClassVar[bool] = True
    #: The package format it makes (``deb``, ``rpm``), or None for any:
    #: a build target of one format runs only that format's builders.
    package_format: ClassVar[str | None] = None
    #: True if the artifact depends on the target's system interpreter, so
    #: the virtualenv must be built with a packaged one (not a pyenv build).
    needs_system_python: ClassVar[bool] = True
    #: True if :meth:`build` reads :meth:`StagedTree.md5`: giftwrap then
    #: hashes the staged files while the stages before packaging run
    #: (API 1.2).
    wants_md5: ClassVar[bool] = False
    #: The driver API (major, minor) this builder is written against: it
    #: loads where giftwrap's :data:`giftwrap.api.API_VERSION` has the
    #: same major and at least this minor.
    api_version: ClassVar[tuple[int, int]] = (1, 0)

    def __init__(self, context: BuildContext):
        self.context = fill_defaults(context, self.options)

    def option(self, name: str) -> Any:
        """This builder's option ``name`` (its default when not set)."""
        return self.context.options[name]

    @classmethod
    def check_options(cls, options: Mapping[str, object]) -> None:
        """Check the options against each other, before any work (each
        one's type and choices are checked already).

        :raises giftwrap.errors.DriverError: what is wrong and what to set.
        """

    @classmethod
    def check_project(cls, project) -> None:
        """Check the manifest's values this builder writes (metadata in a
        header, say) before any work; by default nothing.

        :param project: the rendered project's :class:`ProjectInfo` (its
            package metadata as the manifest writes it, and ``where_key``).
        :raises giftwrap.errors.GiftwrapError: naming the key's line.
        """

    @classmethod
    def check_tools(cls, options: Mapping[str, object]) -> None:
        """Fail early when a tool this builder runs is missing.

        :param options: the builder's validated options (an option may pick
            the tool).
        :raises giftwrap.errors.MissingToolError: naming the tool and how to
            install it.
        """
        for tool in cls.tools:
            if find_tool(tool.name) is None:
                raise errors.MissingToolError(
                    f'{tool.name} is not installed', hint=tool.hint)

    def tool(self, name: str) -> str:
        """The path of one of :attr:`tools` (beside giftwrap or on PATH)."""
        found = find_tool(name)
        if found is None:
            hint = next((t.hint for t in self.tools if t.name == name), None)
            raise errors.MissingToolError(f'{name} is not installed', hint=hint)
        return found

    @abc.abstractmethod
    def build(self, tree: StagedTree) -> Artifact:
        """Package ``tree`` and publish the artifact.

        :param tree: the relocated virtualenv, staged under ``tree.root``.
        :returns: what was produced.
        :raises giftwrap.errors.BuildError: packaging failed.
        """

    def before_publish(self, built: Path) -> None:
        """A last step on the finished file before :meth:`publish` moves it
        into the output directory (the rpm builders sign there); by
        default nothing.  A builder calls it from :meth:`build`.

        :param built: the finished artifact in :attr:`BuildContext.work_dir`.
        :raises giftwrap.errors.BuildError: the step failed.
        """

    def publish(self, built: Path, filename: str) -> Path:
        """Move a finished file into the output directory under ``filename``.

        The file is renamed into place only once complete, so the output
        directory never holds a partial artifact.  In a build the job
        commits it after its SBOM is written, and records it in the index
        after that (see :class:`Publisher`); until then it waits under a
        locked staging name.  An existing file of that name is replaced
        only if the project sets ``force_overwrite``.

        :returns: where the artifact is (or, in a build, will be).
        :raises giftwrap.errors.BuildError: the artifact exists already.
        """
        publisher = self.context.publisher or Publisher()
        target = publisher.stage(built, self.context.output_dir, filename,
                                 replace=self.context.project_info.force_overwrite)
        if self.context.publisher is None:
            publisher.commit(target)
        return target


class Publisher:
    """Artifacts staged in the output directory, committed one by one.

    A staged artifact is a locked ``.NAME.giftwrap-tmp-*`` file beside its
    final name: a killed run leaves only staging files, which the next run
    removes (:func:`giftwrap.util.atomic.remove_stale`), never an artifact that
    has no SBOM or index entry.
    """

    #: every publisher with staged artifacts, for :meth:`discard_all`
    _live: 'set[Publisher]' = set()

    def __init__(self) -> None:
        self._staged: dict[Path, tuple[Path, int]] = {}

    @classmethod
    def discard_all(cls) -> None:
        """Remove what every publisher of this process staged (on an
        interrupt, before exiting)."""
        for publisher in list(cls._live):
            publisher.discard()

    def stage(self, built: Path, out: Path, filename: str, *,
              replace: bool = False) -> Path:
        """Move ``built`` beside ``out/filename``; returns that path.

        :raises giftwrap.errors.BuildError: a bad name, or the artifact
            exists and ``replace`` is not set.
        """
        if '/' in filename or filename.startswith('.') or '\0' in filename:
            raise errors.BuildError(f'refusing artifact file name {filename!r}')
        out.mkdir(parents=True, exist_ok=True)
        target = out / filename
        if os.path.lexists(target) and not replace:
            raise ArtifactExists(target)
        staging, fd = atomic.stage(out, filename)
        try:
            try:
                os.replace(built, staging)
                fd = atomic.relock(staging, fd)
            except OSError as exc:
                # Another filesystem, or another mount of the same one (a
                # bind-mounted output directory): rename fails with EXDEV.
                if exc.errno != errno.EXDEV:
                    raise
                _copy(built, staging)
        except BaseException:
            staging.unlink(missing_ok=True)
            os.close(fd)
            raise
        self._staged[target] = (staging, fd)
        Publisher._live.add(self)
        return target

    def staged(self, target: Path) -> Path:
        """Where the artifact for ``target`` waits (itself once committed)."""
        return self._staged[target][0] if target in self._staged else target

    def commit(self, target: Path) -> None:
        """Rename the staged artifact to ``target``."""
        staging, fd = self._staged.pop(target)
        try:
            os.replace(staging, target)
        finally:
            os.close(fd)
            if not self._staged:
                Publisher._live.discard(self)

    def discard(self) -> None:
        """Remove every artifact still staged (a failure after staging)."""
        while self._staged:
            _, (staging, fd) = self._staged.popitem()
            staging.unlink(missing_ok=True)
            os.close(fd)
        Publisher._live.discard(self)


class ArtifactExists(errors.BuildError):
    """An artifact of the same file name is in the output directory."""

    def __init__(self, path: Path, changed: str | None = None):
        what = f'{path} exists already and was not replaced'
        if changed:
            what += f'; since it was built, these inputs changed: {changed}'
        super().__init__(what, hint='remove it, bump the version, or set '
                                    'force_overwrite: true in the manifest')
        self.path = path


def _copy(src: Path, dst: Path) -> None:
    import shutil
    shutil.copyfile(src, dst)  # into the staging file, whose lock stays
    os.chmod(dst, 0o644)
