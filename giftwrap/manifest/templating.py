"""Rendering the manifest's Jinja2 templates, once each, in a sandbox.

Values refer to each other (``install_path`` uses ``settings.base_path``,
which uses ``version``).  Instead of re-rendering until nothing changes (the
2014 tool's way), each value is rendered on first use, in dependency order,
and a reference back to a value still being rendered is a cycle error that
names the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator

import jinja2
from jinja2 import meta

from giftwrap import errors
from giftwrap.manifest import bounds

#: Names templates see under ``project.`` once the source is cloned (and
#: patched: ``patch_count``, ``patches_digest``, see giftwrap.fetch.patches).
SOURCE_NAMES = ('commit', 'commit_short', 'commit_date', 'source_version',
                'patch_count', 'patches_digest')

#: Stand-ins for :data:`SOURCE_NAMES` when validating before a clone: they
#: look like real values, so a version built from them is checked for format.
SAMPLE_SOURCE = {'commit': '0' * 40, 'commit_short': '0000000',
                 'commit_date': '20250101000000', 'source_version': '0.0.1',
                 'patch_count': '0', 'patches_digest': '00000000'}

#: Stand-ins shown by ``--dry-run``: visibly not resolved yet.
DISPLAY_SOURCE = {name: f'<{name}>' for name in SOURCE_NAMES}

_ENV = bounds.BoundedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False,
    keep_trailing_newline=False)


class _Scope(Mapping):
    """``settings`` or ``project`` as templates see it: values on demand."""

    def __init__(self, renderer: 'Renderer', scope: str, keys):
        self._renderer = renderer
        self._scope = scope
        self._keys = tuple(keys)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return self._renderer.value(self._scope, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f'<{self._scope}>'


class Renderer:
    """Renders one project's values, each on first use.

    :param raw: scope name (``settings``, ``project``) -> key -> raw value.
    :param source: the values of :data:`SOURCE_NAMES`.
    :param where: ``where(scope, key, explicit=False)`` gives ``file:line``
        of a scope's key; with ``explicit``, None for keys not written.
    :param bare: names templates may use alone (``version``) -> the
        ``(scope, key)`` they stand for.
    """

    def __init__(self, raw: Mapping[str, Mapping[str, Any]],
                 source: Mapping[str, str],
                 where: Callable[[str, str], str],
                 bare: Mapping[str, tuple[str, str]]):
        self._raw = raw
        self._source = source
        self._where = where
        self._bare = bare
        self._done: dict[tuple[str, str], Any] = {}
        self._stack: list[tuple[str, str]] = []
        #: keys whose value used a source name (directly or through others)
        self.source_dependent: set[tuple[str, str]] = set()

    def _context(self, used: set[str]) -> dict[str, Any]:
        project_keys = list(self._raw['project']) + list(SOURCE_NAMES)
        ctx = {'settings': _Scope(self, 'settings', self._raw['settings']),
               'project': _Scope(self, 'project', project_keys)}
        # Bare names are rendered only when the template uses them, so
        # "version: '{{ name }}-1'" is no cycle.
        for name in used & set(self._bare):
            scope, key = self._bare[name]
            if key in self._raw[scope]:
                ctx[name] = self.value(scope, key)
        return ctx

    def value(self, scope: str, key: str) -> Any:
        """The rendered value of ``scope.key``."""
        if scope == 'project' and key in SOURCE_NAMES:
            self.source_dependent.update(self._stack)
            return self._source[key]
        if (scope, key) in self._done:
            if (scope, key) in self.source_dependent:
                self.source_dependent.update(self._stack)
            return self._done[(scope, key)]
        if (scope, key) in self._stack:
            chain = self._stack[self._stack.index((scope, key)):] + [(scope, key)]
            # Point at a key the operator wrote, not at a default.
            written = [self._where(*k) for k in chain if self._where(*k, True)]
            raise errors.ManifestError(
                'template cycle: ' + ' -> '.join(f'{s}.{k}' for s, k in chain),
                where=written[0] if written else self._where(scope, key),
                hint='one of these values must not refer back to the others')
        self._stack.append((scope, key))
        try:
            result = self._render(self._raw[scope][key], scope, key)
        finally:
            self._stack.pop()
        self._done[(scope, key)] = result
        return result

    def _render(self, raw: Any, scope: str, key: str) -> Any:
        if isinstance(raw, str):
            return self.render_string(raw, scope, key)
        if isinstance(raw, list):
            return [self._render(item, scope, key) for item in raw]
        if isinstance(raw, dict):
            return {k: self._render(v, scope, key) for k, v in raw.items()}
        return raw

    def render_string(self, text: str, scope: str, key: str) -> str:
        """Render one template string belonging to ``scope.key``."""
        if '{' not in text:
            return text
        try:
            parsed = _ENV.parse(text)
            used = meta.find_undeclared_variables(parsed)
            return bounds.render(_ENV.from_string(parsed),
                                 self._context(used))
        except jinja2.UndefinedError as exc:
            names = sorted(self._raw['project']) + list(SOURCE_NAMES)
            raise errors.ManifestError(
                f'undefined name in the template of {key!r}: {exc.message}',
                where=self._where(scope, key),
                hint='templates can use settings.<key>, project.<key> (' +
                     ', '.join(names) + ') and name, version, gitref'
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise errors.ManifestError(
                f'template syntax error in {key!r}: {exc.message}',
                where=self._where(scope, key)) from None
        except bounds.TemplateLimitError as exc:
            raise errors.ManifestError(
                f'template of {key!r} is too costly: {exc}',
                where=self._where(scope, key),
                hint='templates compute names and paths; loops, numbers and '
                     'strings this large are refused') from None
        except jinja2.exceptions.SecurityError as exc:
            raise errors.ManifestError(
                f'template of {key!r} is not allowed: {exc}',
                where=self._where(scope, key),
                hint='templates may only read manifest values') from None
        except (TypeError, ValueError, ArithmeticError, jinja2.TemplateError) as exc:
            raise errors.ManifestError(
                f'template of {key!r} failed: {exc}',
                where=self._where(scope, key)) from None
