"""The tree shows the data flow: imports point only downward, drivers use the API.

ARCHITECTURE.rst draws the layers; this test keeps the code to the drawing.
Only imports that run when a module loads count: an import inside a
function or under ``TYPE_CHECKING`` cannot form an import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'giftwrap'

#: Top to bottom: a module may import its own layer or any layer below.
LAYERS = (
    ('cli',),
    ('run', 'executors'),
    ('plan',),
    ('builders', 'resolvers'),
    ('trust',),
    ('package',),
    ('venv',),
    ('resolve',),
    ('fetch',),
    ('manifest',),
    ('plugins', 'projectinfo'),
    ('util', 'errors'),
)
#: Facades over every layer, for drivers and their tests; nothing inside
#: giftwrap's stages may import them.  Shims keep old paths for a release.
FACADES = {'api', 'testing', '__init__', '__main__'}
SHIMS = {'giftwrap.builders.base', 'giftwrap.sources', 'giftwrap.sources.base',
         'giftwrap.drivers', 'giftwrap.util.deprecation'}
#: Built-in drivers: they import giftwrap.api like third-party ones, plus
#: the helpers of the stages below them (maintainer scripts, signing).
DRIVERS = ('builders', 'resolvers', 'executors')
#: What drivers never import: the layers that drive them.
ABOVE_DRIVERS = {'cli', 'run', 'plan'}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(ROOT).with_suffix('').parts
        name = '.'.join(parts).removesuffix('.__init__')
        found[name] = path
    return found


def _imports(path: Path, known) -> set[str]:
    """The giftwrap modules ``path`` imports when it loads."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith('giftwrap'):
                continue
            for alias in node.names:
                sub = f'{node.module}.{alias.name}'
                found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith('giftwrap.'))
    return {name for name in found if name in known}


def _layer(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def _rank(layer: str) -> int | None:
    for rank, names in enumerate(LAYERS):
        if layer in names:
            return rank
    return None


MODULES = _modules()
GRAPH = {name: _imports(path, MODULES) for name, path in MODULES.items()
         if name not in SHIMS}


def test_every_subpackage_has_a_layer():
    layers = {_layer(name) for name in GRAPH} - FACADES - {''}
    assert sorted(layer for layer in layers if _rank(layer) is None) == []


@pytest.mark.parametrize('module', sorted(GRAPH))
def test_imports_point_down(module):
    if _layer(module) in FACADES or module == 'giftwrap':
        return
    rank = _rank(_layer(module))
    allowed = {'giftwrap'} | ({'giftwrap.api'} if _layer(module) in DRIVERS else set())
    upward = [target for target in sorted(GRAPH[module] - allowed)
              if _layer(target) in FACADES
              or (_rank(_layer(target)) or 0) < rank]
    assert upward == [], f'{module} imports a layer above it'


@pytest.mark.parametrize('module', sorted(
    name for name in GRAPH if _layer(name) in DRIVERS))
def test_drivers_never_import_what_drives_them(module):
    wrong = [t for t in GRAPH[module] if _layer(t) in ABOVE_DRIVERS - {'run'}
             or (_layer(t) == 'run' and _layer(module) != 'executors')]
    assert wrong == []


def test_third_party_example_imports_only_the_api():
    example = ROOT / 'examples' / 'giftwrap-tarball'
    for path in example.rglob('*.py'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('giftwrap'):
                assert node.module == 'giftwrap.api', path


def test_no_import_cycles():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name):
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail('import cycle: ' + ' -> '.join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
