"""The floor of a changed-commit build: the least any tool must do.

A fresh virtualenv (``uv venv``), the exact versions giftwrap installed
(read from its ``giftwrap.lock``) and the project's checkout installed into
it by uv from a warm cache with hard links, and ``dpkg-deb -Zzstd`` of that
tree with a minimal ``DEBIAN/control``: no byte-code, no relocation, no
checks, no SBOM.  giftwrap's changed-commit time is compared with it.

giftwrap's packaging stage is compared with ``dpkg-deb`` on *the same
tree*: giftwrap's holds byte-code, which doubles its size.  So, after the
floor is measured, its tree gets checked-hash byte-code as giftwrap
compiles it (not measured) and ``dpkg-deb`` runs again on it
(:meth:`Floor.same_tree`, the part :data:`report.DPKG_DEB_SAME_TREE`).
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import time
from pathlib import Path

from giftwrap import errors
from giftwrap.util.process import Runner, base_environment

import trash
from report import DPKG_DEB, DPKG_DEB_SAME_TREE

#: the interpreter of the floor's virtualenv (Debian's, as giftwrap's)
PYTHON = '/usr/bin/python3'


@dataclasses.dataclass(frozen=True)
class Closure:
    """Exact versions: the runtime closure and the build tools."""

    pins: dict[str, str]
    build_tools: dict[str, str]


def closure_from_lock(lock: Path, project: str) -> Closure:
    """The versions giftwrap installed for ``project``, from its lock."""
    try:
        entry = json.loads(lock.read_text())['projects'][project]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f'the floor needs giftwrap\'s lock of {project} '
                         f'({lock}): {exc}') from exc
    return Closure(
        {pin.get('name', name): pin['version']
         for name, pin in entry.get('pins', {}).items() if 'version' in pin},
        dict(entry.get('build_tools', {})))


def constraints_text(versions: dict[str, str]) -> str:
    """``versions`` as a constraints file, one ``name==version`` a line."""
    return ''.join(f'{name}=={version}\n'
                   for name, version in sorted(versions.items()))


def tree_bytes(tree: Path) -> int:
    """The bytes of the regular files under ``tree`` (hard links once)."""
    seen, total = set(), 0
    for path in tree.rglob('*'):
        stat = path.lstat()
        if path.is_file() and not path.is_symlink() and \
                (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_size
    return total


def control_text(package: str, version: str) -> str:
    """The least ``DEBIAN/control`` dpkg-deb accepts."""
    return textwrap.dedent(f'''\
        Package: {package}
        Version: {version}
        Architecture: amd64
        Maintainer: giftwrap benchmark <bench@example.com>
        Description: the floor of a changed-commit build
        ''')


@dataclasses.dataclass(frozen=True)
class Floor:
    """One floor build of ``checkout`` under ``base``, uv's cache ``cache``
    (warm), installed at ``install_path`` (``/opt/bench/keystone``)."""

    uv: str
    base: Path
    cache: Path
    install_path: str
    package: str
    version: str

    def build(self, checkout: Path, closure: Closure, runner: Runner,
              parts: dict[str, float]) -> Path:
        """Build the .deb (the tree and the .deb fresh); ``parts`` gets
        dpkg-deb's wall seconds."""
        tree, deb = self.base / 'tree', self.base / 'floor.deb'
        trash.discard(tree)
        trash.discard(deb)
        venv = tree / self.install_path.lstrip('/')
        pins, tools = self.base / 'closure.txt', self.base / 'build.txt'
        pins.write_text(constraints_text(closure.pins))
        tools.write_text(constraints_text(closure.build_tools))
        env = base_environment(UV_CACHE_DIR=str(self.cache))
        runner.run([self.uv, 'venv', '--quiet', '--python', PYTHON, '--',
                    str(venv)], cwd=self.base, env=env, what='uv venv')
        self._install(venv, pins, tools, checkout, runner, env)
        (tree / 'DEBIAN').mkdir()
        (tree / 'DEBIAN' / 'control').write_text(
            control_text(self.package, self.version))
        started = time.monotonic()
        runner.run(['dpkg-deb', '-Zzstd', '--root-owner-group', '-b', '--',
                    str(tree), str(deb)], what='dpkg-deb')
        parts[DPKG_DEB] = time.monotonic() - started
        return deb

    def same_tree(self, runner: Runner, parts: dict[str, float]) -> None:
        """Compile the floor's tree as giftwrap does (not measured), then
        time ``dpkg-deb`` of it into ``parts``."""
        tree = self.base / 'tree'
        venv = tree / self.install_path.lstrip('/')
        runner.run([str(venv / 'bin' / 'python'), '-m', 'compileall', '-q',
                    '-j0', '--invalidation-mode', 'checked-hash', '--',
                    *map(str, venv.glob('lib/python*/site-packages'))],
                   what='compileall', check=False)
        deb = self.base / 'floor-byte-code.deb'
        trash.discard(deb)
        started = time.monotonic()
        runner.run(['dpkg-deb', '-Zzstd', '--root-owner-group', '-b', '--',
                    str(tree), str(deb)], what='dpkg-deb (with byte-code)')
        parts[DPKG_DEB_SAME_TREE] = time.monotonic() - started

    def _install(self, venv: Path, pins: Path, tools: Path, checkout: Path,
                 runner: Runner, env: dict[str, str]) -> None:
        """uv from its cache alone first (``--offline``, as giftwrap), then
        asking the index if something is not cached."""
        argv = [self.uv, 'pip', 'install', '--python',
                str(venv / 'bin' / 'python'), '--link-mode', 'hardlink',
                '-c', str(pins), '--build-constraint', str(tools)]
        try:
            runner.run([*argv, '--offline', '--', str(checkout)],
                       cwd=self.base, env=env, what='uv pip install')
        except errors.CommandError:
            runner.run([*argv, '--', str(checkout)], cwd=self.base, env=env,
                       what='uv pip install')
