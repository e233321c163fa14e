"""dpkg-deb: the nfpm-deb package, written by Debian's own dpkg-deb.

nfpm compresses on one core; ``dpkg-deb -b`` runs tar and a multi-threaded
zstd (or xz), twice as fast or more on a large virtualenv.  The package has
what nfpm-deb's has: the same entries (:func:`giftwrap.builders.nfpm.contents`
lists and checks them), modes, root:root, links, conffiles, maintainer
scripts, generated and Debian documentation files, and a control file with
nfpm's fields in nfpm's order.

dpkg-deb packages a *shadow tree*, never the staged tree itself
(:mod:`giftwrap.builders.shadow`): ``DEBIAN/``, the generated files, and the
staged virtualenv, either mounted read-only at its place (:func:`bind_run`:
``unshare --mount``, a mount namespace of dpkg-deb's own, so nothing is
linked, nothing stays mounted) or, where no mount namespace can be had,
hard-linked by ``cp -R -l``.  giftwrap writes ``DEBIAN/md5sums``
(dpkg-deb writes none) and the ``Installed-Size`` (as nfpm counts it: the
regular files' bytes / 1024).  Hashing every file costs about half as much
as compressing it, so the builder asks for the staged files' md5 ahead
(``wants_md5``): giftwrap computes them while the system dependencies are
found (:mod:`giftwrap.venv.digests`), and the builder hashes only what was
not hashed then or changed since.

dpkg-deb starts on the tree (with an empty ``md5sums``) as soon as the
shadow tree is laid out; meanwhile, at a lower CPU priority, the tree is
listed and checked and the md5sums gathered, then ``DEBIAN/`` alone is
packed beside it with them, and the package is the first run's with the
second's control member (:mod:`giftwrap.builders.debar`): the bytes a single
``dpkg-deb -b`` of the complete tree writes.

Rebuilds are byte-identical: dpkg-deb sorts the entries, dates everything
with ``SOURCE_DATE_EPOCH`` (given explicitly, with ``PATH`` and ``TMPDIR``
its whole environment: no ``TAR_OPTIONS``, ``DPKG_DEB_*`` or locale
reaches it), and the zstd thread *mode* is fixed: ``--threads-max`` is
always 2 or more, so zstd runs multi-threaded, whose output is the same
whatever the number of workers (``--threads-max=1`` is zstd's
single-threaded mode, which writes other bytes).  control.tar stays gzip
(``--no-uniform-compression``), as nfpm writes it.

Every entry is dated ``SOURCE_DATE_EPOCH`` exactly, as nfpm dates them.
dpkg-deb only *clamps* times to it (``tar --clamp-mtime``), so an older
file (from uv's cache or the byte-code cache, hard-linked into the staged
tree) would keep its own time, and the package would depend on the caches'
age.  Rather than copy every such file to re-date it, dpkg-deb runs the
system's tar through a small wrapper (:func:`fixed_time_tar`) that replaces
``--clamp-mtime`` by ``--hard-dereference``: tar's ``--mtime`` then sets
every entry, and a second name of an inode is a file of its own.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping

from giftwrap.api import (Artifact, BuildError, Builder, DriverError,
                          ManifestError, Option, StagedTree, Target, Tool)
from giftwrap.builders import debar, nfpm
from giftwrap.package import scripts
from giftwrap.builders.fpm import build_time
from giftwrap.builders.shadow import Shadow, remove
from giftwrap.package.description import DEFAULT_MAINTAINER
from giftwrap.util.process import find_tool

LOG = logging.getLogger(__name__)

#: dpkg-deb's ``-z`` range per compression (``none`` takes no level).
LEVELS = {'zstd': range(1, 23), 'xz': range(0, 10), 'gzip': range(1, 10)}
#: zstd runs single-threaded below this many threads: other bytes.
MIN_THREADS = 2
# The manifest key of each control field, for error locations.
_MANIFEST_KEY = {'name': 'package_name', 'depends': 'system_dependencies'}
_ONE_LINE = ('name', 'maintainer', 'homepage', 'summary', 'depends',
             'conflicts', 'provides', 'replaces')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_CONTROL_MULTILINE = re.compile(r'[\x00-\x09\x0b-\x1f\x7f]')


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


def environment(epoch: int, tmp: Path, tar_dir: Path | None = None
                ) -> dict[str, str]:
    """dpkg-deb's whole environment: ``PATH`` (it runs tar: ``tar_dir``'s
    first), the time, and ``TMPDIR`` (it compresses into a temporary file
    first)."""
    path = os.environ.get('PATH', os.defpath)
    if tar_dir is not None:
        path = f'{tar_dir}{os.pathsep}{path}'
    return {'PATH': path, 'SOURCE_DATE_EPOCH': str(epoch), 'TMPDIR': str(tmp)}


#: The wrapper's text: the arguments to the real tar, ``--clamp-mtime``
#: replaced by ``--hard-dereference``.
_TAR_WRAPPER = """#!/bin/sh
# Written by giftwrap's dpkg-deb builder: tar without --clamp-mtime, so
# --mtime dates every entry (dpkg-deb would only clamp newer ones), and
# with --hard-dereference, so a second name of an inode is a file of its
# own, never a hard link.
#
# A staged file may be a hard link into a cache that other builds link
# from and unlink at the same time: that changes the inode's link count,
# hence its ctime, and tar then says "file changed as we read it" and
# exits 1.  No staged file is ever written in place (every write is a new
# file renamed over it), so its bytes are what tar read: when that is all
# tar has to say, the archive stands.
for arg do
  shift
  if [ "$arg" = --clamp-mtime ]; then
    set -- "$@" --hard-dereference
  else
    set -- "$@" "$arg"
  fi
done
said=$(mktemp) || exit 2
{tar} "$@" 2>"$said"
status=$?
if [ "$status" -eq 1 ] && [ -s "$said" ] &&
   ! grep -v -e ': file changed as we read it$' "$said" >/dev/null; then
  status=0
else
  cat "$said" >&2
fi
rm -f "$said"
exit "$status"
"""


def fixed_time_tar(directory: Path) -> Path:
    """Write ``directory/tar``, the system's tar with
    ``--hard-dereference`` instead of ``--clamp-mtime``; returns
    ``directory`` (for the front of dpkg-deb's ``PATH``).

    :raises giftwrap.errors.BuildError: no tar on ``PATH``.
    """
    real = shutil.which('tar', path=os.environ.get('PATH', os.defpath))
    if real is None:
        raise BuildError('tar is not installed: dpkg-deb runs it',
                         hint='apt-get install tar')
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / 'tar'
    # written anew and renamed: another dpkg-deb may be running it
    fresh = directory / f'.tar.{os.getpid()}.{threading.get_ident()}'
    fresh.write_text(_TAR_WRAPPER.format(
        tar=shlex.quote(os.path.abspath(real))), encoding='utf-8')
    fresh.chmod(0o755)
    os.replace(fresh, wrapper)
    return directory


#: The wrapper unshare runs: the staged virtualenv mounted, then dpkg-deb.
_BIND_WRAPPER = """#!/bin/sh
# Written by giftwrap's dpkg-deb builder; unshare --mount runs it in a
# mount namespace of its own, so the mount goes with the command.  It
# mounts the staged virtualenv ($1), read-only, at its place in the shadow
# tree ($2), then runs the rest: dpkg-deb packs the staged files as they
# are, without a link to each.
src=$1 dst=$2
shift 2
mount --bind -o ro -- "$src" "$dst" || exit 125
exec "$@"
"""


def bind_run(directory: Path, unshare: str, user: bool | None = None
             ) -> list[str]:
    """Write ``directory/bind-run`` (:data:`_BIND_WRAPPER`); the command
    prefix that runs ``SRC DST COMMAND...`` with ``SRC`` mounted at
    ``DST``: a new mount namespace, and a user namespace where giftwrap
    is not root (``user``, default: whether it is not; there it may mount
    in its own namespaces only)."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / 'bind-run'
    wrapper.unlink(missing_ok=True)
    wrapper.write_text(_BIND_WRAPPER, encoding='utf-8')
    wrapper.chmod(0o755)
    if user is None:
        user = os.geteuid() != 0
    return [unshare, '--mount', '--propagation', 'private',
            *(['--user', '--map-root-user'] if user else []), '--',
            str(wrapper)]


#: How much lower the tree is checked, in niceness, while dpkg-deb packs it.
YIELDING = 10


def _yielding(work):
    """``work()`` on a thread of its own with a lower CPU priority (Linux
    sets a thread's, and the threads it starts inherit it): dpkg-deb, the
    stage's longest part, keeps the cores, and the checks take what it
    leaves.  Its result, or its exception."""
    def run():
        thread = threading.get_native_id()
        try:
            now = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, now + YIELDING))
        except OSError:  # a system without per-thread priorities
            pass
        return work()

    with ThreadPoolExecutor(1, thread_name_prefix='dpkg-deb-check') as own:
        return own.submit(run).result()


def default_threads() -> int:
    """The CPUs this process may use, at least :data:`MIN_THREADS`."""
    return max(MIN_THREADS, len(os.sched_getaffinity(0)))


class DpkgDeb(Builder):
    """A Debian package (.deb) of the virtualenv, written by dpkg-deb (fast).

    nfpm-deb's package, written by dpkg-deb with multi-threaded zstd;
    byte-identical rebuilds whatever ``threads``.  The staged tree is only
    read: dpkg-deb packages a tree of hard links in the work directory.
    """

    package_format = 'deb'
    wants_md5 = True
    api_version = (1, 2)
    tools = (Tool('dpkg-deb', 'apt-get install dpkg  (dpkg 1.21.18 or '
                              'later: zstd and --threads-max)'),
             Tool('cp', 'apt-get install coreutils  (GNU cp: links the '
                        'staged tree)'))
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

    def mount(self, tree: StagedTree) -> list[str] | None:
        """The command prefix that runs dpkg-deb with the staged virtualenv
        mounted in the shadow tree, if this machine lets giftwrap mount in
        a namespace of its own (tried once, on an empty directory); else
        None: the tree is linked."""
        unshare = find_tool('unshare')
        if unshare is None:
            return None
        work = self.context.work_dir.resolve()
        prefix = bind_run(work / 'bind', unshare)
        probe = work / 'bind' / 'probe'
        probe.mkdir(exist_ok=True)
        tried = self.context.runner.run(
            [*prefix, str(tree.venv), str(probe), 'true'], check=False,
            what='unshare --mount (can the staged tree be mounted?)')
        if tried.returncode != 0:
            LOG.debug('no mount namespace here: the staged tree is linked')
            return None
        return prefix

    def layout(self, target: Target, tree: StagedTree, shadow: Shadow,
               mount: bool) -> tuple[bool, list[dict]]:
        """Place the staged virtualenv (a mount point if ``mount``, else
        links), the generated files and the configuration outside the
        virtualenv into ``shadow``: all dpkg-deb needs, without listing
        the virtualenv.  Whether it is to be mounted, and the generated
        files' entries."""
        work = self.context.work_dir.resolve()
        generated = scripts.write_files(target, work / 'files')
        added = [{'src': str(generated[f.dst]), 'dst': str(f.dst),
                  'file_info': {'mode': f.mode}} for f in target.files]
        venv = PurePosixPath(tree.install_path)
        # a generated file inside the virtualenv would be hidden by a mount
        mount = mount and not any(
            PurePosixPath(e['dst']).is_relative_to(venv) for e in added)
        if mount:
            shadow.mount_point(str(tree.venv), str(venv))
        else:
            shadow.link_tree(str(tree.venv), str(venv), self.context.runner,
                             self.tool('cp'))
        config = set(tree.config_files) | set(
            self.context.package.config_files)
        outside = [nfpm.config_outside(tree, c) for c in sorted(config)
                   if not PurePosixPath(c).is_relative_to(venv)]
        for entry in sorted(outside + added, key=lambda e: e['dst']):
            shadow.place(entry)
        return mount, added

    def check(self, tree: StagedTree, shadow: Shadow, added: list[dict],
              stats: dict[str, os.stat_result]) -> tuple[str, int]:
        """nfpm-deb's checks of the staged tree (while dpkg-deb packs it);
        its md5sums and size.

        :raises giftwrap.errors.BuildError: a tree that cannot be packaged.
        """
        entries = nfpm.contents(tree, self.context.package.config_files,
                                stats)
        for entry in sorted(entries + added, key=lambda e: e['dst']):
            shadow.place(entry)
        return shadow.md5sums()

    def control_files(self, target: Target, tree: StagedTree, size: int
                      ) -> dict[str, str]:
        """``DEBIAN/control`` and ``conffiles`` (if any), by name."""
        config = sorted({str(p) for p in tree.config_files}
                        | {str(p) for p in target.config_files})
        texts = {'control': control(target, size)}
        if config:
            texts['conffiles'] = ''.join(f'{p}\n' for p in config)
        return texts

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

    def dpkg_deb(self, root: Path, output: Path, epoch: int,
                 prefix: list[str] | None = None,
                 extra: list[str] | None = None) -> None:
        """Run dpkg-deb on ``root`` (after ``prefix``, :meth:`mount`'s;
        ``extra`` options first).

        :raises giftwrap.errors.CommandError: dpkg-deb failed.
        :raises giftwrap.errors.BuildError: it wrote no package.
        """
        work = self.context.work_dir.resolve()
        output.unlink(missing_ok=True)
        (work / 'tmp').mkdir(exist_ok=True)
        argv = self.argv(root, output)
        argv[1:1] = extra or []
        argv[:0] = prefix or []
        self.context.runner.run(
            argv, cwd=work, what='dpkg-deb',
            env=environment(epoch, work / 'tmp',
                            fixed_time_tar(work / 'fixed-time')))
        if not output.is_file():
            raise BuildError(f'dpkg-deb wrote no package at {output}',
                             hint='see the dpkg-deb output in the log')

    def package(self, target: Target, tree: StagedTree, epoch: int) -> Path:
        """Lay out the shadow tree and run dpkg-deb while the staged tree
        is listed, checked and its md5sums gathered; returns the package in
        the work directory."""
        work = self.context.work_dir.resolve()
        root, control_root = work / 'root', work / 'control'
        for path in (root, control_root):
            remove(path)  # a previous attempt's: only links and copies
        root.mkdir(parents=True)
        prefix = self.mount(tree)
        # the lstat of each staged file, from the check of the tree: what
        # says a digest computed ahead is still the file's
        stats: dict[str, os.stat_result] = {}
        with Shadow(root, self.threads(), known=_known(tree, stats)
                    ) as shadow:
            mounted, added = self.layout(target, tree, shadow,
                                         prefix is not None)
            # This run's control member is not kept: its Installed-Size
            # and md5sums are counted while it runs.
            self.debian(target, root / 'DEBIAN', {
                **self.control_files(target, tree, 0), 'md5sums': ''}, epoch)
            shadow.finish()
            mount = mounted and [*prefix, str(tree.venv),
                                 root.as_posix() + str(tree.install_path)]
            with ThreadPoolExecutor(2) as background:
                data = background.submit(self.dpkg_deb, root,
                                         work / 'data.deb', epoch,
                                         mount or None)
                try:
                    sums, size = _yielding(lambda: self.check(
                        tree, shadow, added, stats))
                    # DEBIAN/ alone, with them, while the tree's run ends
                    self.debian(target, control_root / 'DEBIAN', {
                        **self.control_files(target, tree, size),
                        'md5sums': sums}, epoch)
                    os.utime(control_root, (epoch, epoch))
                    control = background.submit(
                        self.dpkg_deb, control_root, work / 'control.deb',
                        epoch, extra=['--nocheck'])
                    control.result()
                finally:
                    data.result()  # dpkg-deb's error first
        LOG.debug('%s: the staged tree %s; %s files copied, not linked; %d '
                  'hashed here', target.name,
                  'mounted' if mounted else 'linked',
                  'all' if shadow.copied < 0 else shadow.copied,
                  shadow.hashed)
        built = work / 'dpkg-deb-output.deb'
        debar.swap_control(work / 'data.deb', work / 'control.deb', built)
        return built

    def build(self, tree: StagedTree) -> Artifact:
        """Lay out the shadow tree, run dpkg-deb and publish the package.

        :raises giftwrap.errors.BuildError: bad metadata, a tree that
            cannot be packaged, or dpkg-deb failed.
        """
        work = self.context.work_dir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        target = self.target()
        built = self.package(target, tree, build_time(self.context))
        self.before_publish(built)
        path = self.publish(built, target.filename)
        LOG.info('built %s', path)
        return Artifact(name=path.name, path=path)


def _known(tree: StagedTree, stats: Mapping[str, os.stat_result]
           ) -> Callable[[str], tuple[str, int] | None]:
    """The shadow tree's ``known``: the md5 of a staged file computed
    ahead (:meth:`StagedTree.md5`) and its size, validated by the file's
    ``lstat`` from the check of the tree (``stats``) where that has one."""
    def known(path: str) -> tuple[str, int] | None:
        st = stats.get(path)
        if st is None:
            try:
                st = os.lstat(path)
            except OSError:
                return None  # not answered for: the shadow tree hashes it
        md5 = tree.md5(path, st)
        return None if md5 is None else (md5, st.st_size)
    return known


def _control_error(field: str, value: str, name: str, where: str | None,
                   manifest: bool = False) -> Exception:
    error = ManifestError if manifest else BuildError
    return error(f'the {field} of package {name} contains a control '
                 f'character: {value!r}', where=where,
                 hint='use printable text (line breaks only in the '
                      'description): a line break would start a new field '
                      'of the control file')
