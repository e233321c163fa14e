"""Publishing what a remote job built into this machine's output directory.

Each artifact comes home with its SBOM (from its worker, a chunk at a time,
or from the artifact store), is staged beside its final name, and is
committed as a local build commits it: SBOM, artifact, then its entry in
the output directory's index.  An artifact already there from the same
inputs is kept (reused); another one of that name is refused as locally.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from giftwrap.run import reuse
from giftwrap.package.builder import ArtifactExists, Publisher
from giftwrap.run.outcome import BUILT, FAILED, REUSED

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.executors.remote import Done, Task

LOG = logging.getLogger(__name__)


class Lost(Exception):
    """A worker left before its files came home."""


@dataclasses.dataclass
class _Trip:
    """One task's files on their way home."""

    executor: Any
    done: 'Done'
    task: 'Task'
    out: Path
    incoming: Path

    def fetch(self, rel: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.done.stored:
            import fsspec
            with fsspec.open(f'{self.done.stored}/{rel}', 'rb') as src, \
                    open(dest, 'wb') as dst:
                shutil.copyfileobj(src, dst, 4 << 20)
        else:
            self.executor.pull(self.done.worker,
                               f'{self.done.out_dir}/{rel}', dest)


def bring_home(executor, done: 'Done', pp, task: 'Task'):
    """Publish ``done``'s artifacts; returns its outcomes and lock entries
    as this machine sees them.

    :raises Lost: the worker left before the files were read.
    """
    options = executor.context.options
    trip = _Trip(executor, done, task, pp.project.output_dir,
                 options.work_dir / 'incoming' / task.key.replace('/', '_'))
    published = {}
    try:
        for reldir, index in sorted(done.index.items()):
            for name, entry in sorted(index.items()):
                published[name] = _publish(trip, reldir, name, entry,
                                           pp.project.force_overwrite)
    finally:
        shutil.rmtree(trip.incoming, ignore_errors=True)
        if done.stored:
            _forget(done.stored)
    log = _log_home(executor, done, options.log_dir / f'{task.key}.log')
    return _outcomes(trip, published, log)


def _publish(trip: _Trip, reldir: str, name: str, entry: Mapping[str, Any],
             replace: bool):
    """One index entry's artifact and its SBOM(s): (status, path or error)."""
    project, _, builder = name.rpartition('/')
    out = trip.out / reldir
    artifact = entry.get('artifact')
    if not reuse.plain_name(artifact):
        return FAILED, ArtifactExists(out / str(artifact))
    found = reuse.reusable(out, project, builder, entry['inputs'])
    if found is not None:
        return REUSED, found
    names = [f for f in _files_of(trip.done.files, reldir)
             if f == artifact or f.startswith(artifact + '.')]
    publisher = Publisher()
    try:
        for file in names:
            rel = file if reldir == '.' else f'{reldir}/{file}'
            trip.fetch(rel, trip.incoming / rel)
            publisher.stage(trip.incoming / rel, out, file, replace=replace)
        for file in sorted(names, key=lambda f: f == artifact):
            publisher.commit(out / file)  # the artifact last
    except ArtifactExists as exists:
        publisher.discard()
        return FAILED, ArtifactExists(exists.path, reuse.changed(
            out, exists.path.name, entry['inputs']))
    except BaseException:
        publisher.discard()
        raise
    reuse.record(out, project, builder, entry['inputs'], out / artifact,
                 entry.get('sha256'))
    if entry.get('memo'):
        reuse.remember(out, project, builder, entry['inputs'], entry['memo'])
    return BUILT, out / artifact


def _files_of(files, reldir: str) -> list[str]:
    return [str(Path(f).name) for f in files
            if str(Path(f).parent) == reldir]


def _outcomes(trip: _Trip, published, log: str):
    done, outcomes, entries = trip.done, [], dict(trip.done.entries)
    for row in done.outcomes:
        status, found = published.get(f'{row.project}/{row.builder}',
                                      (None, None))
        message = _here(trip, row.message, log)
        if status == REUSED:
            row = dataclasses.replace(
                row, status=REUSED, artifact=str(found),
                message='inputs unchanged since it was built')
        elif status == FAILED:
            found.at_stage(f'project {row.project} (package with '
                           f'{row.builder})')
            row = dataclasses.replace(row, status=FAILED, artifact='',
                                      message=str(found), error=found)
            entries.pop(row.project, None)
        else:
            row = dataclasses.replace(row, message=message, artifact=_here(
                trip, row.artifact, log) if status is None else str(found))
        outcomes.append(row)
    return outcomes, entries


def _here(trip: _Trip, text: str, log: str) -> str:
    """``text`` with the worker's paths replaced by this machine's."""
    done = trip.done
    for theirs, ours in ((done.log, log), (done.out_dir, str(trip.out)),
                         (done.manifest_dir, str(trip.task.pp.project
                                                 .manifest_dir))):
        if theirs and ours:
            text = text.replace(theirs, ours)
    return text


def _log_home(executor, done: 'Done', dest: Path) -> str:
    """The job's log, copied here (its worker keeps its own)."""
    if not done.log:
        return ''
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        executor.pull(done.worker, done.log, dest)
    except Lost:
        LOG.warning('the log of %s stayed on %s: %s', dest.stem, done.worker,
                    done.log)
        return ''
    with open(dest, 'a', encoding='utf-8') as handle:
        handle.write(f'== built on {done.worker}\n')
    return str(dest)


def _forget(prefix: str) -> None:
    import fsspec
    fs, path = fsspec.core.url_to_fs(prefix)
    try:
        fs.rm(path, recursive=True)
    except OSError:
        LOG.warning('could not remove %s from the artifact store', prefix)
