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
import logging
from typing import Any, Mapping

from stevedore import driver, extension

from giftwrap import errors

LOG = logging.getLogger(__name__)

BUILDERS = 'giftwrap.builders'
RESOLVERS = 'giftwrap.resolvers'
EXECUTORS = 'giftwrap.executors'

_KIND = {BUILDERS: 'builder', RESOLVERS: 'resolver', EXECUTORS: 'executor'}


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
class DriverInfo:
    """What ``list-builders``/``list-resolvers`` show about one driver."""

    name: str
    summary: str
    distribution: str


def _load_error(namespace, name, exc):
    raise errors.DriverError(
        f'the {_KIND[namespace]} {name!r} could not be loaded: {exc}',
        hint='reinstall the package that provides it') from exc


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
            f'unknown {_KIND[namespace]} {name!r}', where=where,
            hint=f'{hint}available: {", ".join(names) or "none installed"}')
    try:
        mgr = driver.DriverManager(namespace, name, invoke_on_load=False,
                                   on_load_failure_callback=_load_error)
    except errors.DriverError:
        raise
    except Exception as exc:  # stevedore wraps import errors variously
        _load_error(namespace, name, exc)
    return mgr.driver


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


def _warn_broken(manager, entrypoint, exc):
    LOG.warning('cannot load %s %r: %s', _KIND.get(manager.namespace, 'driver'),
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
