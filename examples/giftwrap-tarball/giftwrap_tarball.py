"""A third-party giftwrap builder: the install tree as a .tar.gz.

OpenStack-Ansible ships its virtualenvs this way: a tarball whose members
are relative to ``/``, so ``tar -xzf nova-10.0-1.tar.gz -C /`` installs
the virtualenv at its install path.  The tarball is reproducible: members
are sorted, owned by root (0:0) and dated ``SOURCE_DATE_EPOCH`` (or 0),
and the gzip header carries no file name and the same date.
"""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
from pathlib import Path, PurePosixPath
from giftwrap import errors
from giftwrap.builders.base import Artifact, Builder, StagedTree
from giftwrap.drivers import Option

LOG = logging.getLogger(__name__)


class TarballBuilder(Builder):
    """A .tar.gz of the virtualenv, to unpack at / (as OpenStack-Ansible)."""

    options = {'compresslevel': Option(int, default=9, choices=tuple(
        range(1, 10)), help='the gzip compression level, 1 (fast) to 9')}
    # Python's tarfile and gzip do the work: no external tools.
    tools = ()

    def build(self, tree: StagedTree) -> Artifact:
        """Write ``<package_name>-<version>.tar.gz`` and publish it.

        :raises giftwrap.errors.BuildError: a file cannot be archived, or
            the artifact exists already.
        """
        package = self.context.package
        filename = f'{package.name}-{package.version}.tar.gz'
        work = self.context.work_dir
        work.mkdir(parents=True, exist_ok=True)
        built = work / filename
        level = self.context.options.get(
            'compresslevel', self.options['compresslevel'].default)
        write_tarball(tree, built, mtime=source_date_epoch(),
                      compresslevel=level)
        path = self.publish(built, filename)
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)


def source_date_epoch() -> int:
    """The date of every member: ``SOURCE_DATE_EPOCH``, else 0.

    :raises giftwrap.errors.BuildError: it is set but not a number.
    """
    value = os.environ.get('SOURCE_DATE_EPOCH', '0')
    try:
        return int(value)
    except ValueError:
        raise errors.BuildError(
            f'SOURCE_DATE_EPOCH is not a number of seconds: {value!r}',
            where='the environment', hint='unset it or set it to an integer')


def members(tree: StagedTree) -> list[Path]:
    """The virtualenv and everything in it, sorted, then outside config files.

    Sorted by path components, so a directory comes just before its
    contents.  Parents of the install path (``/opt``...) are left out so
    unpacking does not change their owner, mode or date.
    """
    def fail(exc: OSError) -> None:
        raise errors.BuildError(f'cannot read the staged tree: {exc}')

    found = [tree.venv]
    for dirpath, dirnames, filenames in os.walk(tree.venv, onerror=fail):
        found.extend(Path(dirpath) / name for name in dirnames + filenames)
    found.sort(key=lambda p: p.relative_to(tree.venv).parts)
    for config in sorted(tree.config_files):
        if tree.install_path not in config.parents:
            found.append(tree.root / config.relative_to('/'))
    return found


def write_tarball(tree: StagedTree, target: Path, *, mtime: int,
                  compresslevel: int = 9) -> None:
    """Archive ``tree`` into ``target`` with members relative to ``/``.

    :raises giftwrap.errors.BuildError: a socket, fifo or device file.
    """
    with open(target, 'wb') as raw, \
            gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=mtime,
                          compresslevel=compresslevel) as gz, \
            tarfile.open(fileobj=gz, mode='w',
                         format=tarfile.PAX_FORMAT) as tar:
        for path in members(tree):
            _add(tar, tree, path, mtime)


def _add(tar: tarfile.TarFile, tree: StagedTree, path: Path,
         mtime: int) -> None:
    arcname = PurePosixPath(path.relative_to(tree.root).as_posix())
    info = tar.gettarinfo(str(path), arcname=str(arcname))
    if info is None or not (info.isreg() or info.isdir() or info.issym()
                            or info.islnk()):
        raise errors.BuildError(
            f'/{arcname} is a socket, fifo or device and cannot be archived',
            where=str(path), hint='remove it from the virtualenv')
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    info.mtime = mtime
    if info.isreg():
        with open(path, 'rb') as data:
            tar.addfile(info, data)
    else:
        tar.addfile(info)
