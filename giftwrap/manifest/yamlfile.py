"""Reading YAML with the line of every key and list item.

Validation errors must name the manifest file and line of the offending key,
so the loader keeps positions: every mapping is a :class:`LocatedDict` and
every sequence a :class:`LocatedList`, each knowing its lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from giftwrap import errors


class LocatedDict(dict):
    """A dict that knows the line of each key (``lines[key]``)."""

    line: int = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}


class LocatedList(list):
    """A list that knows the line of each item (``lines[index]``)."""

    line: int = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: list[int] = []


class _Loader(yaml.SafeLoader):
    """SafeLoader that records positions and refuses duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise _Positioned(f'a key must be a plain value, not '
                              f'{type(key).__name__}', line)
        if key in result:
            raise _Positioned(f'duplicate key {key!r} (first at line '
                              f'{result.lines[key]})', line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.lines.append(child.start_mark.line + 1)
    return result


_Loader.add_constructor('tag:yaml.org,2002:map', _construct_mapping)
_Loader.add_constructor('tag:yaml.org,2002:seq', _construct_sequence)


class _Positioned(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


#: The values a manifest may hold once its aliases are expanded: a few
#: hundred bytes of nested aliases stand for billions of copies, each
#: rendered in turn.
MAX_VALUES = 100_000


def _check_expansion(root: yaml.Node) -> None:
    """Refuse aliases that expand past :data:`MAX_VALUES` values, or that
    refer to themselves (each node counted once, with its expansion)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            if sizes[key] < 0:
                raise _Positioned('a YAML alias refers to the value that '
                                  'holds it', node.start_mark.line + 1)
            return sizes[key]
        sizes[key] = -1
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        if total > MAX_VALUES:
            raise _Positioned(
                f'YAML aliases expand the manifest past {MAX_VALUES:,} '
                f'values', node.start_mark.line + 1)
        sizes[key] = total
        return total

    size(root)


def load(path: Path) -> Any:
    """Parse the YAML file at ``path`` with positions.

    :raises giftwrap.errors.ManifestError: unreadable file, YAML syntax
        error or duplicate key, naming ``file:line``.
    """
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.ManifestError(
            f'cannot read the manifest: {exc}', where=str(path),
            hint='check the path given with -m/--manifest') from exc
    loader = None
    try:
        loader = _Loader(text)  # its reader rejects unprintable characters
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except _Positioned as exc:
        raise errors.ManifestError(str(exc), where=f'{path}:{exc.line}') from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f':{mark.line + 1}' if mark else ''
        what = ' '.join(filter(None, [exc.context, exc.problem]))
        raise errors.ManifestError(
            f'YAML syntax error: {what}', where=f'{path}{line}',
            hint='check indentation and quoting; values containing ": " or '
                 'starting with "{" or "*" need quotes') from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise errors.ManifestError(
            f'YAML error: {exc}', where=str(path),
            hint='the manifest must be UTF-8 YAML text') from None
    finally:
        if loader is not None:
            loader.dispose()
