"""The HTTP client and the resolvers against a real server on 127.0.0.1.

Covers what only a real connection shows: gzip Content-Encoding, the
redirect releases.openstack.org answers with, retries on 5xx and resets
(none on 4xx), timeouts, connection refused, and the cache and offline mode.
"""

from __future__ import annotations

import gzip
import hashlib
import time
import zlib

import pytest

from giftwrap import plugins as drivers
from giftwrap.resolve import http
from giftwrap.resolve.http import USER_AGENT, HttpClient, HttpError
from giftwrap.resolvers.requirements_file import RequirementsFile
from giftwrap.resolvers.upper_constraints import UpperConstraints
from tests import httpserver
from tests.httpserver import (
    LoopbackServer, Response, free_port_url, resolve_context)

SHA = '19088b84dc74c8f1e31f2547b8c3d5de81a6695e'
COMMIT_PATH = f'/openstack/requirements/raw/commit/{SHA}/upper-constraints.txt'


@pytest.fixture
def server(monkeypatch):
    # a proxy from the environment must not see loopback requests
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    with LoopbackServer(hang_limit=10) as srv:
        yield srv


@pytest.fixture
def client(tmp_path):
    with HttpClient(tmp_path / 'cache', timeout=(2, 2), retries=2,
                    backoff=0.01) as http:
        yield http


@pytest.fixture
def uc_2025_1(reference) -> str:
    return (reference / 'upper-constraints' / 'stable-2025.1.txt').read_text()


def resolve(resolver_class, tmp_path, http, options=None, **kwargs):
    validated = drivers.validate_options(resolver_class.options, options or {},
                                         driver_name='test')
    context = resolve_context(tmp_path, http=http, options=validated, **kwargs)
    return resolver_class(context).resolve()


# -- the client ---------------------------------------------------------------

def test_plain_get_sends_user_agent(server, client):
    url = server.add('/plain', 'six===1.0\n')
    assert client.get_text(url) == 'six===1.0\n'
    assert server.requests[0].headers['User-Agent'] == USER_AGENT


def test_gzip_content_encoding(server, client):
    url = server.add('/enc', 'six===1.0\n', gzip=True)
    assert client.get_text(url) == 'six===1.0\n'


def test_literal_gzip_body(server, client):
    url = server.add('/console.html.gz', gzip.compress(b'log line\n'),
                     headers={'Content-Type': 'application/gzip'})
    assert client.get_text(url) == 'log line\n'


def test_retry_500_then_200(server, client):
    url = server.sequence('/flaky', [Response(500, b'oops'),
                                     Response(200, b'six===1.0\n')])
    assert client.get_text(url) == 'six===1.0\n'
    assert server.hits('/flaky') == 2


def test_persistent_503_gives_up(server, client):
    url = server.add('/down', 'maintenance', status=503)
    with pytest.raises(HttpError) as info:
        client.get_text(url)
    assert server.hits('/down') == 3  # 1 + retries
    assert info.value.status == 503 and info.value.transient
    assert 'after 3 attempts' in info.value.what


def test_404_is_not_retried(server, client):
    url = server.add('/gone', 'Not found: gone', status=404)
    with pytest.raises(HttpError) as info:
        client.get_text(url, what='upper constraints')
    assert server.hits('/gone') == 1
    assert info.value.status == 404 and not info.value.transient
    assert url in info.value.what and 'HTTP 404' in info.value.what
    assert 'Not found: gone' in info.value.what
    assert info.value.hint


def test_hang_times_out(server, tmp_path):
    url = server.hang('/hang')
    started = time.monotonic()
    with HttpClient(tmp_path, timeout=(2, 0.5), retries=0) as http:
        with pytest.raises(HttpError) as info:
            http.get_text(url)
    assert time.monotonic() - started < 5
    assert 'no answer within 0.5 s' in info.value.what
    assert info.value.status is None and info.value.transient


def test_reset_is_retried_then_reported(server, client):
    url = server.reset('/reset')
    with pytest.raises(HttpError, match='connection') as info:
        client.get_text(url)
    assert server.hits('/reset') == 3
    assert info.value.status is None


def test_connection_refused(client):
    url = free_port_url()
    with pytest.raises(HttpError, match='connection refused') as info:
        client.get_text(url)
    assert url in info.value.what and info.value.status is None


def test_gerrit_json(server, client):
    url = server.add('/changes/', ")]}'\n[{\"_number\": 950001}]\n",
                     headers={'Content-Type': 'application/json'})
    assert client.get_json(url, gerrit=True) == [{'_number': 950001}]
    with pytest.raises(HttpError, match='valid JSON'):
        client.get_json(url)


def test_cache_then_offline(server, tmp_path):
    url = server.add('/immutable', '{"ok": true}')
    with HttpClient(tmp_path / 'cache') as http:
        assert http.get_json(url, cache_key=url) == {'ok': True}
        assert http.get_json(url, cache_key=url) == {'ok': True}
    assert server.hits('/immutable') == 1
    assert [p.name for p in (tmp_path / 'cache' / 'http').iterdir()] == [
        hashlib.sha256(url.encode()).hexdigest()]
    with HttpClient(tmp_path / 'cache', offline=True) as http:
        assert http.get_json(url, cache_key=url) == {'ok': True}
        with pytest.raises(HttpError, match='offline'):
            http.get_json(url)  # no cache key: never cached
    assert server.hits('/immutable') == 1


# -- upper-constraints ---------------------------------------------------------

def test_release_through_a_redirect(server, client, tmp_path, uc_2025_1):
    server.add('/raw/stable-2025.1.txt', uc_2025_1)
    server.redirect('/constraints/upper/2025.1', '/raw/stable-2025.1.txt')
    options = {'release': '2025.1',
               'releases_url': server.url('/constraints/upper/')}
    pins = resolve(UpperConstraints, tmp_path, client, options)
    assert len(pins.pins) == 585
    assert pins.pins['alabaster'].version == '1.0.0'
    assert pins.provenance['constraints_url'] == server.url(
        '/constraints/upper/2025.1')


def test_series_from_gitref_gzip_python39(server, client, tmp_path, uc_2025_1):
    server.add('/constraints/upper/2025.1', uc_2025_1, gzip=True)
    pins = resolve(UpperConstraints, tmp_path, client,
                   {'releases_url': server.url('/constraints/upper')},
                   gitref='stable/2025.1', python_version='3.9.18')
    assert len(pins.pins) == 588
    assert pins.pins['alabaster'].version == '0.7.16'
    assert pins.provenance['constraints_from'] == 'gitref stable/2025.1'


def test_url_from_tox_ini(server, client, tmp_path):
    url = server.add('/uc/master', 'six===1.17.0\ndemo===0.1\n')
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'tox.ini').write_text(
        f'[testenv]\ndeps =\n  -c{{env:TOX_CONSTRAINTS_FILE:{url}}}\n')
    (src / 'setup.cfg').write_text('[metadata]\nname = demo\n')
    pins = resolve(UpperConstraints, tmp_path, client)
    assert list(pins.pins) == ['six']  # demo is the project itself


def test_releases_urls_are_asked_each_time_but_serve_offline(server,
                                                             tmp_path):
    server.add('/constraints/upper/master', 'six===1.17.0\n')
    options = {'release': 'master',
               'releases_url': server.url('/constraints/upper')}
    with HttpClient(tmp_path / 'cache') as http:
        resolve(UpperConstraints, tmp_path, http, options)
        resolve(UpperConstraints, tmp_path, http, options)
    assert server.hits('/constraints/upper/master') == 2
    # offline, the last answer serves (however old), and nothing is asked
    with HttpClient(tmp_path / 'cache', offline=True) as http:
        pins = resolve(UpperConstraints, tmp_path, http, options)
    assert str(pins.pins['six']) == 'six==1.17.0'
    assert server.hits('/constraints/upper/master') == 2
    with HttpClient(tmp_path / 'other-cache', offline=True) as http:
        with pytest.raises(HttpError, match='offline'):
            resolve(UpperConstraints, tmp_path, http, options)


def test_commit_urls_are_cached_for_offline(server, tmp_path):
    url = server.add(COMMIT_PATH, 'six===1.17.0\n')
    with HttpClient(tmp_path / 'cache') as http:
        resolve(UpperConstraints, tmp_path, http, {'url': url})
    with HttpClient(tmp_path / 'cache', offline=True) as http:
        pins = resolve(UpperConstraints, tmp_path, http, {'url': url})
    assert str(pins.pins['six']) == 'six==1.17.0'
    assert server.hits(COMMIT_PATH) == 1


def test_404_names_url_and_project(server, client, tmp_path):
    options = {'release': 'nosuch', 'releases_url': server.url('/c')}
    with pytest.raises(HttpError) as info:
        resolve(UpperConstraints, tmp_path, client, options)
    assert info.value.status == 404
    assert server.url('/c/nosuch') in str(info.value)
    assert info.value.where == 'project demo'


def test_2014_constraints_list(server, client, tmp_path):
    first = server.add('/a.txt', 'six===1.0\npbr===1.0\n')
    second = server.add('/b.txt', 'six===2.0\n', gzip=True)
    pins = resolve(UpperConstraints, tmp_path, client, {'urls': [first, second]})
    assert {k: p.version for k, p in pins.pins.items()} == {'six': '2.0',
                                                            'pbr': '1.0'}


# -- requirements-file ----------------------------------------------------------

def test_remote_requirements_with_relative_include(server, client, tmp_path):
    url = server.add('/reqs/requirements.txt', '-r base.txt\ncliff>=4\n')
    server.add('/reqs/base.txt', 'six==1.16.0\n')
    pins = resolve(RequirementsFile, tmp_path, client, {'file': url})
    assert str(pins.pins['six']) == 'six==1.16.0'
    assert pins.requirements == ('cliff>=4',)
    assert pins.provenance['file'] == url


def test_remote_requirements_may_not_include_local_files(server, client,
                                                         tmp_path):
    url = server.add('/reqs/requirements.txt', '-r /etc/hostname\n')
    with pytest.raises(Exception, match='includes the local file'):
        resolve(RequirementsFile, tmp_path, client, {'file': url})


# -- bounded bodies (a real server on 127.0.0.1) ------------------------------

def _gzip_of_zeros(size: int) -> bytes:
    """A small gzip stream standing for ``size`` zero bytes."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [deflate.compress(chunk) for _ in range(size >> 20)]
    return b''.join(parts) + deflate.flush()


@pytest.fixture(scope='module')
def bomb():
    return _gzip_of_zeros(http.MAX_BODY + (8 << 20))


@pytest.mark.parametrize('encoded', [True, False],
                         ids=['content-encoding', 'gz-file'])
def test_a_gzip_bomb_is_refused_not_inflated(tmp_path, bomb, encoded):
    assert len(bomb) < 1 << 20
    with httpserver.LoopbackServer() as server:
        url = server.add('/job-output.txt.gz', bomb, headers={
            'Content-Encoding': 'gzip'} if encoded else {})
        with http.HttpClient(None, retries=0) as client:
            with pytest.raises(http.HttpError, match='larger than 128 MiB'):
                client.get_bytes(url, what='CI log')


def test_a_body_past_the_cap_is_refused_as_it_streams():
    body = bytes(http.MAX_BODY + 1)
    with httpserver.LoopbackServer() as server:
        url = server.add('/big', body)
        with http.HttpClient(None, retries=0) as client:
            with pytest.raises(http.HttpError) as caught:
                client.get_bytes(url, what='upper constraints')
    assert 'larger than 128 MiB' in str(caught.value)
    assert 'check the URL' in caught.value.hint


def test_an_error_page_is_read_only_in_part():
    with httpserver.LoopbackServer() as server:
        url = server.add('/missing', 'Not here\n' + 'x' * (1 << 20),
                         status=404)
        with http.HttpClient(None, retries=0) as client:
            with pytest.raises(http.HttpError, match='HTTP 404'):
                client.get_bytes(url)
