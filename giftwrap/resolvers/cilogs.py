"""Reading the versions a CI job installed from its logs.

An ``openstack-tox-py3xx`` build's ``job-output.txt`` holds, line by line,
``<timestamp> | <host> | <text>``.  The versions tox installed appear in one
of three ways, tried in this order:

1. tox 3 prints ``py38 installed: a==1,b==2,...`` after each run: the last
   such line is the test environment (``tox3-installed``);
2. tox 4 (when it lists dependencies) runs ``pip freeze --all`` and logs its
   lines, then the same list comma-separated (``tox4-freeze``); the 2014
   jobs ran ``pip freeze``/``pbr freeze`` with ``bash -x`` (``pip-freeze``);
3. otherwise only pip's ``Successfully installed a-1 b-2`` lines of tox's
   install steps (``pip-successfully-installed``), which miss what was
   already there: the resolver completes them from upper-constraints.

A freeze block is the marker line and the freeze lines right after it;
nothing after the block is ever a pin, even if it looks like one.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Iterator, Mapping

import yaml
from packaging.utils import canonicalize_name

from giftwrap.api import Pin
from giftwrap import errors
from giftwrap.resolve import reqfiles

TOX3 = 'tox3-installed'
TOX4 = 'tox4-freeze'
PIP_FREEZE = 'pip-freeze'
PIP = 'pip-successfully-installed'

#: What ``pip freeze --all`` adds and a virtualenv brings anyway.
INSTALLERS = frozenset({'pip', 'setuptools', 'wheel'})
REQUIREMENTS_PROJECT = 'openstack/requirements'

_ANSI = re.compile(r'\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\r')
_TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d')
_TASK = re.compile(r'^(?:TASK|PLAY|RUNNING HANDLER) \[')
_TOX3 = re.compile(r'^(?P<env>[A-Za-z0-9][\w.-]*) installed: (?P<list>.+)$')
# tox 4: "py312: 1402 W install_deps> python ... [tox/tox_env/api.py:NNN]";
# the "1402 W" and "[file:line]" parts appear only at -vv.
_TOX4 = re.compile(r'^(?P<env>[\w.-]+): (?:\d+ [A-Z] )?(?P<body>.*?)'
                   r'(?: \[[\w./-]+:\d+\])?$')
_TOX4_COMMAND = re.compile(r'^(?P<run_id>[\w\[\].-]+)> ')
_TOX4_EXIT = re.compile(r'^exit -?\d+ ')
# "+ .tox/py27/bin/pip freeze", "freeze> python -m pip freeze --all",
# "... pbr freeze | sort -f": the command, not an echo mentioning it.
_FREEZE_MARKER = re.compile(r'(?:^|[\s/])(?:pip|pbr) freeze(?: --all)?'
                            r'(?:\s*\|\s*sort(?: -f)?)?\s*$')
_PIN = re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?'
                  r'===?(?P<version>[^\s;,#=]+)$')
_DIRECT = re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?'
                     r' @ \S+$')
_SUCCESS = re.compile(r'^Successfully installed (?P<list>.+)$')
_PIP_STEPS = frozenset({'install_deps', 'install_package_deps',
                        'install_package'})
_SHA = re.compile(r'^[0-9a-f]{40}\Z')


@dataclasses.dataclass(frozen=True)
class Entry:
    """One item of a freeze or an ``installed:`` list.

    :ivar pin: its exact version, or ``None`` for ``-e``/``name @ url``.
    :ivar source_name: for a source install, its name if known: the project
        itself or a sibling, never to be pinned.
    """

    pin: Pin | None = None
    source_name: str | None = None


@dataclasses.dataclass(frozen=True)
class Found:
    """The versions one marker gave.

    :ivar method: how they were found (:data:`TOX3`, :data:`TOX4`...).
    :ivar source_names: canonical names installed from source.
    """

    method: str
    pins: tuple[Pin, ...]
    source_names: frozenset[str] = frozenset()


def log_texts(text: str) -> Iterator[str]:
    """The text of each line of ``job-output.txt``, ANSI escapes removed.

    ``<ts> | <host> | <text>`` gives ``<text>``; a banner
    ``<ts> | TASK [...]`` gives ``TASK [...]``; other lines are kept whole.
    """
    for raw in text.splitlines():
        line = _ANSI.sub('', raw)
        parts = line.split(' | ', 2)
        if len(parts) == 1 or not _TIMESTAMP.match(parts[0]):
            yield line
        elif len(parts) == 3 and ' ' not in parts[1].strip():
            yield parts[2]
        else:
            yield ' | '.join(parts[1:])


def parse_entry(text: str) -> Entry | None:
    """One freeze-style item (``a==1``, ``-e git+...#egg=a``, ``a @ url``).

    pbr's ``  # git sha abc1234`` comments are ignored.
    :returns: the entry, or ``None`` if ``text`` is not one.
    """
    text = re.sub(r'(?:^|\s+)#.*$', '', text).strip()
    if text.startswith(('-e ', '--editable ', '--editable=')):
        egg = reqfiles.egg_requirement(text)
        return Entry(source_name=egg.split('>=')[0] if egg else None)
    match = _PIN.match(text)
    if match:
        return Entry(pin=Pin(match['name'], match['version']))
    match = _DIRECT.match(text)
    if match:
        return Entry(source_name=match['name'])
    return None


def _found(method: str, entries: Iterable[Entry]) -> Found:
    entries = list(entries)
    # tox 4 lists the freeze twice; the later of two versions wins
    pins = {e.pin.key: e.pin for e in entries if e.pin}
    return Found(method, tuple(pins.values()),
                 frozenset(canonicalize_name(e.source_name) for e in entries
                           if e.source_name))


def parse_tox3(lines: Iterable[str]) -> Found | None:
    """The last ``<env> installed: a==1,b==2`` line of tox 3."""
    last = None
    for text in lines:
        match = _TOX3.match(text)
        if match and not match['env'].startswith('.'):
            last = match['list']
    if last is None:
        return None
    entries = [parse_entry(item) for item in last.split(',')]
    return _found(TOX3, (e for e in entries if e))


def parse_freeze(lines: Iterable[str]) -> Found | None:
    """The last non-empty freeze block (tox 4's, or a 2014 ``pip freeze``)."""
    blocks: list[tuple[str, list[Entry]]] = []
    current: list[Entry] | None = None
    for text in lines:
        tox = _TOX4.match(text)
        body = tox['body'] if tox else text
        if _FREEZE_MARKER.search(body):
            current = []
            blocks.append((TOX4 if tox and body.startswith('freeze>')
                           else PIP_FREEZE, current))
        elif current is not None:
            current = _freeze_line(text, tox, current)
    for method, entries in reversed(blocks):
        if any(e.pin for e in entries):
            return _found(method, entries)
    return None


def _freeze_line(text: str, tox: re.Match | None,
                 block: list[Entry]) -> list[Entry] | None:
    """Add one line to an open freeze block; ``None`` once it has ended."""
    if tox:
        body = tox['body']
        if _TOX4_EXIT.match(body):
            return block  # tox's report that the freeze command finished
        items = [parse_entry(item) for item in body.split(',')]
        if '==' in body and not _TOX4_COMMAND.match(body) and all(items):
            block.extend(items)  # tox 4's comma-separated repeat: the end
        return None
    if text.strip().startswith('#'):
        return block  # "# Editable install with no version control (...)"
    entry = parse_entry(text)
    if entry is None:
        return None
    block.append(entry)
    return block


def parse_pip_installed(lines: Iterable[str]) -> Found | None:
    """``Successfully installed`` lines of tox's own install steps.

    Only lines that follow a tox ``install_deps>``, ``install_package_deps>``
    or ``install_package>`` command of a test environment count: pip also
    installs tox itself, and tox's ``.pkg`` build environment.
    """
    step_ok = False
    entries: list[Entry] = []
    for text in lines:
        if _TASK.match(text):
            step_ok = False
            continue
        tox = _TOX4.match(text)
        command = tox and _TOX4_COMMAND.match(tox['body'])
        if command:
            step_ok = (command['run_id'] in _PIP_STEPS
                       and not tox['env'].startswith('.'))
            continue
        match = _SUCCESS.match(text)
        if match and step_ok:
            entries.extend(_installed_tokens(match['list']))
    return _found(PIP, entries) if entries else None


def _installed_tokens(text: str) -> Iterator[Entry]:
    for token in text.split():
        name, sep, version = token.rpartition('-')
        if sep and name and version[:1].isdigit():
            yield Entry(pin=Pin(name, version))


def find_pins(text: str) -> Found | None:
    """The versions in ``job-output.txt``, by the first marker present."""
    lines = list(log_texts(text))
    for parse in (parse_tox3, parse_freeze, parse_pip_installed):
        found = parse(lines)
        if found is not None and found.pins:
            return found
    return None


def drop(pins: Iterable[Pin], names: Iterable[str]) -> list[Pin]:
    """``pins`` without ``names`` (canonical) and pip/setuptools/wheel."""
    dropped = {canonicalize_name(n) for n in names} | INSTALLERS
    return [p for p in pins if p.key not in dropped]


@dataclasses.dataclass(frozen=True)
class Inventory:
    """What ``zuul-info/inventory.yaml`` says about the job's projects.

    :ivar requirements_commit: the openstack/requirements commit the job
        checked out (its upper-constraints), if it had that project.
    :ivar projects: ``name`` (``openstack/nova``) -> ``short_name`` of
        every project the job checked out.
    """

    requirements_commit: str | None
    projects: Mapping[str, str]


class _InventoryLoader(yaml.SafeLoader):
    """A safe loader that reads Zuul's ``!unsafe`` (and any other) tags as
    the plain values they carry."""


def _untag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_InventoryLoader.add_multi_constructor('!', _untag)


def parse_inventory(text: str, source: str) -> Inventory:
    """Read a build's ``inventory.yaml``.

    :raises giftwrap.errors.ResolveError: it is not YAML or has no
        ``zuul.projects``.
    """
    # yaml.safe_load rejects Zuul's "!unsafe" tags; this SafeLoader
    # subclass constructs only plain YAML types, exactly as safe_load does.
    loader = _InventoryLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise errors.ResolveError(
            f'{source} is not valid YAML ({exc})',
            hint='the logs are damaged; set fallback: upper-constraints') from exc
    finally:
        loader.dispose()
    zuul = _find_zuul(data)
    if zuul is None:
        raise errors.ResolveError(
            f'{source} has no zuul.projects', hint='is this a Zuul inventory?')
    projects, commit = {}, None
    for key, info in zuul['projects'].items():
        if not isinstance(info, dict):
            continue
        name = str(info.get('name') or key.split('/', 1)[-1])
        projects[name] = str(info.get('short_name') or name.rsplit('/', 1)[-1])
        if name == REQUIREMENTS_PROJECT and _SHA.match(str(info.get('commit'))):
            commit = str(info['commit'])
    return Inventory(commit, projects)


def _find_zuul(data, depth: int = 0) -> dict | None:
    """``all.vars.zuul``, or the first ``zuul`` mapping with ``projects``."""
    if not isinstance(data, dict) or depth > 4:
        return None
    zuul = data.get('zuul')
    if isinstance(zuul, dict) and isinstance(zuul.get('projects'), dict):
        return zuul
    for value in data.values():
        found = _find_zuul(value, depth + 1)
        if found is not None:
            return found
    return None
