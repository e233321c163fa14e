"""One builder's artifact: the driver, then its SBOM, then publication.

What the builder writes waits, staged, for its SBOM; then it is renamed
into place, then recorded in the artifact index.  Nothing partial stays:
no artifact without its SBOM and index entry.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Mapping

from giftwrap import errors
from giftwrap.package.builder import ArtifactExists, BuildContext, Publisher
from giftwrap.projectinfo import ProjectInfo
from giftwrap.run import reuse
from giftwrap.run.inputs import Built, Inputs, Variant
from giftwrap.run.outcome import BUILT, Outcome, Progress
from giftwrap.util.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from giftwrap.plan.planner import Choice
    from giftwrap.util.process import Runner


def package(choice: 'Choice', inputs: Inputs, built: Built, key: str,
            variant: Variant, *, runner: 'Runner', log_file: 'Path',
            serial: Mapping[type, threading.Lock], progress: Progress,
            offline: bool) -> Outcome:
    """Run one builder on the staged tree; its outcome (never raises for
    the builder's own failure)."""
    project = inputs.project
    progress(variant.key, f'package ({choice.name})')
    publisher = Publisher()
    # Packaging runs on this machine (runner), for the variant's
    # interpreter, into its output directory.
    context = BuildContext(
        project_info=ProjectInfo.of(project), legacy_project=project,
        package=built.description, interpreter=variant.interpreter,
        checkout=inputs.checkout, pins=inputs.pins, options=choice.options,
        work_dir=variant.work / 'build' / choice.name,
        output_dir=variant.output_dir, runner=runner,
        source_date_epoch=inputs.source_date_epoch, publisher=publisher,
        offline=offline)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    stage = f'project {variant.key} (package with {choice.name})'
    started = time.monotonic()
    written = committed = None
    try:
        with serial.get(choice.driver) or contextlib.nullcontext():
            artifact = choice.driver(context).build(built.tree)
        if artifact.path is not None:
            digest = sha256_file(publisher.staged(artifact.path))
            written = _sbom(artifact.path, digest, inputs, built)
            publisher.commit(artifact.path)
            committed = artifact.path
            reuse.record(variant.output_dir, variant.key, choice.name, key,
                         artifact.path, digest)
    except ArtifactExists as exists:
        publisher.discard()
        exc = ArtifactExists(exists.path, reuse.changed(
            variant.output_dir, exists.path.name, key))
        return Outcome.failed(variant.key, choice.name, exc.at_stage(stage))
    except BaseException as exc:
        publisher.discard()
        for path in (written, committed):
            if path is not None:
                path.unlink(missing_ok=True)
        if not isinstance(exc, errors.GiftwrapError):
            raise
        return Outcome.failed(variant.key, choice.name, exc.at_stage(stage),
                              log_file)
    runner.note(f'== package with {choice.name}: '
                f'{time.monotonic() - started:.2f} s')
    return Outcome(variant.key, choice.name, BUILT,
                   artifact=str(artifact.path or artifact.name),
                   message=built.note)


def read_contents(venv_dir: 'Path', report) -> Future:
    """Start reading what every SBOM of the virtualenv says of it (and
    importing cyclonedx, slow) on a thread of its own: a future of
    :func:`giftwrap.trust.sbom.contents`.

    Call it once the staged virtualenv's distributions are final; the
    later stages run meanwhile, mostly in other processes.
    """
    def read():
        from giftwrap.trust import sbom  # cyclonedx is slow to import
        return sbom.contents(venv_dir, report)

    pool = ThreadPoolExecutor(1, thread_name_prefix='sbom-contents')
    try:
        return pool.submit(read)
    finally:
        pool.shutdown(wait=False)


def _sbom(path: 'Path', digest: str, inputs: Inputs,
          built: Built) -> 'Path':
    """Write the artifact's SBOM beside it; the SBOM's path."""
    from giftwrap.trust import sbom  # cyclonedx is slow to import
    return sbom.write(
        path, project=inputs.project, checkout=inputs.checkout,
        report=built.report, package_description=built.description,
        venv_dir=built.tree.venv, patches=inputs.applied,
        epoch=inputs.source_date_epoch,
        digest=digest,
        system_python=built.system_python,
        read=built.sbom.result() if built.sbom is not None else None)
