"""Container engines (docker, podman, buildah) through their command lines.

One :class:`Engine` subclass per engine holds every difference between
them, so callers never test an engine's name.  Site settings are typed
(:class:`Settings`) and each maps to a fixed flag; nothing from a manifest
becomes a free-form argument, and every positional value (image names,
paths) comes after ``--``.  The storage driver, registries and credentials
come from the engine's own configuration files.

The builder that makes images uses it; so can anything that needs to run
work inside a container image later.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import re
from pathlib import Path
from typing import ClassVar, Mapping, Sequence

from giftwrap import errors
from giftwrap.util.process import Result, Runner, base_environment, find_tool

#: The engine's own configuration reaches it; nothing else of the
#: operator's environment does.
_ENGINE_ENV = ('XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'CONTAINERS_CONF',
               'CONTAINERS_REGISTRIES_CONF', 'REGISTRY_AUTH_FILE',
               'DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT',
               'DOCKER_CERT_PATH', 'DOCKER_TLS_VERIFY')

# How podman/buildah and docker (BuildKit, classic) say FROM failed.
_NO_BASE = re.compile(r'creating build container|failed to resolve source '
                      r'metadata|pull access denied|manifest unknown|'
                      r'did not resolve to an alias|manifest for \S+ not found')
_OUR_MESSAGE = re.compile(r'^(?:#\d+ [\d.]+ )?giftwrap: (.+)$', re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Settings:
    """How an engine is run, as typed site settings.

    :ivar isolation: podman's/buildah's ``--isolation`` (``chroot``, ``oci``,
        ``rootless``), or ``None`` for the engine's default.
    :ivar tls_verify: verify registries' certificates (pulls and pushes).
    :ivar cache_layers: keep every build step as a cached layer.  Off by
        default: each build copies a new virtualenv, so the cache rarely
        helps, and with the ``vfs`` driver every layer is a full copy.
    """

    isolation: str | None = None
    tls_verify: bool = True
    cache_layers: bool = False
    #: ``--offline``: only images already on this machine, never a pull
    offline: bool = False


def engine_environment() -> dict[str, str]:
    """The environment engines run with: the base one plus their config."""
    return base_environment(**{k: os.environ[k] for k in _ENGINE_ENV
                               if k in os.environ})


class Engine(abc.ABC):
    """One container engine's command line.

    :param path: the engine's executable.
    :param runner: runs every command (and records them in tests).
    """

    name: ClassVar[str] = ''
    #: How to install it, for :class:`~giftwrap.errors.MissingToolError`.
    hint: ClassVar[str] = ''

    def __init__(self, path: str, runner: Runner, settings: Settings):
        self.path = path
        self.runner = runner
        self.settings = settings

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Refuse settings this engine cannot honour.

        :raises giftwrap.errors.DriverError: naming the setting.
        """

    @classmethod
    def usable(cls, path: str) -> bool:
        """Whether the installed engine can build now (default: yes)."""
        return True

    def run(self, *args: str | Path, check: bool = True, what: str = ''
            ) -> Result:
        """Run ``<engine> ARGS`` with :func:`engine_environment`."""
        return self.runner.run([self.path, *args], env=engine_environment(),
                               check=check, what=what or f'{self.name} {args[0]}')

    def build(self, dockerfile: Path, context_dir: Path, *,
              labels: Mapping[str, str], iidfile: Path) -> Result:
        """Build an untagged image; its id is written to ``iidfile``.

        :returns: the finished command, even when it failed (the caller
            explains the failure from its output).
        """
        argv = ['build', f'--file={dockerfile}', f'--iidfile={iidfile}']
        argv += [f'--label={key}={value}' for key, value in labels.items()]
        return self.run(*argv, *self.build_flags(), '--', context_dir,
                        check=False)

    def build_flags(self) -> list[str]:
        """The flags :attr:`settings` map to when building."""
        return []

    def build_error(self, result: Result, base_image: str
                    ) -> errors.BuildError:
        """Why :meth:`build` failed, from its output.

        A ``RUN`` step explains itself with a line ``giftwrap: <why>``;
        otherwise a base image that could not be pulled is named.
        """
        ours = _OUR_MESSAGE.findall(result.output)
        if ours:
            what = ours[-1]
        elif _NO_BASE.search(result.output):
            what = f'the base image {base_image} could not be found or pulled'
        else:
            what = f'{self.name} build failed with exit status {result.returncode}'
        return errors.BuildError(
            what, where=f'{self.name} build', output=result.tail(),
            hint='check base_image, the engine\'s registries and the failed '
                 'step in the output above')

    def tag(self, image: str, name: str) -> None:
        """Give ``image`` (an id or name) the name ``name``."""
        self.run('tag', '--', image, name)

    def remove(self, image: str) -> bool:
        """Remove a name (or an unnamed image); False if that failed.

        Never forced: an image another name still refers to stays.
        """
        return self.run('rmi', '--', image, check=False).returncode == 0

    def exists(self, image: str) -> bool:
        """Whether ``image`` is in the engine's local store."""
        return self.run('image', 'inspect', '--', image,
                        check=False).returncode == 0

    # -- running commands in a container of an image (build targets) ----

    def start(self, image: str) -> str:
        """Prepare to run commands in ``image``; returns a handle.

        Engines that run each command in a fresh container (``run --rm``)
        need no preparation: the handle is the image.
        """
        return image

    def command(self, handle: str, argv: Sequence[str], *,
                mounts: Sequence[tuple[str, str, bool]], cwd: str | None,
                env: Mapping[str, str]) -> list[str]:
        """The engine's argv that runs ``argv`` in the container.

        :param mounts: ``(host path, container path, read_only)``.
        """
        flags = self.run_flags()
        flags += [f'--volume={h}:{c}:{"ro" if ro else "rw"}'
                  for h, c, ro in mounts]
        flags += [f'{self.workdir_flag}={cwd}'] if cwd else []
        flags += [f'--env={k}={v}' for k, v in sorted(env.items())]
        return [self.path, *flags, '--', handle, *argv]

    #: how the engine's ``run`` names the working directory
    workdir_flag = '--workdir'

    def run_flags(self) -> list[str]:
        """``run`` and the options :meth:`command` always gives it."""
        return ['run', '--rm', '--network=host', *self.pull_flags()]

    def pull_flags(self, default: str | None = None) -> list[str]:
        """``--pull=never`` offline, else ``default``'s flag (if any)."""
        policy = 'never' if self.settings.offline else default
        return [f'--pull={policy}'] if policy else []

    def stop(self, handle: str) -> None:
        """Release what :meth:`start` prepared."""

    # -- a container kept between commands (giftwrap verify) -------------

    def create(self, image: str, mounts: Sequence[tuple[str, str, bool]],
               name: str) -> str:
        """Start a container ``name`` of ``image`` whose changes last
        until :meth:`remove_container`; returns the handle commands take
        (the name).

        :param mounts: ``(host path, container path, read_only)``, fixed
            for the container's life.
        """
        volumes = [f'--volume={h}:{c}:{"ro" if ro else "rw"}'
                   for h, c, ro in mounts]
        self.run('create', '--network=host', '--entrypoint=sleep',
                 f'--name={name}', *volumes, '--', image, 'infinity',
                 what=f'{self.name} create {image}')
        try:
            self.run('start', '--', name)
        except BaseException:
            self.remove_container(name)
            raise
        return name

    def exec_command(self, handle: str, argv: Sequence[str], *,
                     mounts: Sequence[tuple[str, str, bool]],
                     env: Mapping[str, str]) -> list[str]:
        """The engine's argv running ``argv`` in a :meth:`create`-d
        container (``mounts`` as given to it)."""
        flags = [f'--env={k}={v}' for k, v in sorted(env.items())]
        return [self.path, 'exec', *flags, '--', handle, *argv]

    def remove_container(self, handle: str) -> bool:
        """Remove a :meth:`create`-d container; False if that failed."""
        return self.run('rm', '--force', '--', handle,
                        check=False).returncode == 0

    #: lines the engine adds to a failed command's output, saying only
    #: that it failed
    _trailer: ClassVar[re.Pattern | None] = None

    def command_output(self, output: str) -> str:
        """A command's output without the engine's own trailer lines."""
        if self._trailer is None:
            return output
        return '\n'.join(line for line in output.splitlines()
                         if not self._trailer.match(line))

    @abc.abstractmethod
    def save(self, name: str, archive: Path) -> None:
        """Write the image ``name`` to ``archive`` (a docker archive)."""

    @abc.abstractmethod
    def push(self, name: str) -> None:
        """Push the image ``name`` (``registry/image:tag``) to its registry."""


class Podman(Engine):
    """podman (daemonless; honours isolation and per-command TLS)."""

    name = 'podman'
    hint = 'apt-get install podman (or dnf install podman)'

    def run_flags(self) -> list[str]:
        # podman run has no chroot isolation; --pull=missing keeps it local
        # when the image is there.
        return ['run', *self.pull_flags('missing'), '--rm', '--network=host']

    def build_flags(self) -> list[str]:
        # (by default they ask the registry for a newer base image)
        flags = [f'--layers={str(self.settings.cache_layers).lower()}',
                 *self.pull_flags()]
        if self.settings.isolation:
            flags.append(f'--isolation={self.settings.isolation}')
        return flags + self._tls_flags()

    def _tls_flags(self) -> list[str]:
        return [] if self.settings.tls_verify else ['--tls-verify=false']

    def save(self, name: str, archive: Path) -> None:
        self.run('save', '--format=docker-archive', f'--output={archive}',
                 '--', name)

    def push(self, name: str) -> None:
        self.run('push', *self._tls_flags(), '--', name, f'docker://{name}')


class Buildah(Podman):
    """buildah: podman's flags, but no ``save`` command."""

    name = 'buildah'
    hint = 'apt-get install buildah (or dnf install buildah)'

    def exists(self, image: str) -> bool:
        return self.run('inspect', '--type=image', '--', image,
                        check=False).returncode == 0

    def start(self, image: str) -> str:
        # buildah runs commands in a working container made once.
        result = self.run('from', '--quiet', *self.pull_flags(), '--', image,
                          what=f'buildah from {image}')
        return result.output.strip().splitlines()[-1]

    workdir_flag = '--workingdir'

    def run_flags(self) -> list[str]:
        # a working container: no --rm; chroot isolation where podman
        # run cannot start a container
        return ['run'] + ([f'--isolation={self.settings.isolation}']
                          if self.settings.isolation else [])

    def stop(self, handle: str) -> None:
        self.run('rm', '--', handle, check=False)

    def create(self, image: str, mounts: Sequence[tuple[str, str, bool]],
               name: str) -> str:
        # a working container keeps its changes; mounts are per command
        self.run('from', '--quiet', *self.pull_flags(), f'--name={name}',
                 '--', image, what=f'buildah from {image}')
        return name

    def exec_command(self, handle: str, argv: Sequence[str], *,
                     mounts: Sequence[tuple[str, str, bool]],
                     env: Mapping[str, str]) -> list[str]:
        return self.command(handle, argv, mounts=mounts, cwd=None, env=env)

    def remove_container(self, handle: str) -> bool:
        return self.run('rm', '--', handle, check=False).returncode == 0

    _trailer = re.compile(r'^(?:subprocess exited with status \d+|'
                          r'Error: exit status \d+)$')

    def save(self, name: str, archive: Path) -> None:
        # The transport splits on ":", so a path with one would be misread.
        if ':' in str(archive):
            raise errors.BuildError(f'cannot save to {archive}: buildah '
                                    'cannot write to a path with ":"')
        self.run('push', '--', name, f'docker-archive:{archive}:{name}',
                 what='buildah push (save)')


class Docker(Engine):
    """docker (a daemon: isolation and TLS are its own configuration)."""

    name = 'docker'
    hint = 'install Docker (https://docs.docker.com/engine/install/) or ' \
           'podman, which needs no daemon'

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        if settings.isolation:
            raise errors.DriverError(
                f'docker has no {settings.isolation!r} isolation',
                hint='remove "isolation" or set engine: podman (or buildah)')
        if not settings.tls_verify:
            raise errors.DriverError(
                'docker cannot skip TLS verification per command',
                hint='list the registry under "insecure-registries" in '
                     '/etc/docker/daemon.json and remove tls_verify, or '
                     'set engine: podman')

    def save(self, name: str, archive: Path) -> None:
        self.run('save', f'--output={archive}', '--', name)

    def push(self, name: str) -> None:
        self.run('push', '--', name)

    @classmethod
    def usable(cls, path: str) -> bool:
        # A docker client without a reachable daemon cannot build: the
        # default choice then moves on to podman and buildah.
        result = Runner().run([path, 'info', '--format', '{{.ServerVersion}}'],
                              env=engine_environment(), check=False,
                              timeout=20)
        return result.returncode == 0


#: Every engine, in the order the default choice tries them.
ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Docker, Podman, Buildah)}


def choose(name: str | None, settings: Settings) -> tuple[type[Engine], str]:
    """The engine class called ``name`` (or the first installed) and its path.

    :raises giftwrap.errors.MissingToolError: it (or every engine) is missing.
    :raises giftwrap.errors.DriverError: an unknown engine, or settings it
        cannot honour.
    """
    if name is not None and name not in ENGINES:
        raise errors.DriverError(f'unknown container engine {name!r}',
                                 hint='use one of ' + ', '.join(ENGINES))
    for engine in [ENGINES[name]] if name else ENGINES.values():
        path = find_tool(engine.name)
        if path is not None and (name or engine.usable(path)):
            engine.check_settings(settings)
            return engine, path
    if name:
        raise errors.MissingToolError(f'{name} is not installed',
                                      hint=ENGINES[name].hint)
    raise errors.MissingToolError(
        'no usable container engine is installed (docker with a running '
        'daemon, podman or buildah)',
        hint=Podman.hint)


def make(name: str | None, runner: Runner, settings: Settings) -> Engine:
    """An :class:`Engine` ready to run (see :func:`choose`)."""
    engine, path = choose(name, settings)
    return engine(path, runner, settings)
