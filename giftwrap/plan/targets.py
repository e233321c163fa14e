"""Build targets: building a virtualenv inside a container of the target.

A virtualenv runs only with the interpreter it was built with.  A target
names a container image of the distribution the package is for; giftwrap
runs the virtualenv build (virtualenv creation, pip, byte-compiling, system
dependency discovery) inside a container of it, with the work and cache
directories mounted at the same paths, so everything else (relocation,
scanning, packaging) works on the host as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from giftwrap import errors
from giftwrap.util import containers as engines
from giftwrap.util.process import Result, Runner

LOG = logging.getLogger(__name__)

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*\Z')
_KEYS = {'name', 'image', 'format', 'python', 'engine', 'isolation'}
FORMATS = ('deb', 'rpm')

#: Where the host's CA bundle appears in the container, so pip trusts the
#: same servers (and proxies) as on the host.
CA_IN_CONTAINER = '/run/giftwrap/host-ca.crt'
_HOST_CA = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt')
#: The host's CA bundles (Debian's, Fedora's), for other users of containers.
HOST_CA = _HOST_CA

# What a child inside the container may see of giftwrap's environment:
# not PATH or HOME, which belong to the image, nor which uv configuration
# to read (a file of the host): uv reads the image's own.  (Only the
# mounts, at the same paths, are above its working directory there.)
_PASSED = re.compile(r'^(PIP_|UV_(?!NO_CONFIG$|CONFIG_FILE$)|'
                     r'SOURCE_DATE_EPOCH$|LANG$|LC_ALL$|CFLAGS$|CXXFLAGS$|'
                     r'PYTHON[A-Z_]*$|http_proxy$|https_proxy$|'
                     r'no_proxy$|HTTPS?_PROXY$|NO_PROXY$)')

#: What each missing piece of a target image is called, per format.
_PROVIDERS = {
    'python': {'deb': 'python3', 'rpm': 'python3'},
    'venv': {'deb': 'python3-venv', 'rpm': 'python3 (python3-libs)'},
    'compiler': {'deb': 'build-essential python3-dev',
                 'rpm': 'gcc python3-devel'},
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A distribution a package is built for.

    :ivar image: a container image of it, with the interpreter.
    :ivar format: ``deb`` or ``rpm``: which builders run for it.
    """

    name: str
    image: str
    format: str
    python: str = '/usr/bin/python3'
    engine: str | None = None
    isolation: str | None = None


def parse(raw: Sequence[Mapping[str, Any]], where: str) -> tuple[Target, ...]:
    """The ``targets`` list of a manifest, checked.

    :raises giftwrap.errors.ManifestError: a bad or duplicate target.
    """
    targets, seen = [], set()
    for item in raw:
        unknown = set(item) - _KEYS
        if unknown or not {'name', 'image', 'format'} <= set(item):
            raise errors.ManifestError(
                f'a target must have name, image and format (and may have '
                f'python, engine, isolation); got {sorted(item)}', where=where,
                hint='e.g. {name: bookworm, image: debian:bookworm, format: deb}')
        name = str(item['name'])
        if not _NAME.match(name) or name in seen:
            raise errors.ManifestError(
                f'target name {name!r} is not a plain, unique name',
                where=where, hint='use letters, digits, . _ - ')
        if item['format'] not in FORMATS:
            raise errors.ManifestError(
                f'target {name}: format must be deb or rpm, not '
                f'{item["format"]!r}', where=where)
        if str(item['image']).startswith('-') or not str(item['image']).strip():
            raise errors.ManifestError(f'target {name}: {item["image"]!r} is '
                                       'not an image name', where=where)
        seen.add(name)
        targets.append(Target(**{k: (str(v) if v is not None else None)
                                 for k, v in item.items()}))
    return tuple(targets)


class ContainerRunner(Runner):
    """Runs every command inside one container of a target image.

    Paths under the mounts are the same inside and out, so callers pass
    host paths as they would to a plain :class:`Runner`.
    """

    def __init__(self, engine: engines.Engine, handle: str,
                 mounts: Sequence[tuple[str, str, bool]], env: Mapping[str, str],
                 log_file: Path | None = None):
        super().__init__(log_file)
        # The engine itself runs on the host, without extra_env.
        self._outer = Runner(log_file)
        self.engine, self.handle = engine, handle
        self.mounts, self.env = tuple(mounts), dict(env)

    def run(self, argv, *, cwd=None, env=None, check=True, timeout=None,
            stdin=None, what=None) -> Result:
        given = {**(env or {}), **self.extra_env}
        # the container's own settings (its CA bundle's path) win: the
        # host's PIP_CERT names a file of the host
        inner = {**{k: v for k, v in given.items() if _PASSED.match(k)},
                 **self.env}
        wrapped = self.engine.command(self.handle, [str(a) for a in argv],
                                      mounts=self.mounts,
                                      cwd=str(cwd) if cwd else None, env=inner)
        return self._outer.run(wrapped, env=engines.engine_environment(),
                               check=check, timeout=timeout, stdin=stdin,
                               what=what or Path(str(argv[0])).name)


@contextlib.contextmanager
def session(target: Target, shared: Sequence[Path], log_file: Path | None,
            *, offline: bool = False) -> Iterator[ContainerRunner]:
    """A runner whose commands run in a container of ``target``'s image.

    :param shared: host directories mounted read-write at the same path.
    :param offline: only a local image; never pull it.
    """
    settings = engines.Settings(isolation=target.isolation, offline=offline)
    host = Runner(log_file)
    engine = engines.make(target.engine, host, settings)
    mounts = [(str(p), str(p), False) for p in shared]
    env = {}
    ca = next((c for c in _HOST_CA if os.path.isfile(c)), None)
    if ca:
        mounts.append((ca, CA_IN_CONTAINER, True))
        env.update(PIP_CERT=CA_IN_CONTAINER, SSL_CERT_FILE=CA_IN_CONTAINER)
    try:
        handle = engine.start(target.image)
    except errors.CommandError as exc:
        raise errors.BuildError(
            f'cannot start a container of {target.image} for target '
            f'{target.name}', output=exc.output,
            hint='check the image name and the engine\'s registries') from exc
    try:
        yield ContainerRunner(engine, handle, mounts, env, log_file)
    finally:
        engine.stop(handle)


def check_image(target: Target, runner: Runner) -> list[str]:
    """Fail unless the image has what a build needs; returns warnings.

    :raises giftwrap.errors.BuildError: naming the missing pieces and the
        packages that provide them.
    """
    probe = ('import importlib.util as u, sys; sys.exit(0 if u.find_spec('
             '"venv") and u.find_spec("ensurepip") else 3)')
    result = runner.run([target.python, '-c', probe], check=False,
                        what=f'{target.python} in {target.image}')
    missing = []
    if result.returncode not in (0, 3):
        missing.append('python')
    elif result.returncode == 3:
        missing.append('venv')
    if missing:
        packages = ', '.join(_PROVIDERS[m][target.format] for m in missing)
        raise errors.BuildError(
            f'the image {target.image} of target {target.name} lacks '
            + ' and '.join({'python': f'the interpreter {target.python}',
                            'venv': 'venv support (ensurepip)'}[m]
                           for m in missing),
            output=result.tail(),
            hint=f'use an image with {packages} installed')
    compiler = runner.run(['sh', '-c', 'command -v cc || command -v gcc'],
                          check=False)
    if compiler.returncode != 0:
        return [f'{target.image} has no C compiler: distributions without '
                f'wheels will not build (install '
                f'{_PROVIDERS["compiler"][target.format]})']
    return []
