"""Unit tests of giftwrap's HTTP client that need no server.

Local files, ``file://`` URLs, the on-disk cache and offline mode; the
network behaviour (retries, timeouts, gzip encoding) is tested against a
real loopback server in tests/functional/test_resolvers_http.py.
"""

from __future__ import annotations

import gzip
import hashlib

import pytest

from giftwrap import __version__, errors
from giftwrap.resolve.http import USER_AGENT, HttpClient, HttpError, is_remote

UNREACHABLE = 'http://127.0.0.1:9/never'


@pytest.fixture
def offline(tmp_path):
    with HttpClient(tmp_path / 'cache', offline=True) as client:
        yield client


def seed(tmp_path, key: str, body: bytes) -> None:
    """Put ``body`` where the client keeps the answer for ``key``."""
    folder = tmp_path / 'cache' / 'http'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha256(key.encode()).hexdigest()).write_bytes(body)


def test_user_agent():
    assert USER_AGENT == f'giftwrap/{__version__}'


def test_http_error_is_a_resolve_error():
    exc = HttpError('GET x: HTTP 404', url='x', status=404)
    assert isinstance(exc, errors.ResolveError) and exc.exit_code == 6
    assert (exc.url, exc.status, exc.transient) == ('x', 404, False)


@pytest.mark.parametrize('location, remote', [
    ('https://x/y', True), ('http://x', True), ('file:///x', False),
    ('/x/y', False), ('y.txt', False)])
def test_is_remote(location, remote):
    assert is_remote(location) is remote


def test_local_path_and_file_url(tmp_path, offline):
    path = tmp_path / 'a file.txt'
    path.write_text('six===1.0\n')
    assert offline.get_text(str(path)) == 'six===1.0\n'
    assert offline.get_text(path.as_uri()) == 'six===1.0\n'


def test_literal_gzip_body(tmp_path, offline):
    path = tmp_path / 'console.html.gz'
    path.write_bytes(gzip.compress(b'hello\n'))
    assert offline.get_bytes(str(path)) == b'hello\n'


def test_broken_gzip_body(tmp_path, offline):
    path = tmp_path / 'broken.gz'
    path.write_bytes(b'\x1f\x8b\x08garbage')
    with pytest.raises(HttpError, match='does not decompress'):
        offline.get_bytes(str(path))


def test_missing_local_file(tmp_path, offline):
    with pytest.raises(HttpError) as info:
        offline.get_text(str(tmp_path / 'gone.txt'), what='upper constraints')
    assert info.value.status is None
    assert str(tmp_path / 'gone.txt') in info.value.what
    assert info.value.what.startswith('upper constraints: ')
    assert info.value.hint


def test_unsupported_scheme(offline):
    with pytest.raises(HttpError, match="scheme 'ftp'"):
        offline.get_text('ftp://example.invalid/x')


def test_offline_uses_the_cache(tmp_path, offline):
    seed(tmp_path, 'key-1', b'{"a": 1}')
    assert offline.get_json(UNREACHABLE, cache_key='key-1') == {'a': 1}


def test_offline_without_cached_answer(offline):
    with pytest.raises(HttpError) as info:
        offline.get_text(UNREACHABLE, cache_key='missing')
    assert UNREACHABLE in info.value.what and 'offline' in info.value.what
    assert 'without --offline' in info.value.hint


def test_offline_never_fetched(offline):
    with pytest.raises(HttpError) as info:
        offline.get_text(UNREACHABLE)
    assert 'giftwrap fetch' in info.value.hint


def test_offline_serves_the_last_answer_of_a_url_that_changes(tmp_path,
                                                              offline):
    # a branch's constraints URL: online it is asked every time, and its
    # last answer kept; offline that answer serves, however old
    path = tmp_path / 'cache' / 'http' / 'last' / hashlib.sha256(
        UNREACHABLE.encode()).hexdigest()
    path.parent.mkdir(parents=True)
    path.write_bytes(b'six===1.0\n')
    assert offline.get_text(UNREACHABLE) == 'six===1.0\n'


def test_offline_without_cache_dir():
    with HttpClient(None, offline=True) as client:
        with pytest.raises(HttpError, match='offline'):
            client.get_text(UNREACHABLE, cache_key='k')


def test_gerrit_prefix(tmp_path, offline):
    path = tmp_path / 'changes.json'
    path.write_text(")]}'\n[{\"_number\": 1}]\n")
    assert offline.get_json(str(path), gerrit=True) == [{'_number': 1}]


def test_malformed_json(tmp_path, offline):
    path = tmp_path / 'changes.json'
    path.write_text(")]}'\n[{\"_number\": 1}]\n")
    with pytest.raises(HttpError, match='valid JSON') as info:
        offline.get_json(str(path))  # the prefix is not stripped
    assert str(path) in info.value.what


def test_undecodable_text_is_replaced(tmp_path, offline):
    path = tmp_path / 'log.txt'
    path.write_bytes(b'ok \xff\n')
    assert offline.get_text(str(path)) == 'ok \ufffd\n'


def test_close_is_idempotent(tmp_path):
    client = HttpClient(tmp_path)
    client.close()
    client.close()
