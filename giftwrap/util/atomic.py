"""Files written whole: in shared directories, and over staged files.

Two giftwrap runs may share an output or cache directory; what they both
update (the lock file, the artifact index) is rewritten atomically while
holding an exclusive lock on the directory itself, so no lock file is left
beside the artifacts.

A staged file may be a hard link into a cache (uv installs with
``--link-mode hardlink``; byte-code comes linked from its cache): it is
never written, chmod-ed or touched in place, but replaced by a new file
renamed over it (:func:`replace_bytes`, :func:`copy_over`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def locked_dir(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: What every staging file's name holds: ``.NAME.giftwrap-tmp-XXXX``.
STAGING = '.giftwrap-tmp-'


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (readers see old or new;
    a mount point is rewritten in place)."""
    def write(tmp: Path) -> None:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)

    try:
        _renamed_over(path, write)
    except OSError as exc:
        # A bind-mounted file (a container's -v x.lock:/work/x.lock) is a
        # mount point, which cannot be replaced: write through it.
        if exc.errno != errno.EBUSY:
            raise
        path.write_text(text)


def replace_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Give ``path`` the content ``data`` as a new file renamed over it.

    A staged file may be a hard link into a cache (uv's, the byte-code
    cache): writing, chmod-ing or touching it in place would change the
    cache's file too.  A new inode leaves every other link as it was.

    :param mode: the new file's permission bits; default: ``path``'s.
    """
    mode = stat_mode(path) if mode is None else mode

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
        os.chmod(tmp, mode)

    _renamed_over(path, write)


def copy_over(src: str | os.PathLike, dst: str | os.PathLike) -> str:
    """:func:`shutil.copy2` that never writes through ``dst``: the copy
    (content, mode, times) is a new file renamed over it.  A
    ``copy_function`` for :func:`shutil.copytree`; returns ``dst``."""
    def write(tmp: Path) -> None:
        shutil.copyfile(src, tmp)
        shutil.copystat(src, tmp)

    _renamed_over(Path(dst), write)
    return str(dst)


def stat_mode(path: Path) -> int:
    """``path``'s permission bits (``chmod``'s, setuid and sticky too)."""
    return os.stat(path).st_mode & 0o7777


def _renamed_over(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a staging file beside ``path``, then rename it over."""
    # a name at the file system's limit leaves room for the staging suffix
    tmp, fd = stage(path.parent, path.name[:200])
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def stage(directory: Path, name: str) -> tuple[Path, int]:
    """A new, empty staging file for ``name`` in ``directory``, and an open
    descriptor holding an exclusive lock on it: while the writer lives, no
    :func:`remove_stale` removes it.  Close the descriptor when done."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{name}{STAGING}')
    fcntl.flock(fd, fcntl.LOCK_EX)
    return Path(tmp), fd


def relock(path: Path, fd: int) -> int:
    """Lock ``path`` again after another file was renamed onto it; closes
    ``fd`` (the lock of the file it replaced) and returns the new one."""
    new = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    fcntl.flock(new, fcntl.LOCK_EX)
    os.close(fd)
    return new


def remove_stale(directory: Path) -> list[Path]:
    """Remove the staging files below ``directory`` whose writer is gone
    (a killed run): those nobody holds a lock on."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in sorted(directory.rglob(f'.*{STAGING}*')):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a symlink, or gone already
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live run's
        else:
            if os.path.isfile(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed.append(path)
        finally:
            os.close(fd)
    return removed
