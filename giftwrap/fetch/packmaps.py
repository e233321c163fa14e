"""dulwich's pack mappings, closed without failing while a frame holds a view.

Since 1.2.13 dulwich reads pack files (and pack indexes) through an
``mmap``, and ``PackData.close()`` closes it: when a repository is closed
and, during a fetch, right after the fetched pack is indexed.  Reading an
object leaves a ``memoryview`` slice of the mapping in a local variable of
``dulwich.pack.read_zlib_chunks_at``.  It normally dies when that function
returns; but when something else holds the function's frame (Dask
distributed's worker profiler takes ``sys._current_frames()`` every 10 ms,
a debugger, a traceback being handled), the slice outlives the call,
``mmap.close()`` raises ``BufferError: cannot close exported pointers
exist`` and the fetch fails, at random, between indexing the new pack and
moving the mirror's refs.

Nothing needs the mapping gone at that moment on a POSIX system (giftwrap
runs on nothing else): it is read-only, and the pack file may be appended
to, renamed or deleted while it is mapped.  :func:`install` therefore makes
dulwich leave such a mapping to be unmapped when its last view is released,
moments later, as Python does for any mapping it frees.  Other dulwich
versions are left as they are: 1.2.10 to 1.2.12 map nothing.

:func:`reported` turns a ``BufferError`` that still escapes (some other
mapping of a dulwich to come) into a :class:`~giftwrap.errors.SourceError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import mmap
from pathlib import Path
from typing import Iterator

from dulwich import pack as dulwich_pack

from giftwrap import errors

LOG = logging.getLogger(__name__)


def install() -> None:
    """Let dulwich close a pack mapping that a held frame still views.

    Idempotent; a no-op for a dulwich without ``_close_file_contents``.
    """
    original = getattr(dulwich_pack, '_close_file_contents', None)
    if original is None or getattr(original, '_giftwrap', False):
        return

    @functools.wraps(original)
    def close_file_contents(contents) -> None:
        try:
            original(contents)
        except BufferError:
            if not isinstance(contents, mmap.mmap):
                raise
            # The last view unmaps it (the mmap object dies with it).
            LOG.debug('a pack mapping is still viewed; unmapped when its '
                      'last view is released')

    close_file_contents._giftwrap = True
    dulwich_pack._close_file_contents = close_file_contents


@contextlib.contextmanager
def reported(url: str, mirror: Path | None = None) -> Iterator[None]:
    """Turn a ``BufferError`` from closing a mapping into a SourceError.

    :param url: the project's git URL.
    :param mirror: the cache's mirror of ``url``, if one is used.
    :raises giftwrap.errors.SourceError: saying what happened and that
        building again is safe.
    """
    try:
        yield
    except BufferError as exc:
        where = f'the cache\'s mirror {mirror}' if mirror is not None \
            else url
        raise errors.SourceError(
            f'dulwich could not close its mapping of a pack file of {where}: '
            f'something in this process (a profiler, a debugger) still held '
            f'a view of it ({exc})', where=url,
            hint='nothing is damaged (the mirror\'s refs move only once '
                 'their objects are stored): build again; if it happens '
                 'again, report it with the versions of giftwrap, dulwich '
                 'and Python') from exc
