"""A test kit for driver authors: contexts and trees without a build.

A builder's or resolver's unit test needs a context and, for a builder, a
staged tree; building them by hand means knowing every field.  These
functions make small valid ones (as stevedore's ``make_test_instance``
does for managers), with a :class:`RecordingRunner` that records each
command instead of running it::

    from giftwrap import testing

    def test_my_builder(tmp_path):
        runner = testing.RecordingRunner(
            respond=lambda call: testing.touch(call.argv[-1]))
        context = testing.build_context(tmp_path, runner=runner,
                                        builder=MyBuilder)
        artifact = MyBuilder(context).build(testing.staged_tree(tmp_path))
        assert runner.calls[0].argv[0].endswith('mytool')

Everything here is part of the driver API (:data:`giftwrap.api.API_VERSION`).
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

from giftwrap import errors
from giftwrap.manifest import versions
from giftwrap.package.builder import BuildContext, StagedTree
from giftwrap.plugins import Option, validate_options
from giftwrap.venv.interpreter import Interpreter
from giftwrap.package.description import PackageDescription
from giftwrap.util.process import Result, Runner
from giftwrap.projectinfo import ProjectInfo
from giftwrap.resolve.base import Checkout, Pins, ResolveContext

__all__ = ['Call', 'RecordingRunner', 'Respond', 'build_context', 'checkout',
           'interpreter', 'package_description', 'project_info',
           'resolve_context', 'staged_tree', 'touch']

#: the date of the kit's checkouts and ``source_date_epoch``
EPOCH = 1735689600  # 2025-01-01T00:00:00Z


@dataclasses.dataclass(frozen=True)
class Call:
    """One command a :class:`RecordingRunner` was asked to run."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    what: str | None = None
    stdin: bytes | None = None


#: what a :class:`RecordingRunner` asks of each command
Respond = Callable[[Call], 'str | Result | None']


class RecordingRunner(Runner):
    """A :class:`giftwrap.api.Runner` that records commands, runs none.

    :param respond: called with each :class:`Call` (recorded first); it
        may write what the real tool would (the package file), and return
        the command's output (a string), or a :class:`giftwrap.api.Result`
        for an exit status of its own (a non-zero one raises
        :class:`giftwrap.errors.CommandError` when the caller checks, as a
        real runner does), or raise.
    :param fail: ``{word: output}``: a command with ``word`` among its
        arguments fails with that output (exit status 1).
    """

    def __init__(self, respond: Respond | None = None,
                 fail: Mapping[str, str] | None = None):
        super().__init__()
        self.respond = respond
        self.fail = dict(fail or {})
        self.calls: list[Call] = []

    def run(self, argv: Sequence[str], *, cwd=None, env=None, check=True,
            timeout=None, stdin=None, what=None) -> Result:
        call = Call(tuple(str(a) for a in argv),
                    Path(cwd) if cwd is not None else None,
                    dict(env) if env is not None else None, what, stdin)
        self.calls.append(call)
        failed = next((o for w, o in self.fail.items() if w in call.argv),
                      None)
        if failed is not None:
            result = Result(call.argv, 1, failed)
        else:
            output = self.respond(call) if self.respond else None
            result = output if isinstance(output, Result) else \
                Result(call.argv, 0, output or '')
        if check and result.returncode != 0:
            raise errors.CommandError(f'{what or call.argv[0]} failed',
                                      where=call.argv[0], output=result.output)
        return result

    def argvs(self) -> list[tuple[str, ...]]:
        """The argument lists of every call, in order."""
        return [c.argv for c in self.calls]


def touch(path: str | Path, content: bytes = b'package') -> None:
    """Write ``content`` to ``path`` (a :class:`RecordingRunner`'s
    ``respond`` playing a packager)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(content)


def project_info(name: str = 'demo', **fields: Any) -> ProjectInfo:
    """A :class:`ProjectInfo`; ``fields`` override its defaults."""
    values = dict(giturl=f'https://opendev.org/openstack/{name}',
                  gitref='master', where='manifest.yml:1')
    values.update(fields)
    values.setdefault('provenance_url', values['giturl'])
    return ProjectInfo(name=name, **values)


def interpreter(version: str = '3.11.2') -> Interpreter:
    """The Debian interpreter ``/usr/bin/python3.<minor>`` (not probed)."""
    minor = '.'.join(version.split('.')[:2])
    return Interpreter(Path(f'/usr/bin/python{minor}'), version,
                       platform_machine='x86_64', owner=f'python{minor}-minimal')


def checkout(path: Path, url: str = 'https://opendev.org/openstack/demo',
             ref: str = 'master', commit: str = 'a' * 40) -> Checkout:
    """A :class:`Checkout` of ``path`` (created), dated :data:`EPOCH`."""
    path.mkdir(parents=True, exist_ok=True)
    return Checkout(path, url, ref, commit, datetime.datetime.fromtimestamp(
        EPOCH, datetime.timezone.utc))


def package_description(name: str = 'demo', version: str = '1.0-1', *,
                        install_path: str = '/opt/demo',
                        **fields: Any) -> PackageDescription:
    """A :class:`PackageDescription`; ``fields`` override its defaults."""
    fields.setdefault('summary', f'{name} for testing')
    return PackageDescription(name=name, version=versions.parse(version),
                              install_path=PurePosixPath(install_path),
                              **fields)


def staged_tree(root: Path, install_path: str = '/opt/demo', *,
                files: Mapping[str, str] | None = None,
                config_files: Sequence[str] = ()) -> StagedTree:
    """A small staged virtualenv: ``bin/python`` (a link to the system
    interpreter) and ``files`` (path relative to the venv -> text)."""
    install = PurePosixPath(install_path)
    venv = root / install.relative_to('/')
    (venv / 'bin').mkdir(parents=True, exist_ok=True)
    link = venv / 'bin' / 'python'
    if not link.is_symlink():
        link.symlink_to('/usr/bin/python3')
    for name, text in (files or {'pyvenv.cfg': 'home = /usr/bin\n'}).items():
        (venv / name).parent.mkdir(parents=True, exist_ok=True)
        (venv / name).write_text(text)
    return StagedTree(root=root, install_path=install,
                      config_files=tuple(PurePosixPath(c) for c in config_files))


def _options(driver: type | None, options: Mapping[str, Any] | None
             ) -> dict[str, Any]:
    """``options`` checked against the driver's schema, defaults filled."""
    schema: Mapping[str, Option] = getattr(driver, 'options', {}) or {}
    if driver is None:
        return dict(options or {})
    return validate_options(schema, dict(options or {}),
                            driver_name=getattr(driver, '__name__', 'driver'))


def _info(project: Any) -> tuple[ProjectInfo, Any]:
    """A ProjectInfo, and the core project behind it (if one was given)."""
    if project is None:
        return project_info(), None
    if isinstance(project, ProjectInfo):
        return project, None
    return ProjectInfo.of(project), project


def build_context(tmp_path: Path, *, builder: type | None = None,
                  options: Mapping[str, Any] | None = None,
                  project: ProjectInfo | Any = None,
                  package: PackageDescription | None = None,
                  runner: Runner | None = None, **fields: Any
                  ) -> BuildContext:
    """A :class:`BuildContext` under ``tmp_path`` (its ``work`` directory
    made, as a build makes it; ``out`` for the artifacts; a checkout in
    ``src``).

    :param builder: the builder class: ``options`` are checked against
        its schema as a manifest's would be, and defaults filled in.
    :param project: a :class:`ProjectInfo` (default: :func:`project_info`).
    :param fields: any other :class:`BuildContext` field.
    """
    info, legacy = _info(project)
    values = dict(
        project_info=info, legacy_project=legacy,
        package=package or package_description(info.name),
        interpreter=interpreter(),
        checkout=checkout(tmp_path / 'src', info.giturl, info.gitref),
        pins=Pins.of([]), options=_options(builder, options),
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=runner if runner is not None else RecordingRunner(),
        source_date_epoch=EPOCH)
    values.update(fields)
    context = BuildContext(**values)
    context.work_dir.mkdir(parents=True, exist_ok=True)  # as a build's is
    return context


def resolve_context(tmp_path: Path, *, http: Any,
                    resolver: type | None = None,
                    options: Mapping[str, Any] | None = None,
                    project: ProjectInfo | Any = None,
                    runner: Runner | None = None, **fields: Any
                    ) -> ResolveContext:
    """A :class:`ResolveContext` under ``tmp_path`` (a checkout in ``src``,
    ``work`` and ``cache`` directories).

    :param http: the HTTP client (:class:`giftwrap.resolve.http.HttpClient`;
        its ``offline`` is the context's).
    :param resolver: the resolver class, whose schema checks ``options``.
    """
    info, legacy = _info(project)
    values = dict(
        project_info=info, legacy_project=legacy,
        checkout=checkout(tmp_path / 'src', info.giturl, info.gitref),
        interpreter=interpreter(), options=_options(resolver, options),
        work_dir=tmp_path / 'work', cache_dir=tmp_path / 'cache',
        runner=runner if runner is not None else RecordingRunner(),
        http=http, offline=getattr(http, 'offline', False))
    values.update(fields)
    return ResolveContext(**values)
