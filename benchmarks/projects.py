"""The benchmark's projects: OpenStack sdists from PyPI as git repositories.

opendev is out of reach, but every OpenStack release is on PyPI as an sdist
whose ``PKG-INFO`` gives pbr its version.  Each sdist is downloaded once
(kept in the work directory), unpacked and committed with dulwich, so
giftwrap clones a real repository; a "changed commit" is one more commit.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Sequence

from dulwich import porcelain
from dulwich.repo import Repo

from giftwrap.util.process import Runner

AUTHOR = b'giftwrap benchmark <bench@example.com>'


@dataclasses.dataclass(frozen=True)
class Sdist:
    """A project at one release: its PyPI name and version."""

    name: str
    version: str

    @property
    def project(self) -> str:
        """The manifest's project name (and the repository's directory)."""
        return self.name


#: keystone of the 2025.1 series: a big service with a deep closure.
KEYSTONE = Sdist('keystone', '27.0.0')
#: Libraries and clients of the same series (their upper-constraints
#: versions), sharing most of keystone's dependencies.
LIBRARIES = (Sdist('python-keystoneclient', '5.6.0'),
             Sdist('oslo.config', '9.7.2'),
             Sdist('keystonemiddleware', '10.9.1'),
             Sdist('oslo.policy', '4.5.1'),
             Sdist('oslo.log', '7.1.0'),
             Sdist('oslo.messaging', '16.1.2'),
             Sdist('oslo.cache', '3.10.2'))


def selection(count: int) -> tuple[Sdist, ...]:
    """keystone and ``count - 1`` libraries."""
    return (KEYSTONE, *LIBRARIES[:count - 1])


def download(sdists: Sequence[Sdist], dest: Path, runner: Runner
             ) -> dict[str, Path]:
    """The sdist file of each project, downloaded unless already there."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [s for s in sdists if _find(s, dest) is None]
    if missing:
        runner.run([sys.executable, '-m', 'pip', 'download', '--quiet',
                    '--no-deps', '--no-binary', ':all:', '--dest', str(dest),
                    '--', *(f'{s.name}=={s.version}' for s in missing)],
                   what='pip download')
    found = {s.project: _find(s, dest) for s in sdists}
    absent = [name for name, path in found.items() if path is None]
    if absent:
        raise SystemExit(f'pip downloaded no sdist for {", ".join(absent)}')
    return found


def _find(sdist: Sdist, dest: Path) -> Path | None:
    stem = sdist.name.replace('-', '_').replace('.', '_').lower()
    for path in dest.glob('*.tar.gz'):
        name = path.name[:-len('.tar.gz')]
        dist, _, version = name.rpartition('-')
        if version == sdist.version and \
                dist.replace('-', '_').replace('.', '_').lower() == stem:
            return path
    return None


def make_repo(sdist_file: Path, repo_dir: Path) -> None:
    """Unpack ``sdist_file`` into a new git repository at ``repo_dir``."""
    shutil.rmtree(repo_dir, ignore_errors=True)
    staging = repo_dir.with_name(repo_dir.name + '.unpack')
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(sdist_file) as archive:
        archive.extractall(staging, filter='data')
    top, = staging.iterdir()
    top.rename(repo_dir)
    staging.rmdir()
    porcelain.init(str(repo_dir))
    _commit(repo_dir, b'Import the release sdist')


def new_commit(repo_dir: Path, number: int) -> str:
    """Add one commit that changes a file; returns its short id."""
    with open(repo_dir / 'BENCHMARK.txt', 'a') as stream:
        stream.write(f'change {number}\n')
    return _commit(repo_dir, f'Benchmark change {number}'.encode())


def head_short(repo_dir: Path) -> str:
    with Repo(str(repo_dir)) as repo:
        return repo.head().decode()[:7]


def _commit(repo_dir: Path, message: bytes) -> str:
    files = [str(p) for p in sorted(repo_dir.rglob('*'))
             if p.is_file() and '.git' not in p.relative_to(repo_dir).parts]
    with Repo(str(repo_dir)) as repo:
        porcelain.add(repo, paths=files)
        porcelain.commit(repo, message=message, author=AUTHOR,
                         committer=AUTHOR)
    return head_short(repo_dir)
