"""The shadow tree the dpkg-deb builder packages: the staged tree, only read.

``dpkg-deb -b`` packages a directory holding ``DEBIAN/``.  The staged tree
is never written to: its files may be hard links into giftwrap's caches,
whose content, mode and time must not change.  So the builder lays out a
*shadow tree* in its work directory: ``DEBIAN/``, the generated files, the
configuration outside the virtualenv, and the staged virtualenv itself,
either as an empty mount point (:meth:`Shadow.mount_point`: dpkg-deb runs
with the virtualenv mounted there, read-only) or hard-linked by ``cp -Rl``
(:meth:`Shadow.link_tree`; copied by ``cp -R`` where even that fails).

Nothing about a staged file's own inode reaches the package: the dpkg-deb
builder's tar (:func:`giftwrap.builders.dpkgdeb.fixed_time_tar`) dates every
entry ``SOURCE_DATE_EPOCH`` and stores a second name of an inode as a file
of its own (``--hard-dereference``), as nfpm does, never as a hard link.
Each regular file's md5 (for ``md5sums``; dpkg-deb writes none) is the one
computed ahead where the file is unchanged since, else hashed here on a pool
of threads, from the staged file, while dpkg-deb runs.
"""

from __future__ import annotations

import errno
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

from giftwrap.api import BuildError, Runner
from giftwrap.util.hashing import md5_file

# Files hashed per task: one task per file costs more than hashing a small
# file.
_BATCH = 128


class Shadow:
    """The directory dpkg-deb packages, as it is being laid out.

    First :meth:`mount_point` or :meth:`link_tree` the staged virtualenv
    and :meth:`place` what else dpkg-deb needs, then :meth:`finish`; then
    :meth:`place` every entry of the package: an entry of the mounted or
    linked tree, or one placed already, is only hashed (:meth:`md5sums`).
    Paths are strings: a virtualenv has tens of thousands of entries.

    :param threads: how many threads hash.
    :param known: the md5 and size of a staged file if it was hashed ahead
        and is unchanged since (:meth:`giftwrap.api.StagedTree.md5`), else
        None.
    :ivar copied: how many staged files were copied rather than linked
        (every file of the tree, if linking the tree failed).
    :ivar hashed: how many files were hashed here (not known).
    """

    def __init__(self, root: Path, threads: int,
                 known: Callable[[str], tuple[str, int] | None] | None = None
                 ):
        self.root = str(root)
        self.copied = 0
        self.hashed = 0
        self._known = known
        self._hashes: list[Future] = []
        self._batch: list[tuple[str, str]] = []
        self._dirs: dict[str, int] = {self.root: 0o755}
        # (staged directory, its place in the shadow tree) of linked trees
        self._trees: list[tuple[str, str]] = []
        # files and links placed here (an entry may be offered twice)
        self._placed: set[str] = set()
        self._sealed = False
        self._pool = ThreadPoolExecutor(threads)

    def __enter__(self) -> 'Shadow':
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def link_tree(self, src: str, dst: str, runner: Runner, cp: str
                  ) -> None:
        """Hard-link the staged directory ``src`` (its modes kept) to the
        installed path ``dst``; copy it where it cannot be linked.

        :param runner: runs ``cp`` (the program ``cp``).
        :raises giftwrap.errors.CommandError: it can be neither linked nor
            copied.
        """
        path = self.root + dst
        self.directory(os.path.dirname(path))
        argv = [cp, '-R', '-P', '--preserve=mode']
        linked = runner.run([*argv, '-l', '--', src, path], check=False,
                            what='cp -l (the shadow tree)')
        if linked.returncode != 0:
            remove(Path(path))
            runner.run([*argv, '--', src, path],
                       what='cp (the shadow tree, as links failed)')
            self.copied = -1
        self._trees.append((src.rstrip('/'), path))

    def mount_point(self, src: str, dst: str) -> None:
        """An empty directory at the installed path ``dst``, where the
        staged directory ``src`` will be mounted for dpkg-deb: its entries
        are only hashed here."""
        path = self.root + dst
        self.directory(path)
        self._trees.append((src.rstrip('/'), path))

    def place(self, entry: Mapping[str, Any]) -> None:
        """Add one nfpm ``contents`` entry below :attr:`root`."""
        dst = entry['dst']
        if '\n' in dst:
            raise BuildError(f'{dst!r} has a line break in its name',
                             where=entry.get('src'),
                             hint='dpkg cannot list it; rename the file')
        path = self.root + dst
        kind = entry.get('type')
        if self._linked(entry, path):
            if kind not in ('dir', 'symlink'):
                self._add_hash(dst, entry['src'])
            return
        mode = entry['file_info']['mode']
        if kind != 'dir' and dst in self._placed:
            return
        if self._sealed:
            raise BuildError(f'{dst} was not in the shadow tree when '
                             f'dpkg-deb started packing it',
                             where=entry.get('src'),
                             hint='this is a bug in giftwrap: report it')
        self.directory(os.path.dirname(path))
        if kind == 'dir':
            self.directory(path, mode)
            return
        self._placed.add(dst)
        if kind == 'symlink':
            os.symlink(entry['src'], path)
        else:
            self._file(entry['src'], path, mode)
            self._add_hash(dst, entry['src'])  # the same bytes

    def _linked(self, entry: Mapping[str, Any], path: str) -> bool:
        """Whether ``entry`` comes from a linked or mounted tree (its
        path in the staged tree, or an entry there of its kind)."""
        for src, top in self._trees:
            if path != top and not path.startswith(top + '/'):
                continue
            # directories and links there come only from the staged tree
            return entry.get('type') in ('dir', 'symlink') or \
                entry.get('src') == src + path[len(top):]
        return False

    def directory(self, path: str, mode: int | None = None) -> None:
        """Make ``path`` and its missing parents (0755); ``mode`` is set
        at the end (:meth:`finish`), so a read-only directory still gets
        its entries.  A linked tree's directories keep their modes."""
        if path not in self._dirs:
            if not os.path.isdir(path):
                self.directory(os.path.dirname(path))
                os.mkdir(path, 0o700)
                self._dirs[path] = 0o755
        if mode is not None and path != self.root:
            self._dirs[path] = mode

    def _file(self, src: str, path: str, mode: int) -> None:
        try:
            os.link(src, path)
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
        # A new file: the staged one (perhaps the cache's) is only read.
        shutil.copyfile(src, path)
        os.chmod(path, mode)
        self.copied += 1

    def _add_hash(self, dst: str, path: str) -> None:
        self._batch.append((dst, path))
        if len(self._batch) == _BATCH:
            self._hash()

    def _hash(self) -> None:
        self._hashes.append(self._pool.submit(_digests, self._batch,
                                              self._known))
        self._batch = []

    def md5sums(self) -> tuple[str, int]:
        """``DEBIAN/md5sums`` and the regular files' total size in bytes,
        once every file is hashed."""
        self._hash()
        done = []
        for future in self._hashes:
            digests, hashed = future.result()
            done += digests
            self.hashed += hashed
        done.sort()
        return (''.join(f'{md5}  {dst[1:]}\n' for dst, md5, _ in done),
                sum(size for _, _, size in done))

    def finish(self) -> None:
        """Give the directories made here their modes, children first;
        from now on entries are only hashed (dpkg-deb packs the tree)."""
        self._sealed = True
        for path in sorted(self._dirs, key=lambda p: p.count('/'),
                           reverse=True):
            os.chmod(path, self._dirs[path])


def _digests(files: list[tuple[str, str]],
             known: Callable[[str], tuple[str, int] | None] | None
             ) -> tuple[list[tuple[str, str, int]], int]:
    """(installed path, md5, size) of each (installed path, file), and how
    many were hashed here rather than ``known``."""
    done, hashed = [], 0
    for dst, path in files:
        found = known(path) if known is not None else None
        if found is not None:
            done.append((dst, *found))
            continue
        done.append((dst, md5_file(path), os.stat(path).st_size))
        hashed += 1
    return done, hashed


def remove(root: Path) -> None:
    """Remove a shadow tree, read-only directories too (unlinking a hard
    link leaves the staged file as it is)."""
    if root.is_symlink() or not root.exists():
        root.unlink(missing_ok=True)
        return
    root.chmod(0o700)
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:  # before os.walk lists them
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    shutil.rmtree(root)
