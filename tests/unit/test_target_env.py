"""What a command run in a build target's container sees of the
environment: the container's CA bundle, not a path of the host."""

from __future__ import annotations

from giftwrap.plan import targets
from giftwrap.util import containers as engines
from tests.engineutil import EngineRunner


def _inner_env(runner: targets.ContainerRunner, env: dict) -> dict:
    outer = EngineRunner()
    runner._outer = outer  # the engine's command is recorded, not run
    runner.run(['pip', '--version'], env=env)
    return dict(a.split('=', 1)[1].split('=', 1)
                for a in outer.calls[0].argv if a.startswith('--env='))


def test_the_containers_ca_bundle_wins_over_the_hosts():
    engine = engines.Podman('podman', EngineRunner(), engines.Settings())
    runner = targets.ContainerRunner(
        engine, 'c1', [], {'PIP_CERT': targets.CA_IN_CONTAINER,
                           'SSL_CERT_FILE': targets.CA_IN_CONTAINER})
    env = _inner_env(runner, {
        'PIP_CERT': '/etc/ssl/certs/ca-certificates.crt',  # the host's
        'PIP_INDEX_URL': 'http://127.0.0.1:9/simple', 'HOME': '/root'})
    assert env == {'PIP_CERT': targets.CA_IN_CONTAINER,
                   'SSL_CERT_FILE': targets.CA_IN_CONTAINER,
                   'PIP_INDEX_URL': 'http://127.0.0.1:9/simple'}


def test_which_uv_configuration_to_read_stays_on_the_host():
    """The host's UV_CONFIG_FILE names a file of the host, and in the
    container uv reads the image's own configuration."""
    engine = engines.Podman('podman', EngineRunner(), engines.Settings())
    runner = targets.ContainerRunner(engine, 'c1', [], {})
    env = _inner_env(runner, {
        'UV_NO_CONFIG': '1', 'UV_CONFIG_FILE': '/root/.config/uv/uv.toml',
        'UV_CACHE_DIR': '/cache/uv', 'UV_INDEX_URL': 'http://i/simple'})
    assert env == {'UV_CACHE_DIR': '/cache/uv',
                   'UV_INDEX_URL': 'http://i/simple'}
