"""A recording stand-in for a container engine (podman, buildah, docker) in unit tests."""

from __future__ import annotations

from pathlib import Path

from giftwrap import testing


IMAGE_ID = 'sha256:' + 'f' * 64


def play_engine(call: testing.Call) -> None:
    """Write what the engine would: the image id, the saved archive."""
    for arg in call.argv:
        if arg.startswith('--iidfile='):
            Path(arg.split('=', 1)[1]).write_text(IMAGE_ID + '\n')
        elif arg.startswith('--output='):
            Path(arg.split('=', 1)[1]).write_bytes(b'archive')
        elif arg.startswith('docker-archive:'):
            Path(arg.split(':')[1]).write_bytes(b'archive')


class EngineRunner(testing.RecordingRunner):
    """Plays a container engine; ``fail`` maps a subcommand to its output."""

    def __init__(self, fail: dict[str, str] | None = None):
        super().__init__(respond=play_engine, fail=fail)

    def subcommands(self) -> list[str]:
        return [argv[1] for argv in self.argvs()]
