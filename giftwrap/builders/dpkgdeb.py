"""dpkg-deb: the nfpm-deb package, written by Debian's own dpkg-deb.

nfpm compresses on one core; ``dpkg-deb -b`` runs tar and a multi-threaded
zstd (or xz), several times faster on a large virtualenv.  The package has
what nfpm-deb's has: the same entries (:func:`giftwrap.builders.nfpm.contents`
lists and checks them), modes, root:root, links, conffiles, maintainer
scripts, generated and Debian documentation files, and a control file with
nfpm's fields in nfpm's order.

``dpkg-deb -b`` packages a directory holding ``DEBIAN/``.  The staged tree
is never written to: its files may be hard links into giftwrap's caches,
whose content, mode and time must not change.  So the builder lays out a
*shadow tree* in its work directory: a hard link to each staged file
(new directory entries, the same inode: nothing is copied or changed), the
generated files, and ``DEBIAN/``.  A file is copied instead of linked where
linking would change the package:

* its time is older than the build's ``SOURCE_DATE_EPOCH``: dpkg-deb only
  *clamps* times to it (nfpm sets every entry to it), so an old file, say
  byte-code from the cache, would keep its own time and the package would
  depend on the cache's age.  The copy is dated ``SOURCE_DATE_EPOCH``;
* its inode is already in the package under another name: tar would store
  a hard link, which nfpm never does;
* the link fails (another filesystem, or ``protected_hardlinks``).

giftwrap writes ``DEBIAN/md5sums`` (dpkg-deb writes none) and the
``Installed-Size`` (as nfpm counts it: the regular files' bytes / 1024).

Rebuilds are byte-identical: dpkg-deb sorts the entries, dates everything
with ``SOURCE_DATE_EPOCH`` (given explicitly, as the only variable besides
``PATH``: no ``TAR_OPTIONS``, ``DPKG_DEB_*`` or locale reaches it), and the
zstd thread *mode* is fixed: ``--threads-max`` is always 2 or more, so zstd
runs multi-threaded, whose output is the same whatever the number of
workers (one worker, ``--threads-max=1``, is zstd's single-threaded mode,
which writes other bytes).  control.tar stays gzip
(``--no-uniform-compression``), as nfpm writes it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping

from giftwrap.api import (Artifact, Builder, BuildError, DriverError,
                          ManifestError, Option, StagedTree, Tool)
from giftwrap.builders import nfpm, scripts
from giftwrap.builders.fpm import build_time
from giftwrap.package import DEFAULT_MAINTAINER, Target

LOG = logging.getLogger(__name__)

#: dpkg-deb's ``-z`` range per compression (``none`` takes no level).
LEVELS = {'zstd': range(1, 23), 'xz': range(0, 10), 'gzip': range(1, 10)}
#: zstd runs single-threaded below this many threads: other bytes.
MIN_THREADS = 2
# Files hashed per task: one task per file costs more than small files'
# hashing.
_BATCH = 128
# The manifest key of each control field, for error locations.
_MANIFEST_KEY = {'name': 'package_name', 'depends': 'system_dependencies'}
_ONE_LINE = ('name', 'maintainer', 'homepage', 'summary', 'depends',
             'conflicts', 'provides', 'replaces')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_CONTROL_MULTILINE = re.compile(r'[\x00-\x09\x0b-\x1f\x7f]')


class Shadow:
    """The directory dpkg-deb packages, as it is being laid out.

    Each regular file is hashed (md5sums) by a pool of threads while the
    next ones are linked: hashlib and the system calls release the GIL.
    Paths are strings: a virtualenv has tens of thousands of entries.

    :param threads: how many threads hash.
    :ivar copied: how many staged files were copied rather than linked.
    """

    def __init__(self, root: Path, epoch: int, threads: int):
        self.root = str(root)
        self.epoch = epoch
        self.copied = 0
        self._hashes: list[Future] = []
        self._batch: list[tuple[str, str]] = []
        self._inodes: set[tuple[int, int]] = set()
        self._dirs: dict[str, int] = {self.root: 0o755}
        self._pool = ThreadPoolExecutor(threads)

    def __enter__(self) -> 'Shadow':
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def place(self, entry: Mapping[str, Any]) -> None:
        """Add one nfpm ``contents`` entry below :attr:`root`."""
        dst = entry['dst']
        if '\n' in dst:
            raise BuildError(f'{dst!r} has a line break in its name',
                             where=entry.get('src'),
                             hint='dpkg cannot list it; rename the file')
        path = self.root + dst
        self.directory(os.path.dirname(path))
        mode = entry['file_info']['mode']
        kind = entry.get('type')
        if kind == 'dir':
            self.directory(path, mode)
        elif kind == 'symlink':
            os.symlink(entry['src'], path)
            os.utime(path, (self.epoch, self.epoch), follow_symlinks=False)
        else:
            self._file(entry['src'], path, mode)
            self._batch.append((dst, path))
            if len(self._batch) == _BATCH:
                self._hash()

    def directory(self, path: str, mode: int | None = None) -> None:
        """Make ``path`` and its missing parents (0755); ``mode`` is set
        at the end (:meth:`finish`), so a read-only directory still gets
        its entries."""
        if path not in self._dirs:
            self.directory(os.path.dirname(path))
            os.mkdir(path, 0o700)
            self._dirs[path] = 0o755
        if mode is not None and path != self.root:
            self._dirs[path] = mode

    def _file(self, src: str, path: str, mode: int) -> None:
        st = os.stat(src)
        inode = (st.st_dev, st.st_ino)
        if st.st_mtime_ns >= self.epoch * 10 ** 9 and \
                inode not in self._inodes:
            try:
                os.link(src, path)
                self._inodes.add(inode)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
        # A new file: the staged one (perhaps the cache's) is only read.
        shutil.copyfile(src, path)
        os.chmod(path, mode)
        os.utime(path, (self.epoch, self.epoch))
        self.copied += 1

    def _hash(self) -> None:
        self._hashes.append(self._pool.submit(_digests, self._batch))
        self._batch = []

    def md5sums(self) -> tuple[str, int]:
        """``DEBIAN/md5sums`` and the regular files' total size (bytes)."""
        self._hash()
        done = sorted(d for future in self._hashes for d in future.result())
        text = ''.join(f'{md5}  {dst[1:]}\n' for dst, md5, _ in done)
        return text, sum(size for _, _, size in done)

    def finish(self) -> None:
        """Give the directories made here their modes and the build's
        time, children first (adding an entry dates its directory)."""
        for path in sorted(self._dirs, key=lambda p: p.count('/'),
                           reverse=True):
            os.chmod(path, self._dirs[path])
            os.utime(path, (self.epoch, self.epoch))


def _digests(files: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """(installed path, md5, size) of each (installed path, file)."""
    done = []
    for dst, path in files:
        with open(path, 'rb') as handle:
            md5 = hashlib.file_digest(handle, 'md5').hexdigest()
            done.append((dst, md5, handle.tell()))
    return done


def control(target: Target, installed_size: int) -> str:
    """The control file, with nfpm-deb's fields in nfpm-deb's order."""
    fields = (
        ('Package', target.name), ('Version', target.version.deb),
        ('Section', 'misc'), ('Priority', 'optional'),
        ('Architecture', target.arch),
        ('Maintainer', target.maintainer or DEFAULT_MAINTAINER),
        ('Installed-Size', str(installed_size // 1024)),
        ('Replaces', ', '.join(target.replaces)),
        ('Provides', ', '.join(target.provides)),
        ('Depends', ', '.join(target.depends)),
        ('Conflicts', ', '.join(target.conflicts)),
        ('Homepage', target.homepage))
    lines = [f'{name}: {value}' for name, value in fields if value]
    first, *rest = target.full_description.split('\n')
    # deb-control(5): continuation lines start with a space; " ." is an
    # empty line.
    lines.append(f'Description: {first}')
    lines += [f' {line}' if line.strip() else ' .' for line in rest]
    return '\n'.join(lines) + '\n'


def control_problem(values, fields: Iterable[str]
                    ) -> tuple[str, str] | None:
    """(field, value) of the first control character that would start a
    new control field (``description`` may have line breaks)."""
    for field in fields:
        value = getattr(values, field, '')
        for item in value if isinstance(value, tuple) else (value,):
            if _CONTROL.search(item or ''):
                return field, item
    if _CONTROL_MULTILINE.search(getattr(values, 'description', '') or ''):
        return 'description', values.description
    return None


def environment(epoch: int, tmp: Path) -> dict[str, str]:
    """dpkg-deb's whole environment: ``PATH`` (it runs tar), the time, and
    ``TMPDIR`` (it compresses into a temporary file first)."""
    return {'PATH': os.environ.get('PATH', os.defpath),
            'SOURCE_DATE_EPOCH': str(epoch), 'TMPDIR': str(tmp)}


def default_threads() -> int:
    """The CPUs this process may use, at least :data:`MIN_THREADS`."""
    return max(MIN_THREADS, len(os.sched_getaffinity(0)))


class DpkgDeb(Builder):
    """A Debian package (.deb) of the virtualenv, written by dpkg-deb (fast)."""

    package_format = 'deb'
    tools = (Tool('dpkg-deb', 'apt-get install dpkg  (dpkg 1.21.18 or '
                              'later: zstd and --threads-max)'),)
    options = {
        # zstd first, as nfpm-deb (see there); xz or gzip for old targets
        # and Debian 12's lintian.
        'compression': nfpm.compression_option(('zstd', 'xz', 'gzip',
                                                'none')),
        'compression_level': Option(
            int, None, help='zstd 1-22, xz 0-9, gzip 1-9; default: '
                            'dpkg-deb\'s (zstd 3, xz 6, gzip 9)'),
        'threads': Option(
            int, None, help=f'compression threads, at least {MIN_THREADS} '
            '(the package is the same whatever the number); default: the '
            'CPUs giftwrap may use'),
    }

    @classmethod
    def check_options(cls, options: Mapping[str, object]) -> None:
        compression = options.get('compression',
                                  cls.options['compression'].default)
        level = options.get('compression_level')
        levels = LEVELS.get(str(compression))
        if level is not None and levels is None:
            raise DriverError(
                f'compression {compression} takes no compression_level',
                hint='remove compression_level')
        if level is not None and level not in levels:
            raise DriverError(
                f'compression_level {level} is outside {compression}\'s '
                f'{levels.start}-{levels.stop - 1}',
                hint='the lowest is the fastest, the highest the smallest')
        threads = options.get('threads')
        if threads is not None and threads < MIN_THREADS:
            raise DriverError(
                f'threads {threads} is below {MIN_THREADS}',
                hint='with one thread zstd runs single-threaded and writes '
                     'other bytes; set 2 or more, or remove threads')

    @classmethod
    def check_project(cls, project) -> None:
        problem = control_problem(project, _ONE_LINE[1:4])
        if problem:
            field, value = problem
            raise _control_error(field, value, project.package_name,
                                 project.where_key(field), manifest=True)

    def threads(self) -> int:
        return self.option('threads') or default_threads()

    def argv(self, root: Path, output: Path) -> list[str]:
        """The dpkg-deb command packaging the shadow tree ``root``."""
        compression = self.option('compression')
        level = self.option('compression_level')
        return [self.tool('dpkg-deb'), '--root-owner-group',
                f'-Z{compression}', *([f'-z{level}'] if level is not None
                                      else []),
                f'--threads-max={self.threads()}',
                '--no-uniform-compression', '--build', '--',
                str(root), str(output)]

    def target(self) -> Target:
        """The package spelled for Debian, checked for control fields.

        :raises giftwrap.errors.BuildError: a control character in a value.
        """
        target = self.context.package.target('deb')
        problem = control_problem(target, _ONE_LINE)
        if problem:
            field, value = problem
            raise _control_error(
                field, value, target.name,
                self.context.project_info.where_key(
                    _MANIFEST_KEY.get(field, field)))
        return target

    def layout(self, target: Target, tree: StagedTree, root: Path,
               epoch: int) -> int:
        """The shadow tree ``root``: the staged tree linked, generated
        files and ``DEBIAN/`` written.

        :returns: how many staged files were copied, not linked.
        """
        work = self.context.work_dir.resolve()
        remove(root)  # a previous attempt's: only links and copies
        root.mkdir(parents=True)
        generated = scripts.write_files(target, work / 'files')
        entries = nfpm.contents(tree, self.context.package.config_files) + [
            {'src': str(generated[f.dst]), 'dst': str(f.dst),
             'file_info': {'mode': f.mode}} for f in target.files]
        with Shadow(root, epoch, self.threads()) as shadow:
            for entry in sorted(entries, key=lambda e: e['dst']):
                shadow.place(entry)
            sums, size = shadow.md5sums()
        config = sorted({str(p) for p in tree.config_files}
                        | {str(p) for p in target.config_files})
        texts = {'control': control(target, size), 'md5sums': sums}
        if config:
            texts['conffiles'] = ''.join(f'{p}\n' for p in config)
        self.debian(target, root / 'DEBIAN', texts, epoch)
        shadow.finish()
        return shadow.copied

    def debian(self, target: Target, debian: Path, texts: Mapping[str, str],
               epoch: int) -> None:
        """Write ``DEBIAN/``: the maintainer scripts and ``texts``."""
        scripts.write_scripts(target, debian)
        for name, text in texts.items():
            (debian / name).write_text(text, encoding='utf-8')
            (debian / name).chmod(0o644)
        for path in (*debian.iterdir(), debian):
            os.utime(path, (epoch, epoch))
        debian.chmod(0o755)  # dpkg-deb refuses a group-writable one

    def build(self, tree: StagedTree) -> Artifact:
        """Lay out the shadow tree, run dpkg-deb and publish the package.

        :raises giftwrap.errors.BuildError: bad metadata, a tree that
            cannot be packaged, or dpkg-deb failed.
        """
        work = self.context.work_dir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        target = self.target()
        epoch = build_time(self.context)
        root = work / 'root'
        copied = self.layout(target, tree, root, epoch)
        LOG.debug('%s: %d staged files copied, not linked', target.name,
                  copied)
        built = work / 'dpkg-deb-output.deb'
        built.unlink(missing_ok=True)
        (work / 'tmp').mkdir(exist_ok=True)
        self.context.runner.run(self.argv(root, built), cwd=work,
                                env=environment(epoch, work / 'tmp'),
                                what='dpkg-deb')
        if not built.is_file():
            raise BuildError(f'dpkg-deb wrote no package at {built}',
                             hint='see the dpkg-deb output in the log')
        self.before_publish(built)
        path = self.publish(built, target.filename)
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)


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


def _control_error(field: str, value: str, name: str, where: str | None,
                   manifest: bool = False) -> Exception:
    error = ManifestError if manifest else BuildError
    return error(f'the {field} of package {name} contains a control '
                 f'character: {value!r}', where=where,
                 hint='use printable text (line breaks only in the '
                      'description): a line break would start a new field '
                      'of the control file')
