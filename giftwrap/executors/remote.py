"""What runs on a Dask worker: a job, the facts the client compares, and
the reading of what the job left there.

The client (:mod:`giftwrap.executors.dask`) pickles a :class:`Task` per
(project, target); :func:`build` runs it as a :class:`giftwrap.run.job.Job`
into a directory of the worker's own cache and answers with a
:class:`Done` naming the files to bring home.  The files stay on the
worker (or go to the artifact store) until the client has them.
"""

from __future__ import annotations

import copyreg
import dataclasses
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import giftwrap
from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.run import reuse
from giftwrap.venv import interpreter
from giftwrap.run.job import Job
from giftwrap.util.process import Runner
from giftwrap.resolve.http import HttpClient

if TYPE_CHECKING:  # pragma: no cover
    from giftwrap.run.build import Options
    from giftwrap.plan.planner import Plan, ProjectPlan

LOG = logging.getLogger(__name__)

#: Bytes a chunk of an artifact carries home (the scheduler never holds a
#: whole package).
CHUNK = 4 << 20

#: How often a running job looks at the client's stop event (seconds).
POLL = 1.0

# The manifest's mappings are read-only views, which pickle cannot copy;
# a task carries them as a view of a copy.
copyreg.pickle(types.MappingProxyType,
               lambda view: (types.MappingProxyType, (dict(view),)))

_SERIAL: dict[type, threading.Lock] = {}
_SERIAL_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Task:
    """One (project, target) job as the client sends it.

    :ivar key: ``nova`` or ``nova@bookworm``: unique in the run.
    :ivar files: the manifest-relative files the project reads (patches,
        templates): relative path -> content.
    :ivar stop: the name of the run's :class:`distributed.Event`.
    :ivar store: the artifact store's URL, or '' to keep files here.
    """

    run_id: str
    key: str
    plan: 'Plan'
    pp: 'ProjectPlan'
    options: 'Options'
    files: Mapping[str, bytes]
    stop: str
    store: str = ''
    #: the client's reuse memo (see :class:`giftwrap.run.job.Job`), recorded
    #: beside the artifacts
    memo: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Done:
    """What a task built, and where its files wait.

    :ivar files: paths relative to ``out_dir`` (or the store's prefix).
    :ivar index: directory relative to ``out_dir`` -> its artifact index.
    """

    worker: str
    outcomes: list
    entries: dict
    out_dir: str
    files: tuple[str, ...]
    index: Mapping[str, Mapping[str, Any]]
    log: str
    manifest_dir: str
    stored: str = ''


def cache_dir() -> Path:
    """This worker's cache directory: ``GIFTWRAP_CACHE_DIR`` (set by the
    preload's ``--cache-dir``), else giftwrap's default."""
    found = os.environ.get('GIFTWRAP_CACHE_DIR')
    if found:
        return Path(found).resolve()
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'giftwrap'


def task_dir(run_id: str, key: str) -> Path:
    return cache_dir() / 'dask' / run_id / key.replace('/', '_')


def build(task: Task) -> Done:
    """Run ``task``'s job here (a Dask task); never raises for the
    project's failure."""
    from distributed import Event, get_client, get_worker
    worker = get_worker().address
    here = task_dir(task.run_id, task.key)
    shutil.rmtree(here, ignore_errors=True)  # an earlier attempt's
    # The watcher thread has no Dask context: give the event its client.
    stop, done = Event(task.stop, client=get_client()), threading.Event()
    with Runner.thread_scope() as scope:
        # made inside the scope: its runner belongs to the scope the
        # watcher stops
        job = _job(task, here)
        watcher = threading.Thread(target=_watch, args=(stop, done, scope),
                                   daemon=True)
        watcher.start()
        try:
            outcomes, entries = job.run()
        finally:
            done.set()
    if scope.stopping:
        shutil.rmtree(here, ignore_errors=True)
        return Done(worker, outcomes, {}, '', (), {}, '', '')
    LOG.info('giftwrap: %s built on %s', task.key, worker)
    return _collect(task, here, worker, outcomes, entries, job)


def _job(task: Task, here: Path) -> Job:
    root = cache_dir()
    manifest_dir = here / 'manifest'
    for name, data in task.files.items():
        path = manifest_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    project = dataclasses.replace(task.pp.project, output_dir=here / 'out',
                                  manifest_dir=manifest_dir)
    options = dataclasses.replace(
        task.options, work_dir=here / 'work', cache_dir=root,
        log_dir=root / 'logs' / task.run_id, lock_out=None)
    serial = {}
    with _SERIAL_LOCK:
        for choice in task.pp.builders:
            if not choice.driver.parallel_safe:
                serial[choice.driver] = _SERIAL.setdefault(
                    choice.driver, threading.Lock())
    return Job(task.plan, dataclasses.replace(task.pp, project=project),
               options, HttpClient(root, offline=options.offline), serial,
               lambda name, stage: LOG.info('giftwrap: [%s] %s', name, stage),
               # Without the client's memo (it saw nothing to reuse), the
               # job's own check computes one; the output directory here
               # is new, so it reuses nothing.
               memo=task.memo, check_unchanged=task.memo is None)


def _watch(stop, done: threading.Event, scope) -> None:
    """Stop the job's processes once the client sets ``stop`` (Dask
    cannot cancel a running task)."""
    while not done.wait(POLL):
        try:
            if stop.is_set():
                scope.terminate()
                return
        except Exception:  # the client or scheduler went away
            LOG.debug('cannot read the stop event', exc_info=True)


def _collect(task, here, worker, outcomes, entries, job) -> Done:
    out = here / 'out'
    files, index = [], {}
    for path in sorted(out.rglob('*')) if out.is_dir() else ():
        rel = path.relative_to(out)
        if path.name == reuse.INDEX:
            index[str(rel.parent)] = json.loads(path.read_text())
        elif path.is_file() and not path.name.startswith('.'):
            files.append(str(rel))
    stored = ''
    if task.store and files:
        stored = f'{task.store.rstrip("/")}/{task.run_id}/{task.key}'
        _upload(out, files, stored)
        shutil.rmtree(out, ignore_errors=True)
    return Done(worker, [dataclasses.replace(o, worker=worker)
                         for o in outcomes], entries, str(out), tuple(files),
                index, str(job.log_file), str(here / 'manifest'), stored)


def _upload(out: Path, files, prefix: str) -> None:
    import fsspec
    for rel in files:
        with open(out / rel, 'rb') as src, \
                fsspec.open(f'{prefix}/{rel}', 'wb', auto_mkdir=True) as dst:
            shutil.copyfileobj(src, dst, CHUNK)


def read_chunk(path: str, offset: int, size: int = CHUNK) -> bytes:
    """``size`` bytes of ``path`` from ``offset`` (a task pinned to the
    worker that has the file)."""
    with open(path, 'rb') as handle:
        handle.seek(offset)
        return handle.read(size)


def discard(run_id: str, key: str) -> None:
    """Remove what ``key``'s task left here, once its files are home."""
    here = task_dir(run_id, key)
    shutil.rmtree(here, ignore_errors=True)
    for parent in (here.parent, here.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


def facts(interpreters: tuple[str, ...] = (),
          giturls: tuple[str, ...] = ()) -> dict[str, Any]:
    """What must be the same here as on the client for a job to build the
    same thing: giftwrap, its drivers, Python, the distribution and the
    interpreters the packages depend on; and the local giturls this
    machine cannot read."""
    found = {
        'giftwrap': giftwrap.__version__,
        'python': platform.python_version(),
        'drivers': _drivers(),
        'distribution': _distribution(),
        'interpreters': {p: _interpreter(p) for p in interpreters},
        'unreadable': [u for u in giturls if not _readable(u)],
        'cache_dir': str(cache_dir()),
    }
    return found


def _drivers() -> dict[str, str]:
    found = {}
    for group in (drivers.BUILDERS, drivers.RESOLVERS, drivers.EXECUTORS):
        for ep in importlib.metadata.entry_points(group=group):
            dist = ep.dist
            found[f'{group} {ep.name}'] = (
                f'{dist.name} {dist.version}' if dist else ep.value)
    return dict(sorted(found.items()))


def _distribution() -> str:
    try:
        text = Path('/etc/os-release').read_text()
    except OSError:
        return 'unknown'
    values = dict(line.split('=', 1) for line in text.splitlines()
                  if '=' in line)
    return ' '.join(values.get(k, '').strip('"') for k in ('ID', 'VERSION_ID'))


def _interpreter(path: str) -> str:
    try:
        found = interpreter.resolve(path, Runner())
    except errors.GiftwrapError as exc:
        return f'unusable ({exc.what})'
    return f'{found.path} {found.version} {found.soabi} {found.owner or "-"}'


def _readable(url: str) -> bool:
    path = url[len('file://'):] if url.startswith('file://') else url
    return os.access(path, os.R_OK | os.X_OK)
