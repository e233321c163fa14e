"""giftwrap verify: the smoke key, choosing images, driving the engine, the
report (with a recording runner: no container is started)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from giftwrap import errors, testing
from giftwrap.manifest import loader as manifest
from giftwrap.run import reuse
from giftwrap.run import verify
from giftwrap.util import containers as engines
from giftwrap.util.process import Result

IMAGE = 'localhost/debian:bookworm'


def write_manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return path


# -- the smoke key ----------------------------------------------------------

def test_smoke_is_templated_and_a_project_replaces_the_settings(tmp_path):
    path = write_manifest(tmp_path, """
        settings:
          version: '1.0-1'
          base_path: /opt/os/{{ version }}
          smoke: [['{{ project.install_path }}/bin/nova-manage', '--help']]
        projects:
          - name: nova
          - name: glance
            smoke: [[glance-manage, db, version], [true]]
        """.replace('[true]', "['true']"))
    loaded = manifest.load(path)
    assert loaded.render('nova').smoke == (
        ('/opt/os/1.0-1/nova/bin/nova-manage', '--help'),)
    assert loaded.render('glance').smoke == (
        ('glance-manage', 'db', 'version'), ('true',))


@pytest.mark.parametrize('value,message', [
    ("'nova-manage --help'", "'smoke' must be a list"),
    ("[nova-manage]", "every item of 'smoke' must be a list"),
    ("[[]]", "non-empty list of strings"),
    ("[[nova-manage, 8080]]", "non-empty list of strings"),
])
def test_bad_smoke_names_its_line(tmp_path, value, message):
    path = write_manifest(tmp_path, f"""
        settings:
          version: '1.0-1'
        projects:
          - name: nova
            smoke: {value}
        """)
    with pytest.raises(errors.ManifestError) as info:
        manifest.load(path)
    assert message in str(info.value)
    assert info.value.where.endswith('manifest.yml:6')


def test_smoke_does_not_change_the_artifact_key(tmp_path):
    def key(smoke):
        path = write_manifest(tmp_path, f"""
            settings: {{version: '1.0-1', smoke: {smoke}}}
            projects: [{{name: nova}}]
            """)
        project = manifest.load(path).render('nova')
        interpreter = type('I', (), {'path': '/usr/bin/python3',
                                     'version': '3.11'})
        return reuse.settings(project, interpreter, 'nfpm-deb', {})
    assert key("[['a']]") == key("[['b', '--help']]")


# -- what to verify, and where -----------------------------------------------

def output_dir(tmp_path: Path) -> Path:
    """An output directory as a build leaves it: index, files, a target."""
    out = tmp_path / 'out'
    (out / 'bookworm').mkdir(parents=True, exist_ok=True)
    for folder, key, name in ((out, 'nova', 'nova_1.0-1_all.deb'),
                              (out, 'nova', 'nova-1.0-1.noarch.rpm'),
                              (out / 'bookworm', 'nova@bookworm',
                               'nova_1.0-1_amd64.deb')):
        (folder / name).write_bytes(b'package')
        index = json.loads((folder / reuse.INDEX).read_text()) \
            if (folder / reuse.INDEX).exists() else {}
        index[f'{key}/builder-{name[-3:]}'] = {'artifact': name}
        (folder / reuse.INDEX).write_text(json.dumps(index))
    (out / 'stray_2.0_all.deb').write_bytes(b'not built here')
    (out / 'nova_1.0-1_all.deb.cdx.json').write_text('{}')
    return out


def test_find_names_each_artifacts_project(tmp_path):
    found = {a.path.name: a.key for a in verify.find(output_dir(tmp_path))}
    assert found == {'nova_1.0-1_all.deb': 'nova',
                     'nova-1.0-1.noarch.rpm': 'nova',
                     'stray_2.0_all.deb': '',
                     'nova_1.0-1_amd64.deb': 'nova@bookworm'}


def test_find_needs_packages(tmp_path):
    with pytest.raises(errors.GiftwrapError, match='no .deb or .rpm'):
        verify.find(tmp_path)


@pytest.fixture
def installed(monkeypatch):
    """Every engine is installed (as far as the plan's check can tell)."""
    monkeypatch.setattr(engines, 'find_tool', lambda name: f'/usr/bin/{name}')
    monkeypatch.setattr(engines.Docker, 'usable',
                        classmethod(lambda cls, path: True))


def test_plan_takes_the_targets_image_and_options_for_the_rest(
        tmp_path, installed):
    path = write_manifest(tmp_path, f"""
        settings:
          version: '1.0-1'
          smoke: [['{{{{ project.install_path }}}}/bin/nova', '--help']]
          targets:
            - {{name: bookworm, image: {IMAGE}, format: deb, engine: podman,
               isolation: chroot}}
        projects: [{{name: nova}}]
        """)

    def plan(**options):
        return {c.artifact.path.name: c for c in verify.plan(
            verify.find(output_dir(tmp_path)),
            verify.Options(image='other:deb', **options), manifest.load(path))}
    checks = plan()
    target = checks['nova_1.0-1_amd64.deb']
    assert (target.image, target.engine, target.isolation) == (
        IMAGE, 'podman', 'chroot')
    # the command line's engine is this machine's choice: it wins
    assert plan(engine='buildah')['nova_1.0-1_amd64.deb'].engine == 'buildah'
    assert target.smoke == (('/opt/openstack/nova/bin/nova', '--help'),)
    assert checks['nova_1.0-1_all.deb'].image == 'other:deb'
    assert checks['nova-1.0-1.noarch.rpm'].image is None
    stray = checks['stray_2.0_all.deb']
    assert stray.smoke == () and 'installed only' in stray.note


def test_a_deb_without_an_image_stops_before_any_work(tmp_path, installed):
    with pytest.raises(errors.ManifestError) as info:
        verify.plan(verify.find(output_dir(tmp_path)), verify.Options())
    assert info.value.where == '--image'
    assert 'nova_1.0-1_all.deb' in info.value.what


def test_a_missing_engine_stops_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, 'find_tool', lambda name: None)
    with pytest.raises(errors.MissingToolError, match='buildah'):
        verify.plan(verify.find(output_dir(tmp_path)),
                    verify.Options(image=IMAGE, engine='buildah'))


def test_smoke_needing_unrecorded_clone_values_is_not_run(tmp_path, installed):
    path = write_manifest(tmp_path, """
        settings:
          version: '1.0+git{{ project.commit_date }}-1'
          base_path: /opt/os/{{ version }}
          smoke: [['{{ project.install_path }}/bin/nova']]
        projects: [{name: nova}]
        """)
    check = next(c for c in verify.plan(
        verify.find(output_dir(tmp_path)), verify.Options(image=IMAGE),
        manifest.load(path)) if c.artifact.path.name == 'nova_1.0-1_all.deb')
    assert check.smoke == ()
    assert 'not run' in check.note


# -- driving the engine ---------------------------------------------------------

def container_runner(results=None, interrupt_on=None) -> testing.RecordingRunner:
    """Plays buildah; ``results`` maps a command inside (its first one or
    two words) to (status, output); ``interrupt_on`` (a command inside,
    or "from") is interrupted."""
    results = results or {}
    installed = []

    def respond(call: testing.Call) -> Result | str | None:
        argv = call.argv
        if argv[1] == 'from':
            assert argv[3] == '--name=giftwrap-verify-1'
            if interrupt_on == 'from':
                raise KeyboardInterrupt  # it may exist by now
            return 'id-1\n'
        if argv[1] != 'run':
            return None
        inside = argv[argv.index('--') + 2:]
        if inside[0] == interrupt_on:
            raise KeyboardInterrupt
        if inside[0] == 'dpkg-query':
            listed = ['ii  base-files', 'rc  gone']
            listed += ['ii  nova', 'ii  libfoo1'] if installed else []
            return '\n'.join(listed) + '\n'
        if 'install' in argv:  # dpkg-query lists the package from now on
            installed.append(argv)
        status, output = results.get(
            ' '.join(inside[:2]), results.get(inside[0], (0, 'ok')))
        return Result(argv, status, output)

    return testing.RecordingRunner(respond=respond)


def inside(runner: testing.RecordingRunner) -> list[tuple[str, ...]]:
    """The commands run in the container."""
    return [a[a.index('--') + 2:] for a in runner.argvs() if a[1] == 'run']


@pytest.fixture(autouse=True)
def named(monkeypatch):
    monkeypatch.setattr(verify, 'container_name', lambda: 'giftwrap-verify-1')


def check(tmp_path, smoke=(), fmt='deb', image=IMAGE) -> verify.Check:
    path = tmp_path / f'nova_1.0-1_all.{fmt}'
    path.write_bytes(b'package')
    return verify.Check(verify.Artifact(path, 'nova'), image, engine='buildah',
                        isolation='chroot', smoke=tuple(smoke))


def test_install_and_smoke_in_one_container(tmp_path, installed):
    runner = container_runner()
    outcome = verify.verify(check(tmp_path, [['/opt/nova/bin/nova', '--help']]),
                            runner)
    assert outcome.status == verify.PASSED
    assert outcome.added == ('libfoo1', 'nova')
    assert outcome.message == 'installed; 1 smoke command(s) passed'
    steps = [c[0] if c[0] != 'apt-get' else ' '.join(
        w for w in c[:2]) for c in inside(runner)]
    assert steps == ['apt-get --version', 'dpkg-query', 'apt-get update',
                     'apt-get install', 'dpkg-query', '/opt/nova/bin/nova']
    install = inside(runner)[3]
    assert install[-1] == f'{verify.ARTIFACT_DIR}/nova_1.0-1_all.deb'
    assert '-y' in install and '--no-install-recommends' not in install
    assert runner.argvs()[-1] == ('/usr/bin/buildah', 'rm', '--', 'giftwrap-verify-1')
    # every command: options, then "--", the container, then argv
    for call in runner.argvs()[1:-1]:
        assert call[call.index('--') + 1] == 'giftwrap-verify-1'
        assert f'--volume={tmp_path / "nova_1.0-1_all.deb"}:' \
               f'{verify.ARTIFACT_DIR}/nova_1.0-1_all.deb:ro' in call
        assert '--isolation=chroot' in call
    assert '--env=DEBIAN_FRONTEND=noninteractive' in runner.calls[4].argv


def test_a_failing_smoke_command_reports_its_output_tail(tmp_path, installed):
    output = '\n'.join(f'line {n}' for n in range(50)) + '\nno module nova\n'
    runner = container_runner({'/opt/nova/bin/nova': (3, output)})
    outcome = verify.verify(check(tmp_path, [['/opt/nova/bin/nova', 'x y']]),
                            runner)
    assert outcome.status == verify.FAILED
    # one line, and the tail of the output in the details
    assert outcome.message == \
        "smoke command /opt/nova/bin/nova 'x y' failed with exit status 3"
    assert 'no module nova' in outcome.details
    assert 'line 5\n' not in outcome.details
    assert outcome.added == ('libfoo1', 'nova')
    assert runner.calls[-1].argv[1] == 'rm'


def test_a_failed_install_stops_there(tmp_path, installed):
    runner = container_runner({'apt-get install': (100, 'E: Unable to locate libx')})
    outcome = verify.verify(check(tmp_path, [['true']]), runner)
    assert outcome.status == verify.FAILED
    assert 'E: Unable to locate libx' in outcome.details
    assert ('true',) not in inside(runner)
    assert runner.calls[-1].argv[1] == 'rm'


@pytest.mark.parametrize('at', ['/opt/nova/bin/nova', 'from'])
def test_the_container_is_removed_on_ctrl_c(tmp_path, installed, at):
    runner = container_runner(interrupt_on=at)
    with pytest.raises(KeyboardInterrupt):
        verify.verify(check(tmp_path, [['/opt/nova/bin/nova']]), runner)
    assert runner.argvs()[-1] == ('/usr/bin/buildah', 'rm', '--',
                                  'giftwrap-verify-1')


def test_an_image_without_the_package_manager_is_not_verified(
        tmp_path, installed):
    runner = container_runner({'dnf': (1, 'executable file not found')})
    outcome = verify.verify(check(tmp_path, fmt='rpm'), runner)
    assert outcome.status == verify.NOT_VERIFIED
    assert outcome.message == f'no rpm image: {IMAGE} has no dnf'


def test_an_rpm_without_an_image_is_not_verified(tmp_path):
    runner = container_runner()
    outcome = verify.verify(check(tmp_path, fmt='rpm', image=None), runner)
    assert outcome.status == verify.NOT_VERIFIED
    assert outcome.message.startswith('no rpm image')
    assert runner.calls == []


def test_an_image_that_cannot_start_fails_with_a_hint(tmp_path, installed):
    runner = testing.RecordingRunner(fail={'from': 'manifest unknown'})
    outcome = verify.verify(check(tmp_path), runner)
    assert outcome.status == verify.FAILED
    assert [a[1] for a in runner.argvs()] == ['from']  # nothing to remove
    assert f'cannot start a container of {IMAGE}' in outcome.message
    assert 'manifest unknown' in outcome.details
    assert 'registries' in outcome.hint


# -- the report ---------------------------------------------------------------

def test_report_rows_and_exit_error(tmp_path):
    outcomes = [
        verify.Outcome(Path('out/a.deb'), IMAGE, verify.PASSED, ('a', 'b'),
                       'installed; no smoke commands: installed only'),
        verify.Outcome(Path('out/b.rpm'), '', verify.NOT_VERIFIED,
                       message='no rpm image')]
    assert [dict(zip(verify.COLUMNS, o.row())) for o in outcomes][0] == {
        'Artifact': 'out/a.deb', 'Image': IMAGE, 'Status': 'passed',
        'Added': 2, 'Packages': ('a', 'b'),
        'Message': 'installed; no smoke commands: installed only',
        'Details': '', 'Hint': ''}
    assert verify.summary_error(outcomes) is None
    failed = outcomes + [verify.Outcome(Path('out/c.deb'), IMAGE,
                                        verify.FAILED)]
    error = verify.summary_error(failed)
    assert error.exit_code == errors.VerifyError.exit_code == 8
    assert 'c.deb' in error.what


def test_cli_needs_an_image_for_debs(cli, tmp_path):
    out = output_dir(tmp_path)
    result = cli('verify', str(out), '--engine', 'buildah')
    assert result.status == errors.ManifestError.exit_code
    assert 'no image to verify' in result.stderr
    assert 'Traceback' not in result.stderr


def test_podman_keeps_one_container_for_every_step(tmp_path, installed):
    runner = container_runner()
    engine = engines.make('podman', runner, engines.Settings())
    mounts = [('/out/x.deb', f'{verify.ARTIFACT_DIR}/x.deb', True)]
    engine.create(IMAGE, mounts, 'giftwrap-verify-1')
    assert runner.argvs()[0] == (
        '/usr/bin/podman', 'create', '--network=host', '--entrypoint=sleep',
        '--name=giftwrap-verify-1',
        f'--volume=/out/x.deb:{verify.ARTIFACT_DIR}/x.deb:ro', '--', IMAGE,
        'infinity')
    assert runner.argvs()[1] == ('/usr/bin/podman', 'start', '--',
                                 'giftwrap-verify-1')
    assert engine.exec_command('giftwrap-verify-1', ['-x', 'y'], mounts=mounts,
                               env={'A': 'b'}) == [
        '/usr/bin/podman', 'exec', '--env=A=b', '--', 'giftwrap-verify-1',
        '-x', 'y']
    engine.remove_container('giftwrap-verify-1')
    assert runner.argvs()[-1] == ('/usr/bin/podman', 'rm', '--force', '--',
                                  'giftwrap-verify-1')


def test_buildahs_own_failure_lines_leave_the_output(installed):
    engine = engines.make('buildah', container_runner(), engines.Settings())
    assert engine.command_output(
        'boom\nsubprocess exited with status 3\nError: exit status 3') == 'boom'


def test_build_verify_without_an_image_stops_before_building(cli, tmp_path):
    path = write_manifest(tmp_path, """
        settings: {version: '1.0-1', builders: [nfpm-deb],
                   resolver: requirements-file}
        projects: [{name: nova, giturl: /nonexistent/nova}]
        """)
    result = cli('build', '-m', str(path), '-o', str(tmp_path / 'out'),
                 '--verify')
    assert result.status == errors.ManifestError.exit_code, result.stderr
    assert '--verify-image: no image to verify the .deb of project nova' \
        in result.stderr
    assert not (tmp_path / 'out').exists()


def test_an_engine_failure_is_not_a_missing_package_manager():
    from giftwrap.util.process import Result
    missing = Result(('apt-get', '--version'), 127, 'apt-get: not found')
    runc = Result(('apt-get', '--version'), 1,
                  'error running container: cgroups in hybrid mode not '
                  'supported')
    crun = Result(('dnf', '--version'), 1, 'crun: executable file `dnf` '
                  'not found in $PATH: No such file or directory')
    assert verify._not_found(missing) and verify._not_found(crun)
    assert not verify._not_found(runc)
