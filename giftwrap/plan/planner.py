"""From a manifest and command-line choices to a checked build plan.

Everything that can be wrong without cloning is found here, before any
work and before anything is written: the manifest, its templates, unknown
drivers, driver options, missing tools and unusable interpreters.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.fetch import patches
from giftwrap.manifest import loader as manifest, schema, series
from giftwrap.package import description as package
from giftwrap.plan import targets
from giftwrap.resolve import overrides
from giftwrap.venv import interpreter, syspython, build as venv
from giftwrap.package import scripts
from giftwrap.util import containers as engines
from giftwrap.projectinfo import ProjectInfo
from giftwrap.util.process import Runner, find_tool


@dataclasses.dataclass(frozen=True)
class Choice:
    """A driver picked for a project, with its validated options."""

    name: str
    driver: type
    options: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class ProjectPlan:
    """What will be done for one project.

    :ivar targets: where to build (see :mod:`giftwrap.plan.targets`); empty
        means on this machine with :attr:`interpreter`.
    """

    project: manifest.Project
    resolver: Choice
    builders: tuple[Choice, ...]
    interpreter: interpreter.Interpreter | None
    targets: tuple[targets.Target, ...] = ()


@dataclasses.dataclass(frozen=True)
class Plan:
    manifest: manifest.Manifest
    projects: tuple[ProjectPlan, ...]


def make(manifest_path: str | Path, *, version: str | None = None,
         types: Sequence[str] = (), projects: Sequence[str] = (),
         output_dir: str | None = None, runner: Runner | None = None,
         trusted: Sequence[str] = ()) -> Plan:
    """Load the manifest and check every choice it and the command line make.

    :param types: ``-t`` words: builder names or 2014 build types.
    :param projects: ``-p`` names; empty means every project.
    :param trusted: ``--interpreter`` paths: interpreters the operator
        trusts though no system package owns them.
    :raises giftwrap.errors.GiftwrapError: the first problem found.
    """
    runner = runner or Runner()
    _check_trusted(trusted)
    loaded = manifest.load(manifest_path, version=version,
                           output_dir=output_dir)
    override = tuple(b for t in types for b in manifest.build_type_builders(t))
    names = _selected(loaded, projects)
    interpreters: dict[str, interpreter.Interpreter] = {}
    plans = []
    for name in names:
        project = loaded.render(name)
        if override:
            project = dataclasses.replace(project, builders=override)
        plans.append(_plan_project(project, interpreters, runner,
                                   from_cli=bool(override), trusted=trusted))
    # a warning, not an error: rebuilding an old release must stay possible
    series.warn_unsupported([p.project for p in plans])
    return Plan(loaded, tuple(plans))


def _check_trusted(paths: Sequence[str]) -> None:
    for path in paths:
        if not os.path.isfile(os.path.realpath(path)):
            raise errors.ManifestError(
                f'the interpreter {path} does not exist',
                where='--interpreter',
                hint='give the path of an installed interpreter')


def _selected(loaded: manifest.Manifest, wanted: Sequence[str]) -> list[str]:
    for name in wanted:
        if name not in loaded.names:
            close = difflib.get_close_matches(name, loaded.names, n=1)
            raise errors.ManifestError(
                f'no project {name!r} in the manifest', where='-p/--projects',
                hint=(f'did you mean {close[0]!r}? ' if close else '') +
                'projects: ' + ', '.join(loaded.names))
    return [n for n in loaded.names if not wanted or n in wanted]


def _plan_project(project, interpreters, runner, from_cli, trusted=()
                  ) -> ProjectPlan:
    resolver = _choose(drivers.RESOLVERS, project.resolver,
                       project.resolver_options, project,
                       project.where_key('resolver'))
    where = '-t/--type' if from_cli else project.where_key('builders')
    builders = tuple(_choose(drivers.BUILDERS, name, project.builder_options,
                             project, where)
                     for name in dict.fromkeys(project.builders))
    if not builders:
        raise errors.ManifestError(
            f'project {project.name!r} has no builders', where=where,
            hint='set "builders:" (see giftwrap list-builders)')
    _check_option_names(project, drivers.BUILDERS, project.builder_options,
                        'builder_options')
    _check_option_names(project, drivers.RESOLVERS, project.resolver_options,
                        'resolver_options')
    for choice in builders:
        try:
            choice.driver.check_options(choice.options)
            choice.driver.check_project(ProjectInfo.of(project))
            choice.driver.check_tools(choice.options)
        except errors.GiftwrapError as exc:
            raise exc.located(f'builder {choice.name} (project {project.name})')
    _check_patches(project)
    check_values(project)
    try:
        venv.check_installer(project.installer)
    except errors.GiftwrapError as exc:
        raise exc.located(project.where_key('installer'))
    if project.targets:
        return ProjectPlan(project, resolver, builders, None,
                           _targets(project, builders))
    python = interpreters.get(project.python)
    if python is None:
        where = project.where_key('python')
        real = interpreter.trusted(project.python, runner, trusted,
                                   where=where)
        python = interpreter.resolve(real, runner, where=where)
        interpreters[project.python] = python
    # First: with another interpreter the bindings' ABI is the problem.
    syspython.check_interpreter(project, python)
    _check_interpreter(project, python, builders)
    return ProjectPlan(project, resolver, builders, python)


def check_values(project) -> None:
    """Every value of the rendered project that reaches pip, git or a
    package and can be checked without its source.

    The same functions check them again once the source is known.

    :raises giftwrap.errors.ManifestError: naming the key's line.
    """
    overrides.check(project)
    venv.check_install_path(project.install_path,
                            project.where_key('install_path'))
    venv.check_extras(project.extras, project.where_key('extras'))
    for key in ('pip_dependencies', 'postinstall_dependencies'):
        # templates may render to what the raw value was checked against
        schema.FIELDS[key].check(key, list(getattr(project, key)),
                                 project.where_key(key))
    package.check_project(project)
    scripts.check_project(project)


def _targets(project, builders) -> tuple[targets.Target, ...]:
    """The project's targets, checked: their engine exists, a builder
    makes each one's format, and the installer can run in them."""
    where = project.where_key('targets')
    found = targets.parse(project.targets, where)
    for target in found:
        if not [c for c in builders if c.driver.package_format in
                (None, target.format)]:
            raise errors.ManifestError(
                f'no builder of the project makes {target.format} packages '
                f'for target {target.name}', where=where,
                hint=f'add nfpm-{target.format} to builders')
        engines.choose(target.engine, engines.Settings(
            isolation=target.isolation))
    if project.installer != 'pip':
        raise errors.ManifestError(
            f'installer {project.installer!r} cannot run inside build '
            'targets yet', where=project.where_key('installer'),
            hint='use installer: pip with targets')
    return found


def _check_patches(project) -> None:
    """Patch files exist (read now) and GNU patch is there to apply them."""
    if patches.find(project) and find_tool('patch') is None:
        raise errors.MissingToolError(
            'GNU patch is needed to apply the project\'s patches',
            where=project.where_key('patches'), hint='apt-get install patch')


def _choose(namespace, name, all_options, project, where) -> Choice:
    driver = drivers.load(namespace, name, where=where)
    options = drivers.validate_options(
        driver.options, all_options.get(name, {}), driver_name=name,
        where=project.where_key('builder_options' if namespace ==
                                drivers.BUILDERS else 'resolver_options'))
    return Choice(name, driver, options)


def _check_option_names(project, namespace, options, key):
    known = drivers.available(namespace)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise errors.DriverError(
                f'{key} names {name!r}, which is not an installed driver',
                where=project.where_key(key),
                hint=(f'did you mean {close[0]!r}? ' if close else '') +
                'installed: ' + ', '.join(known))


def _check_interpreter(project, python, builders) -> None:
    needs_system = [c.name for c in builders if c.driver.needs_system_python]
    if needs_system and python.owner is None:
        raise errors.BuildError(
            f'the interpreter {python.path} belongs to no system package, so '
            f'a package built with it could not depend on it '
            f'(builders: {", ".join(needs_system)})',
            where=project.where_key('python'),
            hint='use a distribution interpreter, e.g. python: /usr/bin/python3 '
                 '(apt-get install python3)')
