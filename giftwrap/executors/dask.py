"""The ``dask`` executor: each (project, target) job a task on a Dask cluster.

Planning, the warm reuse check, the lock merge, the index and the SBOMs'
publication stay here; the workers build.  A job's files stay on its
worker until the client pulls them in chunks (tasks pinned to that worker)
or read them from the artifact store, and are published into the output
directory as a local build publishes them: SBOM, artifact, index entry.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

from giftwrap import errors
from giftwrap.package.builder import Publisher
from giftwrap.plugins import Option
from giftwrap.executors import remote
from giftwrap.executors.base import Executor, JobResult
from giftwrap.executors.homecoming import Lost, bring_home
from giftwrap.run import warm
from giftwrap.run.job import FAILED, Job, Outcome
from giftwrap.resolve.http import HttpClient

LOG = logging.getLogger(__name__)

#: The worker resource that, when workers declare it, bounds the jobs each
#: runs at once (leaving threads free for the artifacts' chunks).
RESOURCE = 'build'


class ExecutorError(errors.BuildError):
    """The cluster cannot run the jobs: unreachable, or workers that
    would not build the same thing."""


class DaskExecutor(Executor):
    """Run each job as a task on a Dask cluster's workers (giftwrap[dask])."""

    options = {
        'scheduler': Option(str, help='tcp://HOST:PORT or tls://HOST:PORT'),
        'artifact_store': Option(str, help='an fsspec URL the workers write '
                                           'artifacts to (file://, s3://...)'),
        'tls_ca_file': Option(str, help='the CA of the cluster\'s certificates'),
        'tls_cert': Option(str, help='this client\'s certificate'),
        'tls_key': Option(str, help='its private key'),
    }

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        address = options.get('scheduler') or ''
        if not re.match(r'^(tcp|tls)://[^/]+\Z', address):
            raise errors.DriverError(
                f'the dask executor needs a scheduler address, not '
                f'{address!r}', where='--scheduler',
                hint='--scheduler tls://HOST:8786 (or tcp:// on a trusted '
                     'network)')
        tls = [k for k in ('tls_ca_file', 'tls_cert', 'tls_key')
               if options.get(k)]
        if tls and address.startswith('tcp://'):
            raise errors.DriverError(
                'TLS certificates were given for a plain tcp:// scheduler',
                where='--scheduler', hint='use tls://HOST:PORT')
        for key in tls:
            if not os.path.isfile(options[key]):
                raise errors.DriverError(
                    f'{options[key]} does not exist',
                    where='--' + key.replace('_', '-'),
                    hint='give the PEM file of the certificate or key')

    def __init__(self, context):
        super().__init__(context)
        self.client = None
        self.resources: dict[str, int] | None = None
        self._order: dict[str, int] = {}  # task key -> its place in the summary
        self._memos: dict[str, tuple | None] = {}  # see giftwrap.run.warm
        self.run_id = time.strftime('%Y%m%d-%H%M%S-') + uuid.uuid4().hex[:8]

    # -- connecting and checking -------------------------------------------

    def check(self) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise errors.DriverError(
                f'the dask executor needs Dask distributed: {exc}',
                where='--executor', hint='pip install giftwrap[dask]')
        settings = self.context.settings
        address = settings['scheduler']
        if address.startswith('tcp://') and not re.match(
                r'^tcp://(127\.|localhost:|\[::1\])', address):
            LOG.warning('%s is not encrypted: whoever reaches it can run code '
                        'on its workers; use tls://', address)
        try:
            self.client = distributed.Client(
                address, security=self._security(distributed),
                timeout=30, set_as_default=False)
            self.client.wait_for_workers(1, timeout=60)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(
                f'cannot use the Dask cluster at {address}: {exc}',
                where='--scheduler',
                hint='start a scheduler and workers (see '
                     'doc/source/distributed.rst); with tls:// give '
                     '--tls-ca-file, --tls-cert and --tls-key') from None
        workers = self.client.scheduler_info(n_workers=-1)['workers']
        if any(RESOURCE in w.get('resources', {}) for w in workers.values()):
            self.resources = {RESOURCE: 1}
        self._compare(self.client.run(remote.facts, *self._needs()))

    def _security(self, distributed):
        settings = self.context.settings
        if not settings['scheduler'].startswith('tls://'):
            return None
        if not settings.get('tls_cert'):
            return distributed.Security()  # Dask's configuration
        return distributed.Security(
            tls_ca_file=settings.get('tls_ca_file'),
            tls_client_cert=settings['tls_cert'],
            tls_client_key=settings.get('tls_key'), require_encryption=True)

    def _needs(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        projects = self.context.plan.projects
        pythons = tuple(sorted({str(p.interpreter.path) for p in projects
                                if p.interpreter is not None}))
        local = tuple(sorted({p.project.giturl for p in projects
                              if _local(p.project.giturl)}))
        return pythons, local

    def _compare(self, found: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse workers that would not build what this machine would."""
        ours = remote.facts(*self._needs())
        hosted = any(not p.targets for p in self.context.plan.projects)
        keys = ['giftwrap', 'python', 'drivers', 'interpreters'] + (
            ['distribution'] if hosted else [])
        problems = []
        for worker, theirs in sorted(found.items()):
            for key in keys:
                if theirs[key] != ours[key]:
                    problems.append(f'{worker}: {key} '
                                    f'{_difference(theirs[key], ours[key])}')
            for url in theirs['unreadable']:
                problems.append(f'{worker}: cannot read the local giturl '
                                f'{url}')
        if problems:
            raise ExecutorError(
                'workers that would not build the same thing: ' +
                '; '.join(problems), where='--scheduler',
                hint='install the same giftwrap, drivers and interpreters '
                     'on every worker (the same image), and give projects '
                     'giturls the workers can fetch')

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # -- running ----------------------------------------------------------

    def run(self, projects: Sequence) -> dict[str, JobResult]:
        from distributed import Event
        results = self._reused(projects)
        stop = Event(f'giftwrap-stop-{self.run_id}', client=self.client)
        futures = {}
        try:
            for pp in projects:
                if pp.project.name not in results:
                    for task in self._tasks(pp, stop.name):
                        self._order[task.key] = len(self._order)
                        futures[self._submit(task)] = (pp, task, 0)
            return self._gather(futures, results)
        except KeyboardInterrupt:
            self._stop(stop, list(futures))
            raise

    def _reused(self, projects) -> dict[str, JobResult]:
        """The unchanged projects' results, checked here (never sent).

        A project with no artifact recorded with a memo cannot be
        unchanged: its mirror is not updated here (the worker's job
        computes the memo it records, see :func:`remote.build`).
        """
        ctx = self.context
        http = HttpClient(ctx.options.cache_dir, offline=ctx.options.offline)
        jobs = {p.project.name: Job(ctx.plan, p, ctx.options, http, {},
                                    ctx.progress)
                for p in projects if warm.possible(p)}
        with concurrent.futures.ThreadPoolExecutor(
                max(1, ctx.options.jobs)) as pool:
            found = dict(zip(jobs, pool.map(_warm, jobs.values())))
        http.close()
        self._memos = {n: w.memo for n, w in found.items()}
        return {name: (w.outcomes, {}) for name, w in found.items()
                if w.outcomes is not None}

    def _tasks(self, pp, stop: str) -> list[remote.Task]:
        """One task per target (or one for this machine's kind)."""
        files = shipped(pp.project)
        parts = [(t.name, dataclasses.replace(pp, targets=(t,)))
                 for t in pp.targets] or [(None, pp)]
        return [remote.Task(self.run_id, f'{pp.project.name}@{name}' if name
                            else pp.project.name, self.context.plan, part,
                            self.context.options, files, stop,
                            self.context.settings.get('artifact_store') or '',
                            self._memos.get(pp.project.name))
                for name, part in parts]

    def _submit(self, task: remote.Task):
        self.context.progress(task.key, 'sent to the Dask cluster')
        return self.client.submit(remote.build, task, pure=False,
                                  key=f'giftwrap-{self.run_id}-{task.key}-'
                                      f'{uuid.uuid4().hex[:6]}',
                                  resources=self.resources)

    def _gather(self, futures, results) -> dict[str, JobResult]:
        from distributed import as_completed
        parts: dict[str, list] = {}
        pending = as_completed(list(futures), loop=self.client.loop)
        for future in pending:
            pp, task, tries = futures.pop(future)
            found = self._finish(future, pp, task)
            if found is None and tries < 1:  # its worker left with the files
                retry = self._submit(task)
                futures[retry] = (pp, task, tries + 1)
                pending.add(retry)
                continue
            parts.setdefault(pp.project.name, []).append(
                (task.key, found or _failed(pp, task, 'its worker left before '
                                            'its artifacts came home')))
        for name, found in parts.items():
            found.sort(key=lambda kv: self._order.get(kv[0], 0))
            results[name] = ([o for _, r in found for o in r[0]],
                             {k: v for _, r in found for k, v in r[1].items()})
        return results

    def _finish(self, future, pp, task) -> JobResult | None:
        """Bring the task's files home; None: they are lost, run it again."""
        try:
            done = future.result()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # KilledWorker, or a task that broke
            LOG.debug('task %s failed', task.key, exc_info=True)
            return _failed(pp, task, f'{type(exc).__name__}: {exc}')
        if not done.out_dir and not done.stored:
            return done.outcomes, done.entries
        try:
            result = bring_home(self, done, pp, task)
        except Lost:
            return None
        from distributed import fire_and_forget
        fire_and_forget(self.client.submit(
            remote.discard, self.run_id, task.key, workers=[done.worker],
            pure=False))
        self.context.progress(task.key, f'built on {done.worker}')
        return result

    def pull(self, worker: str, path: str, dest: Path) -> None:
        """Copy ``path`` on ``worker`` to ``dest``, a chunk at a time."""
        with open(dest, 'wb') as out:
            offset = 0
            while True:
                future = self.client.submit(
                    remote.read_chunk, path, offset, workers=[worker],
                    allow_other_workers=False, pure=False)
                try:
                    data = future.result(timeout=300)
                except Exception as exc:
                    raise Lost(worker) from exc
                finally:
                    future.release()
                out.write(data)
                offset += len(data)
                if len(data) < remote.CHUNK:
                    return

    def _stop(self, stop, futures) -> None:
        """Ctrl-C: the running jobs stop their processes; none starts."""
        stop.set()
        self.client.cancel([f for f in futures if not f.done()])
        deadline = time.monotonic() + 2 * remote.POLL + 10
        while time.monotonic() < deadline and \
                not all(f.done() for f in futures):
            time.sleep(0.2)  # the running ones notice the event
        Publisher.discard_all()


def _failed(pp, task, message: str) -> JobResult:
    exc = errors.BuildError(message, where=f'project {task.key} (dask)',
                            hint='see the workers\' logs; a worker that '
                                 'died too often is given up '
                                 '(distributed.scheduler.allowed-failures)')
    names = ['lock'] if task.options.lock_only else [
        c.name for c in pp.builders]
    return [Outcome(task.key, n, FAILED, message=str(exc), error=exc)
            for n in names], {}


def _warm(job: Job) -> warm.Warm:
    try:
        return job.warm()
    except Exception:  # the worker's job will fail, and say why
        LOG.debug('reuse check of %s', job.name, exc_info=True)
        return warm.Warm()


def _local(url: str) -> bool:
    return url.startswith('file://') or not (
        re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', url) or
        re.match(r'^[^/]+@[^/]+:', url))


def _difference(theirs, ours) -> str:
    if isinstance(theirs, dict) and isinstance(ours, dict):
        keys = sorted(k for k in set(theirs) | set(ours)
                      if theirs.get(k) != ours.get(k))
        return ', '.join(f'{k}: {theirs.get(k, "missing")} there, '
                         f'{ours.get(k, "missing")} here' for k in keys)
    return f'{theirs} there, {ours} here'


def shipped(project) -> dict[str, bytes]:
    """The files below the manifest's directory that the project's values
    name (patches, templates): a worker has no copy of the manifest's
    directory."""
    return files_named(Path(project.manifest_dir),
                       _strings(dataclasses.asdict(project)))


def files_named(directory: Path, values) -> dict[str, bytes]:
    """The files below ``directory`` that ``values`` name (relative)."""
    base = directory.resolve()
    found: dict[str, bytes] = {}
    for value in values:
        value = value.strip()
        if not value or '\0' in value or len(value) > 4096:
            continue
        path = (base / value).resolve()
        if base in path.parents and path.is_file():
            found[str(path.relative_to(base))] = path.read_bytes()
    return found


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)
