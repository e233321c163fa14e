"""A broken git repository is a source error, not a bug in giftwrap.

dulwich reports a repository missing an object as a bare ``KeyError``
(the object id), an unreadable object as ``ObjectFormatException`` and a
ref it cannot parse as ``ValueError``, ``AssertionError`` or
``PackedRefsException``.  Left
alone they end as "internal error ... this is a bug"; :func:`reported`
turns them into a :class:`~giftwrap.errors.SourceError` naming the
repository and the object or ref (for a local repository, the refs that
lead to it), with what to do.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from pathlib import Path
from typing import Iterator

from dulwich import errors as dulwich_errors
from dulwich.objects import ShaFile

from giftwrap import errors

_SHA = re.compile(rb'[0-9a-f]{40}')
#: dulwich's ValueError (and, reading a packed object, AssertionError) for
#: a ref whose value is no object id.
_INVALID_ID = re.compile(r'^Invalid object (?:id|name) ')
_UNREADABLE = (dulwich_errors.ObjectFormatException,
               dulwich_errors.ChecksumMismatch,
               dulwich_errors.ApplyDeltaError,
               dulwich_errors.FileFormatException)
_BAD_REF = (dulwich_errors.PackedRefsException, dulwich_errors.RefFormatError)
#: How many refs a message names.
_SHOWN = 5


@contextlib.contextmanager
def reported(url: str, mirror: Path | None = None) -> Iterator[None]:
    """Turn dulwich's "this repository is damaged" errors into SourceError.

    :param url: the project's git URL (a path or ``file://`` URL is also
        searched for the refs involved).
    :param mirror: the cache's mirror of ``url``, if one was used: it may
        be the damaged one.
    :raises giftwrap.errors.SourceError: naming ``url`` and the object or
        ref.
    """
    try:
        yield
    except KeyError as exc:
        sha = _object_id(exc)
        if sha is None:
            raise  # not a lookup of an object: a bug, shown as one
        raise _error(url, mirror, f'the object {sha.decode()} is missing'
                     + _pointing(url, sha)) from exc
    except dulwich_errors.ObjectMissing as exc:
        raise _error(url, mirror, f'an object is missing ({exc})') from exc
    except (ValueError, AssertionError, *_BAD_REF) as exc:
        # (before _UNREADABLE: PackedRefsException is a FileFormatException)
        if not isinstance(exc, _BAD_REF) and not _INVALID_ID.search(str(exc)):
            raise
        bad = bad_refs(url)
        named = ', '.join(bad[:_SHOWN]) if bad else 'a ref'
        raise _error(url, mirror, f'{named} cannot be read ({exc})') from exc
    except _UNREADABLE as exc:
        bad = unreadable_objects(url)
        named = ('the object ' + ', '.join(bad[:_SHOWN])) if bad else \
            'an object'
        raise _error(url, mirror, f'{named} cannot be read ({exc})') \
            from exc


def bad_refs(url: str) -> list[str]:
    """The refs of a local repository that hold no valid object id."""
    gitdir = _local_gitdir(url)
    if gitdir is None:
        return []
    bad = []
    for path in sorted((gitdir / 'refs').rglob('*')):
        if path.is_file() and not _valid(path.read_bytes().strip()):
            bad.append(path.relative_to(gitdir).as_posix())
    for sha, name in _packed(gitdir):
        if not _SHA.fullmatch(sha):
            bad.append(name.decode('utf-8', 'replace'))
    return bad


def unreadable_objects(url: str) -> list[str]:
    """The loose objects of a local repository that do not parse."""
    gitdir = _local_gitdir(url)
    if gitdir is None:
        return []
    bad = []
    for path in sorted((gitdir / 'objects').glob('[0-9a-f][0-9a-f]/*')):
        try:
            ShaFile.from_path(str(path))
        except (*_UNREADABLE, OSError, ValueError):
            bad.append(path.parent.name + path.name)
        if len(bad) > _SHOWN:
            break
    return bad


def _error(url: str, mirror: Path | None, what: str) -> errors.SourceError:
    hint = 'the repository is damaged: check it with "git fsck" and fetch ' \
           'or restore it again'
    if mirror is not None:
        hint += f'; if the cache\'s mirror is the damaged one, delete {mirror}'
    return errors.SourceError(f'the git repository {url} is broken: {what}',
                              where=url, hint=hint)


def _object_id(exc: KeyError) -> bytes | None:
    key = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(key, str):
        key = key.encode('ascii', 'replace')
    return key if isinstance(key, bytes) and _SHA.fullmatch(key) else None


def _pointing(url: str, sha: bytes) -> str:
    """`` (refs/heads/x points at it)`` for a local repository's refs."""
    gitdir = _local_gitdir(url)
    if gitdir is None:
        return ''
    names = [p.relative_to(gitdir).as_posix()
             for p in sorted((gitdir / 'refs').rglob('*'))
             if p.is_file() and p.read_bytes().strip() == sha]
    names += [n.decode('utf-8', 'replace') for s, n in _packed(gitdir)
              if s == sha]
    if not names:
        return ''
    return f' ({", ".join(names[:_SHOWN])} points at it)'


def _local_gitdir(url: str) -> Path | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == 'file':
        path = Path(urllib.parse.unquote(parts.path))
    elif '://' in url:
        return None
    else:
        path = Path(url)
    if (path / '.git').is_dir():
        return path / '.git'
    return path if (path / 'refs').is_dir() else None


def _packed(gitdir: Path) -> list[tuple[bytes, bytes]]:
    try:
        lines = (gitdir / 'packed-refs').read_bytes().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        if line and not line.startswith((b'#', b'^')):
            sha, _, name = line.partition(b' ')
            found.append((sha, name.strip()))
    return found


def _valid(value: bytes) -> bool:
    return bool(_SHA.fullmatch(value)) or value.startswith(b'ref: ')
