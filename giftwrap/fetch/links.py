"""What stays inside a checkout: paths and symlinks from a repository.

A build copies files out of the checkout, and copies follow links: a link
to ``/etc/shadow`` (or an ``etc -> /etc``) would carry the build machine's
files into the package.  A path a repository names (a ``tox.ini``
constraints file, an ``-r`` include) would read them.  "Inside" means the
work tree, links followed, and not its ``.git`` (whose config giftwrap
writes and ``git`` obeys).

:func:`check` runs after the checkout, before and after each patch, and on
what giftwrap copies itself (``include_config``'s ``etc/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from giftwrap import errors

#: How many offending links a message names.
_SHOWN = 5


def inside(root: Path, path: Path | str) -> bool:
    """Whether ``path``, links followed, is in the work tree ``root``.

    :param path: absolute, or relative to the current directory (not to
        ``root``: join it first).
    """
    top = Path(os.path.realpath(root))
    target = Path(os.path.realpath(path))
    if target == top:
        return True
    if not target.is_relative_to(top):
        return False
    return target.relative_to(top).parts[0] != '.git'


def escaping(tree: Path, root: Path | None = None) -> list[str]:
    """The links under ``tree`` (``tree`` too) leading out of ``root``.

    :param root: the checkout (default: ``tree`` itself).
    :returns: ``path -> target`` for each, paths relative to ``root``.
    """
    tree, root = Path(tree), Path(root if root is not None else tree)
    bad = []
    if tree.is_symlink() and not inside(root, tree):
        bad.append(_shown(tree, root))
    for dirpath, dirnames, filenames in os.walk(tree):
        if Path(dirpath) == root and '.git' in dirnames:
            dirnames.remove('.git')
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not inside(root, path):
                bad.append(_shown(path, root))
    return sorted(bad)


def check(tree: Path, where: str, *, root: Path | None = None,
          when: str = '') -> None:
    """Refuse links under ``tree`` that lead out of the checkout ``root``.

    :param where: the repository or manifest key, for the message.
    :param when: what brought them, e.g. ``after the patch fix.patch``.
    :raises giftwrap.errors.SourceError: naming the first such links and
        where they point.
    """
    bad = escaping(tree, root)
    if not bad:
        return
    shown = ', '.join(bad[:_SHOWN]) + (' ...' if len(bad) > _SHOWN else '')
    raise errors.SourceError(
        'the checkout has symlinks that point outside it'
        + (f' {when}' if when else '') + f': {shown}', where=where,
        hint='giftwrap never follows links out of a checkout (into a package '
             'or through a patch); replace them with files, or patch them '
             'away')


def _shown(path: Path, root: Path) -> str:
    try:
        name = path.relative_to(root)
    except ValueError:
        name = path
    return f'{name} -> {os.readlink(path)}'
