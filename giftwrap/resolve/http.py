"""Fetching what resolvers need over HTTP (or from disk), with a cache.

One :class:`HttpClient` per run, shared by resolvers through their context.
It retries what is worth retrying (connection problems, timeouts, 5xx) a
bounded number of times, never a 4xx; it accepts bodies that are gzip either
as a ``Content-Encoding`` or literally (legacy ``*.gz`` log files); and it
keeps answers the caller says are immutable (``cache_key``) on disk so a
rebuild, or an ``--offline`` one, does not ask again.  Bodies stream in
and stop at :data:`MAX_BODY` bytes, decompressed (either way) or not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import requests
import urllib3

from giftwrap import __version__, errors

LOG = logging.getLogger(__name__)

USER_AGENT = f'giftwrap/{__version__}'
GZIP_MAGIC = b'\x1f\x8b'
#: The largest body giftwrap reads (after decompression): CI logs,
#: constraints files and API answers are far smaller.
MAX_BODY = 128 << 20
#: What is read of an error answer, for its message.
ERROR_BODY = 4096
CHUNK = 1 << 16
GERRIT_PREFIX = ")]}'"

_HINTS = {
    'timeout': 'the network failed or the server is slow: retry later or '
               'check the URL and any proxy settings (http_proxy/'
               'https_proxy); to build without a network, run giftwrap '
               'fetch -m MANIFEST while it works, then build with --offline',
    'connection': 'the network failed: check the host name, the connection '
                  'and any proxy settings; to build without a network, run '
                  'giftwrap fetch -m MANIFEST while it works, then build '
                  'with --offline (only cached answers are used)',
    'server': 'the server failed; retry later',
    'client': 'check the URL (and the resolver option that produced it)',
    'content': 'the URL does not serve what was expected; check it in a '
               'browser',
}


class HttpError(errors.ResolveError):
    """Fetching a URL failed.

    :ivar url: what was asked for.
    :ivar status: the HTTP status, or ``None`` for connection problems,
        timeouts, bad content and missing files.
    :ivar transient: whether trying again later might work (connection
        problems, timeouts, 5xx); a 404 or bad content will not.
    """

    def __init__(self, what: str, *, url: str, status: int | None = None,
                 transient: bool = False, where: str | None = None,
                 hint: str | None = None):
        super().__init__(what, where=where, hint=hint)
        self.url = url
        self.status = status
        self.transient = transient


def is_remote(location: str) -> bool:
    """Whether ``location`` is an http(s) URL (not a file or path)."""
    return urllib.parse.urlsplit(location).scheme in ('http', 'https')


class HttpClient:
    """A :class:`requests.Session` with retries, gzip handling and a cache.

    :param cache_dir: where answers with a ``cache_key`` are kept (under
        ``http/``); ``None`` keeps nothing.
    :param offline: answer only from the cache (and local files).
    :param timeout: ``(connect, read)`` seconds for each attempt.
    :param retries: how many times to retry after the first attempt.
    :param backoff: the first pause between attempts, doubled each time.
    """

    def __init__(self, cache_dir: Path | None, *, offline: bool = False,
                 timeout: tuple = (10, 60), retries: int = 3,
                 backoff: float = 0.5):
        self.cache_dir = Path(cache_dir) / 'http' if cache_dir else None
        self.offline = offline
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._session = requests.Session()
        self._session.headers['User-Agent'] = USER_AGENT

    def close(self) -> None:
        """Close the session's pooled connections."""
        self._session.close()

    def __enter__(self) -> 'HttpClient':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def get_bytes(self, url: str, *, cache_key: str | None = None,
                  what: str = '') -> bytes:
        """The body at ``url`` (an http(s) or ``file://`` URL, or a path).

        :param cache_key: set only when the answer can never change (a URL
            naming a commit, a finished build): it is then kept and reused.
        :param what: what is being fetched, for messages (``upper
            constraints``).
        :raises HttpError: saying which URL, what went wrong and what to do.
        """
        if not is_remote(url):
            return _gunzip(_read_local(url, what), url, what)
        cached = self._cache_path(cache_key)
        if cached is not None and cached.is_file():
            LOG.debug('using the cached answer for %s (%s)', url, cached)
            return cached.read_bytes()
        # The last answer to a URL that can change: only offline serves it.
        last = self._cache_path(url, 'last') if cached is None else None
        if self.offline:
            if last is not None and last.is_file():
                LOG.warning('offline: using the answer %s gave on %s',
                            url, time.strftime('%Y-%m-%d %H:%M', time.gmtime(
                                last.stat().st_mtime)))
                return last.read_bytes()
            raise _offline_error(url, what, self.cache_dir is not None)
        body = _gunzip(self._fetch(url, what), url, what)
        if cached is not None or last is not None:
            _write_atomic(cached or last, body)
        return body

    def get_text(self, url: str, *, cache_key: str | None = None,
                 what: str = '') -> str:
        """:meth:`get_bytes` decoded as UTF-8.

        Undecodable bytes become U+FFFD rather than failing: CI logs carry
        whatever the tools printed.
        """
        body = self.get_bytes(url, cache_key=cache_key, what=what)
        return body.decode('utf-8', errors='replace')

    def get_json(self, url: str, *, cache_key: str | None = None,
                 gerrit: bool = False, what: str = '') -> Any:
        """:meth:`get_text` parsed as JSON.

        :param gerrit: strip Gerrit's ``)]}'`` first line (XSSI guard).
        :raises HttpError: also when the body is not JSON.
        """
        text = self.get_text(url, cache_key=cache_key, what=what)
        if gerrit and text.startswith(GERRIT_PREFIX):
            text = text.split('\n', 1)[1] if '\n' in text else ''
        try:
            return json.loads(text)
        except ValueError as exc:
            # A garbage answer must not be served from the cache next time.
            cached = self._cache_path(cache_key)
            if cached is not None:
                cached.unlink(missing_ok=True)
            raise HttpError(
                f'{_label(what)}{url} did not return valid JSON ({exc}); it '
                f'starts with {text[:60]!r}', url=url,
                hint=_HINTS['content']) from exc

    def _cache_path(self, cache_key: str | None, kind: str = ''
                    ) -> Path | None:
        if cache_key is None or self.cache_dir is None:
            return None
        digest = hashlib.sha256(cache_key.encode('utf-8')).hexdigest()
        return self.cache_dir / kind / digest

    def _fetch(self, url: str, what: str) -> bytes:
        """GET ``url`` with bounded retries; the (decoded) body."""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(url, what)
            except HttpError as exc:
                if not exc.transient:
                    raise
                if attempt == attempts:
                    if attempts > 1:
                        exc.what += f' (after {attempts} attempts)'
                    raise
                pause = self.backoff * 2 ** (attempt - 1)
                LOG.warning('%s; retrying in %.1f s (attempt %d of %d)',
                            exc.what, pause, attempt + 1, attempts)
                time.sleep(pause)
        raise AssertionError('unreachable')  # pragma: no cover

    def _attempt(self, url: str, what: str) -> bytes:
        LOG.debug('GET %s', url)
        try:
            with self._session.get(url, timeout=self.timeout,
                                   stream=True) as response:
                if response.status_code >= 400:
                    raise _status_error(url, what, response, _read_capped(
                        response, ERROR_BODY, url, what, quiet=True))
                return _read_capped(response, MAX_BODY, url, what)
        except requests.exceptions.RequestException as exc:
            raise self._connection_error(url, what, exc) from exc

    def _connection_error(self, url: str, what: str,
                          exc: requests.exceptions.RequestException
                          ) -> HttpError:
        connect, read = _timeouts(self.timeout)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            problem, kind = f'connecting timed out after {connect:g} s', 'timeout'
        elif isinstance(exc, requests.exceptions.Timeout) or _caused_by(
                exc, urllib3.exceptions.ReadTimeoutError):
            # a stall while reading the body arrives as a ConnectionError
            problem, kind = f'no answer within {read:g} s (read timeout)', 'timeout'
        elif _caused_by(exc, ConnectionRefusedError):
            problem, kind = 'connection refused', 'connection'
        elif _caused_by(exc, ConnectionResetError):
            problem, kind = 'connection reset by the server', 'connection'
        elif isinstance(exc, (requests.exceptions.ConnectionError,
                              requests.exceptions.ChunkedEncodingError)):
            problem, kind = f'connection failed ({_innermost(exc)})', 'connection'
        else:
            problem, kind = f'request failed ({exc})', 'client'
        return HttpError(f'{_label(what)}GET {url}: {problem}', url=url,
                         transient=kind != 'client', hint=_HINTS[kind])


def _read_capped(response: requests.Response, limit: int, url: str,
                 what: str, quiet: bool = False) -> bytes:
    """The body, decoded (Content-Encoding), as it streams in: more than
    ``limit`` bytes is refused (or, ``quiet``, cut)."""
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > limit:
            if quiet:
                chunks.append(chunk[:limit - size + len(chunk)])
                break
            raise _too_large(url, what, limit)
        chunks.append(chunk)
    return b''.join(chunks)


def _too_large(url: str, what: str, limit: int) -> HttpError:
    return HttpError(
        f'{_label(what)}{url} is larger than {limit >> 20} MiB', url=url,
        hint='the answer is not what was expected (no CI log, constraints '
             'file or API answer is that large): check the URL')


def _status_error(url: str, what: str, response: requests.Response,
                  body: bytes = b'') -> HttpError:
    status = response.status_code
    text = body.decode(response.encoding or 'utf-8', 'replace')
    detail = text.strip().splitlines()[:1] if body else []
    reason = f'HTTP {status} {response.reason or ""}'.rstrip()
    if detail and len(detail[0]) < 200:
        reason += f': {detail[0]}'
    hint = _HINTS['server'] if status >= 500 else _HINTS['client']
    if status == 404:
        hint = ('the URL does not exist (any more): check it, or the '
                'option that produced it')
    return HttpError(f'{_label(what)}GET {url}: {reason}', url=url,
                     status=status, transient=status >= 500, hint=hint)


def _read_local(location: str, what: str) -> bytes:
    """The bytes of a ``file://`` URL or a plain path."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == 'file':
        path = Path(urllib.parse.unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:
        raise HttpError(
            f'{_label(what)}{location}: unsupported URL scheme '
            f'{parts.scheme!r}', url=location,
            hint='use an http(s):// or file:// URL, or a path')
    else:
        path = Path(location)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise HttpError(
            f'{_label(what)}cannot read {path}: {exc.strerror or exc}',
            url=location, hint='check the path (and the option that set it)'
        ) from exc


def _gunzip(body: bytes, url: str, what: str) -> bytes:
    """Decompress a body that is itself gzip (a ``*.gz`` file)."""
    if not body.startswith(GZIP_MAGIC):
        return body
    try:
        # bounded: a small gzip may stand for gigabytes
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflate.decompress(body, MAX_BODY + 1)
        if len(out) > MAX_BODY or inflate.unconsumed_tail:
            raise _too_large(url, what, MAX_BODY)
        if not inflate.eof:
            raise EOFError('the gzip stream is cut short')
        return out
    except (OSError, EOFError, zlib.error) as exc:
        raise HttpError(
            f'{_label(what)}{url} looks like gzip but does not decompress '
            f'({exc})', url=url, hint=_HINTS['content']) from exc


def _write_atomic(path: Path, body: bytes) -> None:
    """Write ``body`` so readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as stream:
            stream.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _offline_error(url: str, what: str, cacheable: bool) -> HttpError:
    if cacheable:
        hint = ('run giftwrap fetch -m MANIFEST (or a build) without '
                '--offline first, with the same --cache-dir')
    else:
        hint = ('there is no cache directory: give --cache-dir, and fill '
                'it first with giftwrap fetch')
    return HttpError(f'{_label(what)}{url} is not in the cache and giftwrap '
                     'is offline', url=url, hint=hint)


def _timeouts(timeout) -> tuple[float, float]:
    if isinstance(timeout, (tuple, list)):
        return float(timeout[0]), float(timeout[1])
    return float(timeout), float(timeout)


def _caused_by(exc: BaseException, kind: type) -> bool:
    """Whether ``kind`` is anywhere in ``exc``'s cause chain or args."""
    seen = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        todo.extend(a for a in getattr(current, 'args', ())
                    if isinstance(a, BaseException))
        for attr in ('reason', '__cause__', '__context__'):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)
    return False


def _innermost(exc: BaseException) -> str:
    """The most specific message of a wrapped urllib3/socket error."""
    while True:
        inner = getattr(exc, 'reason', None) or (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException)
            else None)
        if not isinstance(inner, BaseException):
            return str(exc)
        exc = inner


def _label(what: str) -> str:
    return f'{what}: ' if what else ''
