"""Fixtures shared by the functional tests."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest

from giftwrap.trust import repository
from giftwrap.builders import nfpm
from giftwrap.util.process import Runner
from tests.packageutil import build_package, make_key, need, remove_key

# A background job of a non-interactive shell (``.ci/run &`` in a script)
# starts with SIGINT ignored, and every child inherits that: giftwrap would
# then never see the Ctrl-C the interrupt tests send, and they would time
# out.  Take SIGINT as from a terminal; a handled signal is reset to the
# default in each child, an ignored one is not.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def name() -> str:
    """A package name (and install path, and account name) no other run
    uses, so tests may install packages and add accounts side by side."""
    return f'giftwrap-test-{uuid.uuid4().hex[:10]}'


# The publishing tests' packages, keys and repository, made once a module.

@pytest.fixture(scope='module')
def keys():
    need('gpg')
    good = make_key('giftwrap publisher <publisher@example.invalid>')
    bad = make_key('someone else <other@example.invalid>')
    yield good, bad
    remove_key(good)
    remove_key(bad)


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> tuple[Path, str]:
    """An output directory with one .deb and one .rpm of a unique name."""
    need('nfpm', 'dpkg-deb')
    top = tmp_path_factory.mktemp('publish')
    name = f'giftwrap-pub-{uuid.uuid4().hex[:8]}'
    out = top / 'out'
    build_package(nfpm.NfpmDeb, top, name, out)
    build_package(nfpm.NfpmRpm, top, name, out)
    (out / 'giftwrap.lock').write_text('{}\n')  # not an artifact
    return out, name


@pytest.fixture(scope='module')
def repo(built, keys, tmp_path_factory) -> Path:
    need('createrepo_c')
    out, _ = built
    repo = tmp_path_factory.mktemp('repo-parent') / 'repo'
    repository.publish(out, repo, repository.Options(
        key=keys[0].fingerprint, gnupg_home=keys[0].home,
        origin='giftwrap tests'), Runner())
    return repo
