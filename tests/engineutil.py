"""A recording stand-in for a container engine (podman, buildah, docker) in unit tests."""

from __future__ import annotations

from pathlib import Path
from giftwrap import errors
from giftwrap.util.process import Result


IMAGE_ID = 'sha256:' + 'f' * 64


class EngineRunner:
    """Plays a container engine; ``fail`` maps a subcommand to its output."""

    def __init__(self, fail: dict[str, str] | None = None):
        self.calls: list[list[str]] = []
        self.envs: list[dict] = []
        self.fail = fail or {}

    def run(self, argv, *, env=None, check=True, what=None, **kw):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        self.envs.append(env)
        sub = argv[1]
        if sub in self.fail:
            if check:
                raise errors.CommandError(f'{sub} failed', output=self.fail[sub])
            return Result(tuple(argv), 1, self.fail[sub])
        for arg in argv:
            if arg.startswith('--iidfile='):
                Path(arg.split('=', 1)[1]).write_text(IMAGE_ID + '\n')
            elif arg.startswith('--output='):
                Path(arg.split('=', 1)[1]).write_bytes(b'archive')
            elif arg.startswith('docker-archive:'):
                Path(arg.split(':')[1]).write_bytes(b'archive')
        return Result(tuple(argv), 0, '')

    def subcommands(self) -> list[str]:
        return [argv[1] for argv in self.calls]
