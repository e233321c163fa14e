"""Loading and listing drivers (builders, resolvers, executors) through
stevedore.

Built-in drivers register through ``setup.cfg`` entry points exactly as a
third-party package's do.  A build loads only the drivers it names, with
:class:`stevedore.driver.DriverManager`; listing uses
:class:`stevedore.extension.ExtensionManager` and imports nothing it does
not have to show.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import inspect
import logging
from typing import Any, Mapping

from stevedore import driver, extension

from giftwrap import errors

LOG = logging.getLogger(__name__)

BUILDERS = 'giftwrap.builders'
RESOLVERS = 'giftwrap.resolvers'
EXECUTORS = 'giftwrap.executors'

#: The driver API (major, minor) this giftwrap provides: what
#: :mod:`giftwrap.api` exports and the contexts drivers receive.  The minor
#: grows when something is added (a driver written for 1.0 loads in 1.3);
#: the major when something is removed or changes meaning (a driver for 1.x
#: does not load in 2.0).  A driver states the version it is written
#: against as its ``api_version`` class attribute.
API_VERSION = (1, 2)

_KIND = {BUILDERS: 'builder', RESOLVERS: 'resolver', EXECUTORS: 'executor'}


def kind(namespace: str) -> str:
    """What one driver of ``namespace`` is called: ``giftwrap.executors``
    has executors."""
    return _KIND.get(namespace) or namespace.rpartition('.')[2].rstrip('s')


@dataclasses.dataclass(frozen=True)
class Option:
    """One option a driver accepts under ``builder_options``/``resolver_options``.

    :param type: the Python type the YAML value must have (``str``, ``bool``,
        ``int``, ``list``, ``dict``).
    :param default: the value when the manifest does not set it.
    :param choices: the allowed values, if the option is an enumeration.
    """

    type: type
    default: Any = None
    help: str = ''
    choices: tuple = ()


@dataclasses.dataclass(frozen=True)
class DriverDetails:
    """What ``show-builder``/``show-resolver`` show about one driver.

    :ivar options: (name, declaration) pairs, sorted by name.
    """

    name: str
    summary: str
    description: str
    distribution: str
    entry_point: str
    options: tuple[tuple[str, Option], ...]


@dataclasses.dataclass(frozen=True)
class DriverInfo:
    """What ``list-builders``/``list-resolvers`` show about one driver."""

    name: str
    summary: str
    distribution: str


def _load_error(namespace, name, exc, where=None):
    raise errors.DriverError(
        f'the {kind(namespace)} {name!r} could not be loaded: {exc}',
        where=where, hint='reinstall the package that provides it') from exc


def available(namespace: str) -> list[str]:
    """The names registered under ``namespace``, without importing them."""
    return sorted({ep.name for ep in
                   importlib.metadata.entry_points(group=namespace)})


def load(namespace: str, name: str, *, where: str | None = None) -> type:
    """Return the driver class registered as ``name`` (not an instance).

    :raises giftwrap.errors.DriverError: unknown name (the message lists the
        available ones and a close match) or a driver that fails to import.
    """
    names = available(namespace)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f'did you mean {close[0]!r}? ' if close else ''
        raise errors.DriverError(
            f'unknown {kind(namespace)} {name!r}', where=where,
            hint=f'{hint}available: {", ".join(names) or "none installed"}')
    try:
        # stevedore calls back with (manager, entry point, error)
        mgr = driver.DriverManager(
            namespace, name, invoke_on_load=False,
            on_load_failure_callback=lambda _m, _ep, exc: _load_error(
                namespace, name, exc, where))
    except errors.DriverError:
        raise
    except Exception as exc:  # stevedore wraps import errors variously
        _load_error(namespace, name, exc, where)
    check_api(namespace, name, mgr.driver)
    return mgr.driver


def check_api(namespace: str, name: str, cls: type) -> None:
    """Refuse a driver written for a driver API this giftwrap lacks.

    :raises giftwrap.errors.DriverError: naming both versions.
    """
    wanted = getattr(cls, 'api_version', API_VERSION)
    try:
        major, minor = (int(n) for n in wanted)
    except (TypeError, ValueError):
        raise errors.DriverError(
            f'the {_KIND[namespace]} {name!r} declares api_version '
            f'{wanted!r}, not (major, minor)',
            hint='report it to the package that provides it') from None
    if major != API_VERSION[0] or minor > API_VERSION[1]:
        have = '.'.join(map(str, API_VERSION))
        raise errors.DriverError(
            f'the {_KIND[namespace]} {name!r} is written for giftwrap\'s '
            f'driver API {major}.{minor}; this giftwrap provides {have}',
            hint=('upgrade giftwrap' if major >= API_VERSION[0] else
                  f'install a release of that driver made for API '
                  f'{API_VERSION[0]}.x'))


def fill_defaults(context, schema: Mapping[str, 'Option']):
    """``context`` with every option of ``schema`` in its ``options``: the
    plan fills them in already, so this changes only contexts a test or a
    third-party caller built by hand, and no driver needs a fallback."""
    missing = {k: o.default for k, o in schema.items()
               if k not in context.options}
    if not missing:
        return context
    return dataclasses.replace(context, options={**context.options, **missing})


def describe(namespace: str) -> list[DriverInfo]:
    """Every installed driver of ``namespace``, for the list commands."""
    mgr = extension.ExtensionManager(namespace, invoke_on_load=False,
                                     on_load_failure_callback=_warn_broken)
    # stevedore's cached entry points carry no distribution; ask metadata.
    dists = {ep.name: ep.dist for ep in
             importlib.metadata.entry_points(group=namespace)}
    infos = []
    for ext in sorted(mgr, key=lambda e: e.name):
        doc = (ext.plugin.__doc__ or '').strip().splitlines()
        dist = dists.get(ext.name)
        infos.append(DriverInfo(
            ext.name, doc[0] if doc else '',
            f'{dist.name} {dist.version}' if dist else 'unknown'))
    return infos


def show(namespace: str, name: str) -> DriverDetails:
    """One installed driver, its documentation and options.

    :raises giftwrap.errors.DriverError: as :func:`load` does.
    """
    cls = load(namespace, name)
    summary, _, description = (inspect.getdoc(cls) or '').partition('\n')
    found = [ep for ep in importlib.metadata.entry_points(group=namespace)
             if ep.name == name]
    dist = found[0].dist if found else None
    return DriverDetails(
        name, summary.strip(), description.strip(),
        f'{dist.name} {dist.version}' if dist else 'unknown',
        found[0].value if found else '',
        tuple(sorted(dict(getattr(cls, 'options', None) or {}).items())))


def _warn_broken(manager, entrypoint, exc):
    LOG.warning('cannot load %s %r: %s', kind(manager.namespace),
                entrypoint.name, exc)


def validate_options(schema: Mapping[str, Option], given: Mapping[str, Any],
                     *, driver_name: str, where: str | None = None
                     ) -> dict[str, Any]:
    """Check ``given`` against a driver's ``schema`` and fill in defaults.

    :returns: a new dict holding every option of the schema.
    :raises giftwrap.errors.DriverError: an unknown option, a value of the
        wrong type or outside ``choices``.
    """
    result = {}
    for key in given:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = (f'did you mean {close[0]!r}?' if close else
                    f'{driver_name} accepts: {", ".join(sorted(schema)) or "no options"}')
            raise errors.DriverError(
                f'unknown option {key!r} for {driver_name}', where=where,
                hint=hint)
    for key, opt in schema.items():
        value = given.get(key, opt.default)
        if key in given:
            _check_option(driver_name, key, opt, value, where)
        result[key] = value
    return result


def _check_option(driver_name, key, opt, value, where):
    ok = isinstance(value, opt.type)
    if opt.type is int and isinstance(value, bool):
        ok = False
    if opt.type is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise errors.DriverError(
            f'option {key!r} of {driver_name} must be a {opt.type.__name__}, '
            f'not {type(value).__name__}', where=where,
            hint=opt.help or None)
    if opt.choices and value not in opt.choices:
        raise errors.DriverError(
            f'option {key!r} of {driver_name} must be one of '
            f'{", ".join(map(str, opt.choices))}, not {value!r}', where=where)
