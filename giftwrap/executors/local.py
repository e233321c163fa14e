"""The ``local`` executor: this machine, ``-j`` jobs at a time, in threads.

Threads only wait for child processes; builders that declare themselves
not parallel-safe are serialized.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Sequence

from giftwrap.executors.base import Executor, JobResult
from giftwrap.run.job import Job
from giftwrap.util.process import Runner
from giftwrap.resolve.http import HttpClient


class LocalExecutor(Executor):
    """Run the jobs on this machine, -j at a time (the default)."""

    def check(self) -> None:
        """Nothing to check: the plan checked this machine already."""

    def run(self, projects: Sequence) -> dict[str, JobResult]:
        plan, options = self.context.plan, self.context.options
        serial = {c.driver: threading.Lock() for p in projects
                  for c in p.builders if not c.driver.parallel_safe}
        http = HttpClient(options.cache_dir, offline=options.offline)
        results = {}
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, options.jobs))
        try:
            futures = {pool.submit(Job(plan, p, options, http, serial,
                                       self.context.progress).run): p
                       for p in projects}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future].project.name] = future.result()
        except KeyboardInterrupt:
            # Stop every child and start no more; workers blocked on the
            # network are not waited for: the caller removes the work
            # directory and partial artifacts, then exits.
            Runner.terminate_all()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        http.close()
        return results
