"""Container images for tests: a Debian bookworm base image with python3.

There is no Docker Hub here, so the only base image is one the tests make
themselves with debootstrap and ``podman import``, cached in podman's store
between runs (making it takes about a minute)::

    from tests import images

    image = images.base_image()   # skips the test when it cannot be made

The host's ``/usr/bin/python3`` is bookworm's 3.11, the same as the image's,
so a virtualenv built on the host runs inside it.  Images are built with
podman's ``chroot`` isolation and the ``vfs`` storage driver (overlay does
not work inside the CI machine): :func:`require_podman` skips otherwise.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from giftwrap import errors
from giftwrap.util.process import Runner

#: The cached base image: debootstrapped bookworm with python3 and venv.
BASE_IMAGE = 'giftwrap-test/bookworm-python:latest'
SUITE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
#: The storage driver the tests need (see :func:`require_podman`).
DRIVER = 'vfs'
#: What /etc/containers/storage.conf must say for the tests to run.
STORAGE_CONF = ('[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\n'
                'graphroot = "/var/lib/containers/storage"\n')

_LOCK = Path(tempfile.gettempdir()) / 'giftwrap-test-base-image.lock'


def require_podman(runner: Runner | None = None) -> None:
    """Skip the calling test unless podman runs and stores images with vfs."""
    runner = runner or Runner()
    if shutil.which('podman') is None:
        pytest.skip('podman is not installed (apt-get install podman)')
    result = runner.run(['podman', 'info', '--format',
                         '{{.Store.GraphDriverName}}'], check=False)
    driver = result.output.strip().splitlines()[-1:] or ['']
    if result.returncode != 0:
        pytest.skip(f'podman info failed: {result.tail(5)}')
    if driver[0] != DRIVER:
        pytest.skip(f'podman uses the {driver[0]!r} storage driver, not '
                    f'{DRIVER!r}: write /etc/containers/storage.conf with\n'
                    + STORAGE_CONF)


def image_exists(name: str, runner: Runner | None = None) -> bool:
    """Whether ``name`` is in podman's store."""
    runner = runner or Runner()
    return runner.run(['podman', 'image', 'exists', '--', name],
                      check=False).returncode == 0


def base_image(runner: Runner | None = None, suite: str = SUITE) -> str:
    """A Debian ``suite`` image with python3, made first if podman lacks it.

    Concurrent test processes wait for one another on a lock file, so the
    image is made once.

    :returns: the image's name, for ``base_image`` in builder options.
    """
    runner = runner or Runner()
    require_podman(runner)
    name = BASE_IMAGE if suite == SUITE else \
        f'giftwrap-test/{suite}-python:latest'
    with open(_LOCK, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image_exists(name, runner):
            _make_base_image(runner, suite, name)
    return name


def _make_base_image(runner: Runner, suite: str, name: str) -> None:
    if shutil.which('debootstrap') is None:
        pytest.skip('debootstrap is not installed, so the base image '
                    f'{name} cannot be made')
    if os.geteuid() != 0:
        pytest.skip(f'making the base image {name} needs root '
                    '(debootstrap)')
    with tempfile.TemporaryDirectory(prefix=f'giftwrap-{suite}-') as tmp:
        root, archive = Path(tmp) / 'root', Path(tmp) / 'root.tar'
        try:
            runner.run(['debootstrap', '--variant=minbase',
                        '--include=python3,python3-venv', suite, root,
                        MIRROR], what='debootstrap', timeout=900)
        except errors.CommandError as exc:
            pytest.skip(f'debootstrap of {suite} from {MIRROR} failed: {exc}')
        # apt's caches only make the image (and every vfs copy) bigger.
        for deb in (root / 'var' / 'cache' / 'apt' / 'archives').glob('*.deb'):
            deb.unlink()
        runner.run(['tar', '-C', root, '-cf', archive, '.'], what='tar')
        runner.run(['podman', 'import', '--', archive, name],
                   what='podman import')


def remove_image(name: str, runner: Runner | None = None) -> None:
    """Remove ``name`` from podman's store if it is there."""
    runner = runner or Runner()
    runner.run(['podman', 'rmi', '--force', '--', name], check=False)
