"""Patches: an operator's fixes applied to a project's checkout.

``patches:`` lists patch files (``git format-patch`` or ``diff -u`` output,
applied with ``-p1``), relative to the manifest, applied in order right
after the checkout.  Each is tried first (``patch --dry-run``), so a patch
that does not apply changes nothing and fails the project naming the file
and the hunk.  Applied patches, with their sha256, go into the lock and the
summary; templates see how many there are and one digest of them all
(:func:`template_values`), e.g. for a version suffix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path
from typing import Sequence

from giftwrap import errors
from giftwrap.util.process import Runner, base_environment
from giftwrap.fetch import links

LOG = logging.getLogger(__name__)

#: What templates see as ``project.<name>`` once the patches are applied.
TEMPLATE_NAMES = ('patch_count', 'patches_digest')
_FILE = re.compile(r'^(?:patching|checking) file (.+)$')
_FAILED = re.compile(r'^Hunk #(\d+) FAILED at (\d+)')
_PROBLEMS = ('can\'t find file to patch', 'Reversed (or previously applied)',
             'Only garbage was found', 'malformed patch',
             'No file to patch')


@dataclasses.dataclass(frozen=True)
class Patch:
    """One patch file of the manifest.

    :ivar name: as the manifest writes it (relative to the manifest).
    :ivar path: the file.
    :ivar sha256: of its content.
    """

    name: str
    path: Path
    sha256: str

    def to_json(self) -> dict[str, str]:
        """What the lock records."""
        return {'file': self.name, 'sha256': self.sha256}


def find(project) -> tuple[Patch, ...]:
    """The project's ``patches``, read from beside the manifest.

    :raises giftwrap.errors.ManifestError: a patch file cannot be read.
    """
    found = []
    for name in project.patches:
        path = Path(project.manifest_dir) / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise errors.ManifestError(
                f'cannot read the patch {name}: {exc.strerror}',
                where=project.where_key('patches'),
                hint='patch files are relative to the manifest') from None
        found.append(Patch(name, path.resolve(),
                           hashlib.sha256(data).hexdigest()))
    return tuple(found)


def apply(patches: Sequence[Patch], checkout: Path, runner: Runner, *,
          where: str | None = None) -> None:
    """Apply ``patches`` to the work tree ``checkout``, in order.

    Links out of the checkout are refused before each patch (one would
    carry it out of the tree) and after it (a patch may create one, such as
    ``etc -> /etc``, that a later patch or a copy would follow).

    :param where: the manifest location of ``patches``, for errors.
    :raises giftwrap.errors.SourceError: a patch does not apply (nothing of
        it is applied); the message names the patch, the file and the hunk.
        Or the checkout holds a link out of it, before or after a patch.
    """
    for patch in patches:
        links.check(checkout, where or str(checkout),
                    when=f'before the patch {patch.name}')
        argv = ['patch', '-p1', '--batch', '--forward',
                '--no-backup-if-mismatch', '-d', str(Path(checkout).resolve()),
                '-i', str(patch.path)]
        env = base_environment(LC_ALL='C')
        trial = runner.run([*argv, '--dry-run'], env=env, check=False,
                           what=f'patch --dry-run ({patch.name})')
        if trial.returncode != 0:
            raise errors.SourceError(
                f'the patch {patch.name} does not apply: '
                f'{_failure(trial.output)}', where=where,
                output=trial.tail(),
                hint='refresh the patch for this gitref (git format-patch '
                     'from a checkout of it), or remove it from patches')
        runner.run(argv, env=env, what=f'patch ({patch.name})')
        links.check(checkout, where or str(checkout),
                    when=f'after the patch {patch.name}')
        LOG.info('applied %s (sha256 %s)', patch.name, patch.sha256[:12])


def _failure(output: str) -> str:
    """The first file and hunk that failed, from GNU patch's output."""
    current = problem = None
    for line in output.splitlines():
        checking = _FILE.match(line)
        if checking and problem:
            break
        if checking:
            current = checking.group(1).strip("'")
        elif line.startswith('|+++ '):  # the file patch could not find
            current = line[5:].split('\t')[0].strip().partition('/')[2]
        elif hunk := _FAILED.match(line):
            return (f'hunk #{hunk.group(1)} of {current or "a file"} fails '
                    f'(at line {hunk.group(2)})')
        elif problem is None and any(p in line for p in _PROBLEMS):
            problem = line.replace('patch: **** ', '').strip()
    if problem:
        return f'{problem} ({current})' if current else problem
    return 'patch failed'


def digest(patches: Sequence[Patch]) -> str:
    """One sha256 over the patches and their order (``''`` for none)."""
    if not patches:
        return ''
    text = ''.join(f'{p.sha256}\n' for p in patches)
    return hashlib.sha256(text.encode()).hexdigest()


def template_values(patches: Sequence[Patch]) -> dict[str, str]:
    """``patch_count`` (``'0'`` for none) and ``patches_digest`` (its first
    8 hex digits, ``''`` for none), for templates such as ``version:
    '1.0+p{{ project.patch_count }}-1'``."""
    return {'patch_count': str(len(patches)),
            'patches_digest': digest(patches)[:8]}


def summary(patches: Sequence[Patch]) -> str:
    """A line for the build summary."""
    return 'patched: ' + ', '.join(f'{p.name} ({p.sha256[:12]})'
                                   for p in patches)
