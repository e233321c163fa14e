"""Files in shared directories: written whole, under a directory lock.

Two giftwrap runs may share an output or cache directory; what they both
update (the lock file, the artifact index) is rewritten atomically while
holding an exclusive lock on the directory itself, so no lock file is left
beside the artifacts.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator


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
    tmp, fd = stage(path.parent, path.name)
    try:
        with os.fdopen(os.dup(fd), 'w') as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            # A bind-mounted file (a container's -v x.lock:/work/x.lock) is
            # a mount point, which cannot be replaced: write through it.
            if exc.errno != errno.EBUSY:
                raise
            path.write_text(text)
            os.unlink(tmp)
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
