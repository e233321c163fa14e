"""A third-party giftwrap builder: the install tree as a .tar.gz.

OpenStack-Ansible ships its virtualenvs this way: a tarball whose members
are relative to ``/``, so ``tar -xzf nova-10.0-1.tar.gz -C /`` installs
the virtualenv at its install path.  The tarball is reproducible: members
are sorted, owned by root (0:0) and dated the build's time
(``context.source_date_epoch``: the operator's ``SOURCE_DATE_EPOCH``, else
the commit's), and the gzip header carries no file name and the same date.

It imports only :mod:`giftwrap.api`, the driver API giftwrap keeps stable.
"""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
from pathlib import Path, PurePosixPath

from giftwrap.api import Artifact, Builder, BuildError, Option, StagedTree

LOG = logging.getLogger(__name__)


class TarballBuilder(Builder):
    """A .tar.gz of the virtualenv, to unpack at / (as OpenStack-Ansible)."""

    options = {'compresslevel': Option(int, default=9, choices=tuple(
        range(1, 10)), help='the gzip compression level, 1 (fast) to 9')}
    # Python's tarfile and gzip do the work: no external tools.
    tools = ()
    #: written against giftwrap's driver API 1.0
    api_version = (1, 0)

    def build(self, tree: StagedTree) -> Artifact:
        """Write ``<package_name>-<version>.tar.gz`` and publish it.

        :raises giftwrap.api.BuildError: a file cannot be archived, or
            the artifact exists already.
        """
        package = self.context.package
        filename = f'{package.name}-{package.version}.tar.gz'
        work = self.context.work_dir
        work.mkdir(parents=True, exist_ok=True)
        built = work / filename
        write_tarball(tree, built, mtime=self.mtime(),
                      compresslevel=self.context.options['compresslevel'])
        path = self.publish(built, filename)
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)

    def mtime(self) -> int:
        """The date of every member: the build's time.

        giftwrap always sets ``context.source_date_epoch`` in a build; a
        context made without one (a test's) dates members 0.

        :raises giftwrap.api.BuildError: it is not a whole number of
            seconds from 1970 to 2106 (what gzip's header can hold).
        """
        value = self.context.source_date_epoch
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value < 2 ** 32:
            raise BuildError(f'cannot date the tarball {value!r}',
                             where='source_date_epoch',
                             hint='SOURCE_DATE_EPOCH must be seconds since '
                                  '1970, at most 4294967295')
        return value


def members(tree: StagedTree) -> list[Path]:
    """The virtualenv and everything in it, sorted, then outside config files.

    Sorted by path components, so a directory comes just before its
    contents.  Parents of the install path (``/opt``...) are left out so
    unpacking does not change their owner, mode or date.
    """
    def fail(exc: OSError) -> None:
        raise BuildError(f'cannot read the staged tree: {exc}')

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

    :raises giftwrap.api.BuildError: a socket, fifo or device file.
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
        raise BuildError(
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
