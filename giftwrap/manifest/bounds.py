"""Bounds on template evaluation: the sandbox every manifest template runs in.

Jinja's own sandbox stops templates reaching Python internals, but not
from exhausting the machine: ``{{ 9 ** 999999999 }}`` (folded while
compiling), ``'x' * 3000000000``, ``{% set x = x ~ x %}`` repeated, nested
loops, a macro calling itself twice.  :class:`BoundedEnvironment` bounds
what one render may do, each check made *before* the work:

* numbers: a result of more than :data:`MAX_INT_BITS` bits;
* strings and lists: more than :data:`MAX_STRING` characters or
  :data:`MAX_ITEMS` items, from ``*``, ``+``, ``~``, ``%``, ``join``,
  ``replace``, padding (``center``, ``indent``, ``ljust``, format widths);
* steps: :data:`MAX_STEPS` loop iterations, calls and operators in all
  (every ``for`` iterates through a counter, whatever it loops over);
* recursion, and :data:`MAX_OUTPUT` characters of output.

Intercepted operators are never folded at compile time (Jinja's
optimizer skips them in a sandbox), so the bound holds there too.  A
template over a bound raises :class:`TemplateLimitError` (a
``SecurityError``) within seconds.  Render with :func:`render`; the
step budget applies to that render only.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
from typing import Any, Iterable, Iterator, Mapping

import jinja2
from jinja2 import nodes, sandbox
from jinja2.visitor import NodeTransformer

#: The largest integer a template may make, in bits (a 1,233-digit number).
MAX_INT_BITS = 4096
#: The longest string and the longest list a template may make.
MAX_STRING = 1 << 20
MAX_ITEMS = 100_000
#: Loop iterations, calls and intercepted operators of one render.
MAX_STEPS = 1_000_000
#: The output of one render, in characters.
MAX_OUTPUT = 4 << 20

# str methods and filters whose integer argument is the size they make.
_PADDING = frozenset(('center', 'ljust', 'rjust', 'zfill', 'expandtabs',
                      'indent', 'wordwrap'))
_WIDTHS = re.compile(r'\d+')


class TemplateLimitError(jinja2.exceptions.SecurityError):
    """A template went over one of the bounds."""


_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    'giftwrap_template_budget', default=None)


def _spend(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget[0] -= steps
    if budget[0] < 0:
        raise TemplateLimitError(
            f'the template takes more than {MAX_STEPS:,} steps (loop '
            f'iterations, calls and operations)')


def _too_long(what: str, size: int, limit: int, unit: str) -> None:
    if size > limit:
        raise TemplateLimitError(
            f'the template makes {what} of {size:,} {unit} (at most '
            f'{limit:,})')


def check_value(value: Any) -> Any:
    """``value``, refused if it is over a bound."""
    if isinstance(value, str):
        _too_long('a string', len(value), MAX_STRING, 'characters')
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        _too_long('a list', len(value), MAX_ITEMS, 'items')
    elif isinstance(value, int) and not isinstance(value, bool):
        _too_long('a number', value.bit_length(), MAX_INT_BITS, 'bits')
    return value


def _sized(value: Any) -> int | None:
    if isinstance(value, (str, list, tuple)):
        return len(value)
    return None


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = all(isinstance(v, int) and not isinstance(v, bool)
               for v in (left, right))
    if operator == '**' and ints and right > 0 and abs(left) > 1:
        bits = right * math.log2(abs(left))
        if bits > MAX_INT_BITS:
            raise TemplateLimitError(
                f'the template makes a number of about {bits:,.0f} bits '
                f'(at most {MAX_INT_BITS:,})')
    elif operator == '*':
        if ints:
            _too_long('a number', left.bit_length() + right.bit_length() - 1,
                      MAX_INT_BITS, 'bits')
        for seq, count in ((left, right), (right, left)):
            size = _sized(seq)
            if size is not None and isinstance(count, int):
                limit = MAX_STRING if isinstance(seq, str) else MAX_ITEMS
                _too_long('a string' if isinstance(seq, str) else 'a list',
                          size * max(count, 0), limit,
                          'characters' if isinstance(seq, str) else 'items')
    elif operator == '+':
        sizes = [_sized(v) for v in (left, right)]
        if None not in sizes:
            text = isinstance(left, str)
            _too_long('a string' if text else 'a list', sum(sizes),
                      MAX_STRING if text else MAX_ITEMS,
                      'characters' if text else 'items')
    elif operator == '%' and isinstance(left, str):
        _check_widths(left, right)


def _check_widths(template: str, args: Any = ()) -> None:
    """Refuse a format (``%``, ``str.format``) padding to a huge width."""
    for width in _WIDTHS.findall(template):
        if len(width) > 7 or int(width) > MAX_STRING:
            raise TemplateLimitError(
                f'the template formats to a width of {width} (at most '
                f'{MAX_STRING:,})')
    values = args if isinstance(args, (tuple, list)) else \
        args.values() if isinstance(args, Mapping) else (args,)
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and \
                value > MAX_STRING and '*' in template:
            raise TemplateLimitError(
                f'the template formats to a width of {value} (at most '
                f'{MAX_STRING:,})')


def _check_call(name: str, target: Any, args: tuple, kwargs: Mapping) -> tuple:
    """Check a call of str method or filter ``name`` before it runs;
    returns its arguments (an iterable joined is read once, here)."""
    if name in _PADDING:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                _too_long('a padded string', value, MAX_STRING, 'characters')
    elif name == 'replace' and isinstance(target, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = target.count(old) if old else len(target) + 1
        _too_long('a string', len(target) + count * max(
            0, len(new) - len(old)), MAX_STRING, 'characters')
    elif name in ('format', 'format_map') and isinstance(target, str):
        _check_widths(target, args or tuple(kwargs.values()))
    elif name == 'join' and isinstance(target, str) and args:
        items = list(_counted(args[0]))
        _too_long('a list', len(items), MAX_ITEMS, 'items')
        _too_long('a string', sum(len(str(i)) for i in items)
                  + len(target) * max(len(items) - 1, 0), MAX_STRING,
                  'characters')
        args = (items, *args[1:])
    return args


def _counted(iterable: Iterable) -> Iterator:
    for item in iterable:
        _spend()
        yield item


class _Bounds(NodeTransformer):
    """Every ``for`` iterates through :meth:`BoundedEnvironment.gw_loop`
    and every ``~`` goes through :meth:`BoundedEnvironment.gw_concat`
    (environment attributes: a template cannot rebind them)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute('gw_loop'),
                               [node.iter], [], None, None,
                               lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute('gw_concat'),
                          list(node.nodes), [], None, None,
                          lineno=node.lineno)


class BoundedEnvironment(sandbox.ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, bounded (see the module)."""

    intercepted_binops = frozenset(('*', '**', '+', '%', '//'))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, f)
                        for name, f in self.filters.items()}

    def _parse(self, source, name, filename):
        return _Bounds().visit(super()._parse(source, name, filename))

    def call_binop(self, context, operator, left, right):
        _spend()
        _check_binop(operator, left, right)
        return check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805
        _spend()
        name = getattr(__obj, '__name__', '')
        # the sandbox wraps str.format: the string is the wrapped method's
        target = getattr(__obj, '__self__', None)
        if target is None:
            target = getattr(getattr(__obj, '__wrapped__', None), '__self__',
                             None)
        if isinstance(target, str):
            args = _check_call(name, target, args, kwargs)
        return check_value(super().call(__context, __obj, *args, **kwargs))

    def gw_loop(self, iterable: Iterable) -> Iterator:
        """What a ``for`` iterates: ``iterable``, one step per item."""
        return _counted(iterable)

    def gw_concat(self, *parts: Any) -> str:
        """``a ~ b``, refused before it is made if too long."""
        texts = [str(p) for p in parts]
        _too_long('a string', sum(map(len, texts)), MAX_STRING, 'characters')
        return ''.join(texts)


def _bounded_filter(name: str, func):
    @functools.wraps(func)
    def bounded(*args, **kwargs):
        _spend()
        # With pass_context/pass_eval_context the value is the second.
        first = 1 if getattr(func, 'jinja_pass_arg', None) else 0
        value, rest = (args[first], args[first + 1:]) if len(args) > first \
            else (None, ())
        if name == 'join' and value is not None:
            sep = rest[0] if rest else kwargs.get('d', '')
            items = list(_counted(value))
            if 'attribute' not in kwargs and len(rest) < 2:
                _check_call('join', str(sep), (items,), {})
            args = (*args[:first], items, *rest)
        elif name in ('replace', 'format') and isinstance(value, str):
            _check_call(name, value, rest, kwargs)
        elif name in _PADDING:
            _check_call(name, value, rest, kwargs)
        return check_value(func(*args, **kwargs))
    return bounded


def render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` within the bounds.

    :raises TemplateLimitError: it went over one.
    """
    token = _budget.set([MAX_STEPS])
    try:
        out, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(
                    f'the template writes more than {MAX_OUTPUT:,} '
                    f'characters')
            out.append(chunk)
        return ''.join(out)
    except RecursionError:
        raise TemplateLimitError('the template recurses too deep (a macro '
                                 'calling itself?)') from None
    except MemoryError:
        raise TemplateLimitError('the template needs more memory than '
                                 'there is') from None
    finally:
        _budget.reset(token)
