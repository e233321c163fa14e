"""Verifying packages on a clean image: install them as an operator would.

Each .deb or .rpm is installed with its distribution's own package manager
(``apt-get install -y ./x.deb`` after ``apt-get update``, ``dnf install -y
./x.rpm``) into a fresh container of its build target's image (or the image
given on the command line), then the project's ``smoke`` commands run there.
The report says per artifact whether it passed, which packages the install
added (recommends included, as an operator's apt-get installs them) and the
output tail of what failed.  Every container is removed, whatever happens.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shlex
import uuid
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from giftwrap import errors
from giftwrap.manifest import templating
from giftwrap.plan import targets
from giftwrap.run import reuse
from giftwrap.trust import lockfile
from giftwrap.util import containers as engines
from giftwrap.util.process import Result, Runner

LOG = logging.getLogger(__name__)

PASSED, FAILED, NOT_VERIFIED = 'passed', 'failed', 'not verified'
#: The report's columns; ``Details`` (a failure's output tail) and ``Hint``
#: are shown below a table, not in it.
COLUMNS = ('Artifact', 'Image', 'Status', 'Added', 'Packages', 'Message',
           'Details', 'Hint')

#: Where the artifact appears (read-only) inside the container; the host's
#: CA bundle appears at :data:`giftwrap.plan.targets.CA_IN_CONTAINER`, not over
#: the image's own (a package updating that must not find it read-only).
ARTIFACT_DIR = '/run/giftwrap/verify'
#: How the containers verify makes are named.
CONTAINER_PREFIX = 'giftwrap-verify-'
_OUTPUT_LINES = 20

Progress = Callable[[str, str], None]


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A package file and the build it came from.

    :ivar key: the project as the build named it (``nova``, or
        ``nova@bookworm`` for a target); empty when no record says.
    """

    path: Path
    key: str = ''

    @property
    def format(self) -> str:
        return self.path.suffix.lstrip('.')

    @property
    def project(self) -> str:
        return self.key.partition('@')[0]

    @property
    def target(self) -> str:
        return self.key.partition('@')[2]


@dataclasses.dataclass(frozen=True)
class Options:
    """The command line's choices.

    :ivar image: the image for .deb files that no target gives one.
    :ivar rpm_image: likewise for .rpm files.
    :ivar engine: the container engine (default: as the docker builder).
    :ivar timeout: seconds each smoke command may take.
    """

    image: str | None = None
    rpm_image: str | None = None
    engine: str | None = None
    isolation: str | None = None
    timeout: float = 600


@dataclasses.dataclass(frozen=True)
class Check:
    """What to do for one artifact: on which image, with which commands.

    :ivar image: None: there is none for its format (not verified).
    :ivar note: why the smoke commands are not run, if they are not.
    """

    artifact: Artifact
    image: str | None
    engine: str | None = None
    isolation: str | None = None
    smoke: tuple[tuple[str, ...], ...] = ()
    note: str = ''


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One row of the report."""

    artifact: Path
    image: str
    status: str
    added: tuple[str, ...] = ()
    #: one line; a failure's says what failed
    message: str = ''
    #: a failure's further lines: the failing command's output tail
    details: str = ''
    hint: str = ''

    def row(self) -> tuple:
        """The report's row (:data:`COLUMNS`); the packages as a tuple."""
        return (str(self.artifact), self.image, self.status, len(self.added),
                self.added, self.message, self.details, self.hint)


# -- what to verify -------------------------------------------------------

def find(output_dir: Path) -> list[Artifact]:
    """The .deb and .rpm files of an output directory (and of its targets'
    subdirectories), each with the project its index records.

    :raises giftwrap.errors.GiftwrapError: not a directory, or no packages.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise errors.GiftwrapError(f'{output_dir} is not a directory',
                                   hint='give the output directory of a build')
    found = []
    for folder in [output_dir, *sorted(p for p in output_dir.iterdir()
                                       if p.is_dir())]:
        owners = reuse.recorded(folder)
        found += [Artifact(path, owners.get(path.name, ''))
                  for path in sorted(folder.iterdir())
                  if path.suffix in ('.deb', '.rpm') and path.is_file()
                  and not path.name.startswith('.')]
    if not found:
        raise errors.GiftwrapError(
            f'{output_dir} holds no .deb or .rpm files', hint='build first')
    return found


def plan(artifacts: Sequence[Artifact], options: Options, manifest=None,
         lock: Mapping[str, lockfile.Entry] | None = None, *,
         image_flag: str = '--image') -> list[Check]:
    """Choose each artifact's image, engine and smoke commands.

    The artifact's build target gives the image (``--image`` and
    ``--rpm-image`` are for artifacts without one); ``--engine`` and
    ``--isolation`` win over the target's.  Checked before any work.

    :param manifest: a loaded :class:`giftwrap.manifest.loader.Manifest`, for the
        smoke commands and targets; None installs only.
    :raises giftwrap.errors.ManifestError: a .deb has no image.
    :raises giftwrap.errors.MissingToolError: the engine is not installed.
    """
    checks = [_check(a, options, manifest, lock or {}) for a in artifacts]
    homeless = [c.artifact.path.name for c in checks
                if c.image is None and c.artifact.format == 'deb']
    if homeless:
        raise _no_image(', '.join(homeless), image_flag)
    _check_engines({(c.engine, c.isolation) for c in checks if c.image})
    return checks


def check_build(the_plan, options: Options, *, image_flag: str) -> None:
    """Before a build that verifies: every project that makes .deb files
    has an image for them, and each engine verify would use is there.

    :raises giftwrap.errors.GiftwrapError: as :func:`plan` would, later.
    """
    used = set()
    for pp in the_plan.projects:
        formats = {c.driver.package_format for c in pp.builders}
        for target in pp.targets:
            if target.format in formats:
                used.add((options.engine or target.engine,
                          options.isolation or target.isolation))
        if not pp.targets and (options.image or options.rpm_image):
            used.add((options.engine, options.isolation))
        if 'deb' in formats and not options.image and not pp.targets:
            raise _no_image(f'the .deb of project {pp.project.name}',
                            image_flag)
    _check_engines(used)


def _no_image(what: str, flag: str) -> errors.ManifestError:
    return errors.ManifestError(
        f'no image to verify {what} on', where=flag,
        hint=f'give {flag} IMAGE, a clean image of the distribution the '
             'packages are for, or build them for targets (their images are '
             'used)')


def _check_engines(pairs) -> None:
    for engine, isolation in pairs:
        engines.choose(engine, engines.Settings(isolation=isolation))


def _check(artifact: Artifact, options: Options, manifest, lock) -> Check:
    fmt = artifact.format
    project = target = None
    note = ''
    if manifest is not None:
        if artifact.project in manifest.names:
            project = _render(manifest, artifact, lock)
            target = next((t for t in targets.parse(
                project.targets, project.where_key('targets'))
                if t.name == artifact.target), None)
        else:
            note = (f'no project {artifact.project!r} in the manifest'
                    if artifact.project else
                    'no build recorded this file') + ': installed only'
    image = target.image if target and target.format == fmt else None
    image = image or (options.image if fmt == 'deb' else options.rpm_image)
    smoke = tuple(project.smoke) if project else ()
    if project is not None and smoke and _unknowable(manifest, artifact,
                                                     lock, smoke):
        note = ('the smoke commands need values of the clone (commit_date, '
                'source_version, patches) that the output directory does '
                'not record: not run')
        smoke = ()
    return Check(artifact, image,
                 engine=options.engine or (target.engine if target else None),
                 isolation=options.isolation or (
                     target.isolation if target else None),
                 smoke=smoke, note=note)


def _source(artifact: Artifact, lock, sample: Mapping[str, str]
            ) -> dict[str, str]:
    """Template values of the clone: the lock's commit, stand-ins else."""
    source = dict(sample)
    entry = lock.get(artifact.key) or lock.get(artifact.project)
    if entry is not None:
        source.update(commit=entry.commit, commit_short=entry.commit[:7])
    return source


_OTHER_SAMPLE = {**templating.SAMPLE_SOURCE, 'commit_date': '20240202010101',
                 'source_version': '0.0.2', 'patch_count': '1',
                 'patches_digest': '11111111'}


def _render(manifest, artifact, lock, sample=templating.SAMPLE_SOURCE):
    return manifest.render(artifact.project, _source(artifact, lock, sample))


def _unknowable(manifest, artifact, lock, smoke) -> bool:
    """Whether the smoke commands change with clone values nobody kept."""
    return tuple(_render(manifest, artifact, lock, _OTHER_SAMPLE).smoke) != smoke


# -- verifying ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Manager:
    """A distribution's package manager, as verify drives it."""

    probe: tuple[str, ...]
    update: tuple[str, ...] | None
    install: tuple[str, ...]
    installed: tuple[str, ...]
    ca_option: str
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: ``installed`` prints dpkg's status abbreviation before each name
    with_status: bool = False

    def argv(self, base: tuple[str, ...], ca: str | None) -> list[str]:
        return [*base[:2], *([self.ca_option + ca] if ca else []), *base[2:]]

    def packages(self, output: str) -> set[str]:
        """The installed packages in ``installed``'s output."""
        found = set()
        for line in output.splitlines():
            words = line.split()
            if not self.with_status and len(words) == 1:
                found.add(words[0])
            # "ii name": only the second letter says "installed"; removed
            # packages whose configuration remains (rc) are not
            elif self.with_status and len(words) == 2 and words[0][1:2] == 'i':
                found.add(words[1])
        return found


_MANAGERS = {
    'deb': _Manager(
        probe=('apt-get', '--version'), update=('apt-get', 'update'),
        install=('apt-get', 'install', '-y'),
        installed=('dpkg-query', '-W', '--showformat=${db:Status-Abbrev} ${Package}\\n'),
        ca_option='-oAcquire::https::CaInfo=',
        env={'DEBIAN_FRONTEND': 'noninteractive'}, with_status=True),
    'rpm': _Manager(
        probe=('dnf', '--version'), update=None,
        install=('dnf', 'install', '-y'),
        installed=('rpm', '-qa', '--queryformat=%{NAME}\\n'),
        ca_option='--setopt=sslcacert='),
}


class _Box:
    """Commands in one container, which it removes when closed."""

    def __init__(self, engine: engines.Engine, handle: str,
                 mounts: Sequence[tuple[str, str, bool]], runner: Runner):
        self.engine, self.handle, self.mounts = engine, handle, mounts
        self.runner = runner
        #: False once the engine said it made no container
        self.created = True

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
            timeout: float | None = None) -> Result:
        wrapped = self.engine.exec_command(self.handle, list(argv),
                                           mounts=self.mounts, env=env or {})
        result = self.runner.run(wrapped, env=engines.engine_environment(),
                                 check=False, timeout=timeout,
                                 what=Path(argv[0]).name)
        return dataclasses.replace(
            result, output=self.engine.command_output(result.output))

    def close(self) -> None:
        try:
            removed = self.engine.remove_container(self.handle)
        except errors.GiftwrapError:  # interrupted: no new command starts
            removed = False
        if not removed:
            LOG.warning('could not remove the container %s: remove it with '
                        '"%s rm %s"', self.handle, self.engine.name,
                        self.handle)


def run(checks: Iterable[Check], runner: Runner | None = None,
        progress: Progress | None = None, timeout: float = 600
        ) -> list[Outcome]:
    """Verify every check, one after the other; never raises for one
    artifact's failure (it is a ``failed`` outcome)."""
    runner = runner or Runner()
    outcomes = []
    for check in checks:
        if progress:
            progress(check.artifact.path.name,
                     f'verify on {check.image or "-"}')
        outcome = verify(check, runner, timeout)
        # the report shows it; the log keeps it for --log-file
        LOG.info('%s on %s: %s %s', check.artifact.path.name,
                 check.image or '-', outcome.status, outcome.message)
        outcomes.append(outcome)
    return outcomes


def verify(check: Check, runner: Runner, timeout: float = 600) -> Outcome:
    """Install one artifact in a fresh container and run its smoke commands.

    The container is removed before this returns or raises (Ctrl-C too).
    """
    artifact = check.artifact
    if check.image is None:
        return Outcome(artifact.path, '', NOT_VERIFIED,
                       message=f'no {artifact.format} image (give '
                               f'--{artifact.format}-image or a target of '
                               f'format {artifact.format})'
                       if artifact.format == 'rpm' else
                       f'no {artifact.format} image')
    engine = engines.make(check.engine, runner,
                          engines.Settings(isolation=check.isolation))
    mounts = [(str(artifact.path.resolve()),
               f'{ARTIFACT_DIR}/{artifact.path.name}', True)]
    ca = _host_ca()
    if ca:
        mounts.append((ca, targets.CA_IN_CONTAINER, True))
    # Named before it exists: a Ctrl-C while it is made still finds it.
    box = _Box(engine, container_name(), mounts, runner)
    try:
        try:
            engine.create(check.image, mounts, box.handle)
        except errors.CommandError as exc:
            box.created = False
            return _failed(check, errors.VerifyError(
                f'cannot start a container of {check.image}',
                where=engine.name, output=exc.output,
                hint='check the image name and the engine\'s registries '
                     f'({engine.name} images lists the local ones)'))
        return _inside(box, check, targets.CA_IN_CONTAINER if ca else None,
                       timeout)
    except errors.GiftwrapError as exc:  # a timeout, an engine failure
        return _failed(check, exc)
    finally:
        if box.created:
            box.close()


def container_name() -> str:
    """A name that says who made the container (and can be found)."""
    return f'{CONTAINER_PREFIX}{uuid.uuid4().hex[:12]}'


def _host_ca() -> str | None:
    # pip, apt and dnf behind this machine's proxy trust what the host does
    return next((c for c in targets.HOST_CA if os.path.isfile(c)), None)


def _inside(box: _Box, check: Check, ca: str | None, timeout: float
            ) -> Outcome:
    artifact = check.artifact
    manager = _MANAGERS[artifact.format]
    probe = box.run(manager.probe)
    if probe.returncode != 0 and not _not_found(probe):
        # the engine could not run anything: say so, not "no apt-get"
        return _failed(check, errors.VerifyError(
            f'{box.engine.name} cannot run commands in a container of '
            f'{check.image}', where=box.engine.name, output=probe.tail(5),
            hint='with buildah or podman on a host without cgroup '
                 'controllers, add --isolation chroot'))
    if probe.returncode != 0:
        return Outcome(artifact.path, check.image, NOT_VERIFIED,
                       message=f'no {artifact.format} image: {check.image} '
                               f'has no {manager.probe[0]}')
    before = manager.packages(box.run(manager.installed).output)
    steps = [manager.update] if manager.update else []
    for step in [*steps, (*manager.install,
                          f'{ARTIFACT_DIR}/{artifact.path.name}')]:
        result = box.run(manager.argv(step, ca), env=manager.env,
                         timeout=timeout)
        if result.returncode != 0:
            return _command_failed(check, result, step[:2], ())
    added = tuple(sorted(manager.packages(box.run(manager.installed).output)
                         - before))
    for command in check.smoke:
        result = box.run(command, timeout=timeout)
        if result.returncode != 0:
            return _command_failed(check, result, command, added, 'smoke ')
    done = (f'{len(check.smoke)} smoke command(s) passed' if check.smoke
            else check.note or 'no smoke commands: installed only')
    return Outcome(artifact.path, check.image, PASSED, added,
                   f'installed; {done}')


def _not_found(result: Result) -> bool:
    """Whether a command failed because the image lacks the program
    (exit 127, or the runtime's "not found"), not for another reason."""
    return result.returncode == 127 or bool(re.search(
        r'executable file .*not found|no such file or directory|command not '
        r'found', result.output, re.IGNORECASE))


def _command_failed(check: Check, result: Result, argv, added, kind=''
                    ) -> Outcome:
    return Outcome(check.artifact.path, check.image, FAILED, added,
                   f'{kind}command {shlex.join(argv)} failed with exit '
                   f'status {result.returncode}',
                   details=result.tail(_OUTPUT_LINES).rstrip())


def _failed(check: Check, exc: errors.GiftwrapError) -> Outcome:
    return Outcome(check.artifact.path, check.image or '', FAILED,
                   message=f'{exc.place}: {exc.what}' if exc.place
                   else exc.what,
                   details=(exc.output or '').rstrip(), hint=exc.hint or '')


def summary_error(outcomes: Sequence[Outcome]) -> errors.VerifyError | None:
    """The error to exit with when any artifact failed (else None)."""
    failed = [o.artifact.name for o in outcomes if o.status == FAILED]
    if not failed:
        return None
    return errors.VerifyError(f'{len(failed)} artifact(s) failed '
                              'verification: ' + ', '.join(failed))


def read_lock(output_dir: Path) -> dict[str, lockfile.Entry]:
    """The output directory's lock entries (none if it has no lock)."""
    path = Path(output_dir) / lockfile.FILENAME
    return lockfile.read(path) if path.is_file() else {}


__all__ = ['Artifact', 'Check', 'Options', 'Outcome', 'COLUMNS', 'find',
           'plan', 'run', 'verify', 'summary_error', 'read_lock']
