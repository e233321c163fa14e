"""Unit tests of the docker builder and the container engines.

Engines are recorded, not run: a recording runner plays the engine (it
writes the image id file and archives the real engine would write), and
the engines "installed" are empty executables on a temporary PATH.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from giftwrap import testing
from giftwrap import errors
from giftwrap import plugins as drivers
from giftwrap.manifest import loader as manifest, versions
from giftwrap.builders import docker
from giftwrap.util import containers as engines
from giftwrap.package.builder import BuildContext, StagedTree
from giftwrap.venv.interpreter import Interpreter
from giftwrap.manifest.loader import Project
from giftwrap.package.description import PackageDescription
from giftwrap.util.process import Result
from giftwrap.resolve.base import Checkout, Pins
from tests.engineutil import EngineRunner, IMAGE_ID

INSTALL = PurePosixPath('/opt/acme/nova')
COMMIT = 'c0ffee' + 'a' * 34


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Put fake engines named ``names`` on PATH (and only them).

    They fail every command, except those named in ``working`` (a docker
    whose daemon answers ``docker info``).
    """
    def install(*names: str, working: tuple[str, ...] = ()) -> Path:
        bin_dir = tmp_path / 'engines'
        bin_dir.mkdir(exist_ok=True)
        for name in names:
            exe = bin_dir / name
            exe.write_text(f'#!/bin/sh\nexit {0 if name in working else 1}\n')
            exe.chmod(0o755)
        monkeypatch.setenv('PATH', str(bin_dir))
        return bin_dir
    return install


def make_tree(root: Path) -> StagedTree:
    venv = root / INSTALL.relative_to('/')
    if venv.exists():  # a test's second build
        return StagedTree(root=root, install_path=INSTALL)
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'nova-api').write_text('#!/opt/acme/nova/bin/python\n')
    (venv / 'bin' / 'python').symlink_to('/usr/bin/python3.11')
    return StagedTree(root=root, install_path=INSTALL)


def make_context(tmp_path, runner, options=None, *, depends=('python3.11',),
                 version='10.0-bbc1', **project) -> BuildContext:
    epoch, _, plain = version.rpartition(':')
    fields = dict(
        name='nova', package_name='acme-nova', version=version,
        package_version=versions.parse(plain, epoch=int(epoch or 0)),
        install_path=INSTALL,
        giturl='https://opendev.org/openstack/nova', gitref='master',
        python='/usr/bin/python3.11', resolver='upper-constraints',
        builders=('docker',), resolver_options={}, builder_options={},
        where=f'{tmp_path}/manifest.yml:3', manifest_dir=tmp_path)
    fields.update(project)
    package = PackageDescription(
        name=fields['package_name'], version=fields['package_version'],
        install_path=INSTALL, summary='nova', depends=tuple(depends))
    checkout = Checkout(tmp_path / 'src', fields['giturl'], 'master', COMMIT,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    return testing.build_context(
        tmp_path, project=Project(**fields), package=package,
        interpreter=Interpreter(Path('/usr/bin/python3.11'), '3.11.2'),
        checkout=checkout, pins=Pins.of([]), options=options or {},
        work_dir=tmp_path / 'work', output_dir=tmp_path / 'out',
        runner=runner, source_date_epoch=None)


def build(tmp_path, options=None, runner=None, **kw):
    runner = runner or EngineRunner()
    context = make_context(tmp_path, runner, {'engine': 'podman', **(options or {})},
                           **kw)
    artifact = docker.DockerBuilder(context).build(make_tree(tmp_path / 'stage'))
    return artifact, runner


def dockerfile(tmp_path) -> str:
    return (tmp_path / 'work' / 'context' / 'Dockerfile').read_text()


# -- registration and options ------------------------------------------------

def test_registered_for_builders_and_the_2014_build_type():
    assert manifest.build_type_builders('docker') == ['docker']
    if 'docker' not in drivers.available(drivers.BUILDERS):
        pytest.skip('the docker entry point is not installed yet '
                    '(pip install -e . after setup.cfg changed)')
    assert drivers.load(drivers.BUILDERS, 'docker') is docker.DockerBuilder


def test_declared_capabilities():
    assert docker.DockerBuilder.parallel_safe is True
    # The image's own interpreter is checked by a RUN step instead.
    assert docker.DockerBuilder.needs_system_python is False


@pytest.mark.parametrize('given', [
    {'engine': 'lxc'}, {'isolation': 'vm'}, {'tls_verify': 'no'},
    {'save': 'yes'}, {'push': 5}, {'args': ['--privileged']}])
def test_options_are_typed(given):
    with pytest.raises(errors.DriverError):
        drivers.validate_options(docker.DockerBuilder.options, given,
                                 driver_name='docker')


def test_option_defaults():
    options = drivers.validate_options(docker.DockerBuilder.options, {},
                                       driver_name='docker')
    assert options['base_image'] == 'docker.io/library/debian:bookworm-slim'
    assert options['tls_verify'] is True and options['save'] is False
    assert options['engine'] is None and options['isolation'] is None


# -- choosing an engine --------------------------------------------------------

@pytest.mark.parametrize('on_path, working, chosen', [
    (('docker', 'podman', 'buildah'), ('docker',), 'docker'),
    # a docker client whose daemon does not answer is passed over
    (('docker', 'podman', 'buildah'), (), 'podman'),
    (('podman', 'buildah'), (), 'podman'), (('buildah',), (), 'buildah')])
def test_default_engine_is_the_first_usable(installed, on_path, working,
                                            chosen):
    bin_dir = installed(*on_path, working=working)
    engine, path = engines.choose(None, engines.Settings())
    assert engine.name == chosen and path == str(bin_dir / chosen)


def test_named_engine_must_be_installed(installed):
    installed('docker')
    with pytest.raises(errors.MissingToolError, match='podman is not installed'):
        docker.DockerBuilder.check_tools({'engine': 'podman'})


def test_no_engine_at_all(installed):
    installed()
    with pytest.raises(errors.MissingToolError,
                       match='no usable container engine'):
        docker.DockerBuilder.check_tools({})


@pytest.mark.parametrize('options, message', [
    ({'isolation': 'chroot'}, "no 'chroot' isolation"),
    ({'tls_verify': False}, 'cannot skip TLS')])
def test_docker_refuses_what_it_cannot_do(installed, options, message):
    installed('docker', 'podman')
    with pytest.raises(errors.DriverError, match=message):
        docker.DockerBuilder.check_tools({'engine': 'docker', **options})
    docker.DockerBuilder.check_tools({'engine': 'podman', **options})


# -- the build commands -----------------------------------------------------

@pytest.mark.parametrize('engine', ['podman', 'buildah'])
def test_build_command_of_podman_and_buildah(tmp_path, installed, engine):
    installed(engine)
    artifact, runner = build(tmp_path, {'engine': engine,
                                        'isolation': 'chroot',
                                        'tls_verify': False})
    argv = runner.calls[0].argv
    context = tmp_path / 'work' / 'context'
    assert argv[1] == 'build' and argv[-2:] == ('--', str(context))
    assert f'--file={context / "Dockerfile"}' in argv
    assert f'--iidfile={tmp_path / "work" / "image-id"}' in argv
    assert {'--isolation=chroot', '--layers=false',
            '--tls-verify=false'} <= set(argv)
    assert runner.calls[1].argv[1:] == ('tag', '--', IMAGE_ID, 'acme-nova:10.0-bbc1')
    assert artifact.name == 'acme-nova:10.0-bbc1' and artifact.path is None


def test_build_command_of_docker(tmp_path, installed):
    installed('docker')
    _, runner = build(tmp_path, {'engine': 'docker', 'cache_layers': True})
    argv = runner.calls[0].argv
    assert not [a for a in argv if a.startswith(('--isolation', '--layers',
                                                 '--tls'))]


def test_labels_are_oci_annotations(tmp_path, installed, monkeypatch):
    installed('podman')
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    _, runner = build(tmp_path, version='1:10.0-bbc1')
    labels = dict(a[len('--label='):].split('=', 1) for a in runner.calls[0].argv
                  if a.startswith('--label='))
    assert labels == {
        'org.opencontainers.image.title': 'acme-nova',
        'org.opencontainers.image.version': '1:10.0-bbc1',
        'org.opencontainers.image.source': 'https://opendev.org/openstack/nova',
        'org.opencontainers.image.revision': COMMIT,
        'org.opencontainers.image.created': '2023-11-14T22:13:20Z'}


def test_created_without_source_date_epoch_is_now():
    created = datetime.datetime.fromisoformat(
        docker.created({}).replace('Z', '+00:00'))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created).total_seconds()) < 5


def test_engine_environment_is_small(tmp_path, installed, monkeypatch):
    installed('podman')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'secret')
    monkeypatch.setenv('BUILDAH_ISOLATION', 'oci')
    monkeypatch.setenv('CONTAINERS_REGISTRIES_CONF', '/etc/x.conf')
    _, runner = build(tmp_path)
    env = runner.calls[0].env
    assert 'AWS_SECRET_ACCESS_KEY' not in env and 'BUILDAH_ISOLATION' not in env
    assert env['CONTAINERS_REGISTRIES_CONF'] == '/etc/x.conf'


def test_save_publishes_an_archive(tmp_path, installed):
    installed('podman')
    artifact, runner = build(tmp_path, {'save': True,
                                        'image_name': 'acme/openstack/nova'})
    assert artifact.path == tmp_path / 'out' / 'acme_openstack_nova_10.0-bbc1.tar'
    assert artifact.path.read_bytes() == b'archive'
    save = runner.calls[2].argv
    assert save[1:3] == ('save', '--format=docker-archive')
    assert save[-2:] == ('--', 'acme/openstack/nova:10.0-bbc1')


def test_buildah_saves_with_push_to_an_archive(tmp_path, installed):
    installed('buildah')
    artifact, runner = build(tmp_path, {'engine': 'buildah', 'save': True})
    assert runner.calls[2].argv[1:4] == ('push', '--', 'acme-nova:10.0-bbc1')
    assert runner.calls[2].argv[4].startswith('docker-archive:')
    assert artifact.path.name == 'acme-nova_10.0-bbc1.tar'


def test_push_tags_for_the_registry(tmp_path, installed):
    installed('podman')
    artifact, runner = build(tmp_path, {'push': '127.0.0.1:5000/acme',
                                        'tls_verify': False})
    pushed = '127.0.0.1:5000/acme/acme-nova:10.0-bbc1'
    assert runner.calls[2].argv[1:] == ('tag', '--', IMAGE_ID, pushed)
    assert runner.calls[3].argv[1:] == ('push', '--tls-verify=false', '--',
                                        pushed, f'docker://{pushed}')
    assert artifact.name == pushed


def test_a_failed_push_removes_the_names(tmp_path, installed):
    installed('podman')
    runner = EngineRunner(fail={'push': 'connection refused'})
    with pytest.raises(errors.BuildError, match='pushing .* failed') as exc:
        build(tmp_path, {'push': '127.0.0.1:5000'}, runner)
    assert 'tls_verify' in exc.value.hint
    removed = [argv[-1] for argv in runner.argvs() if argv[1] == 'rmi']
    assert removed == ['acme-nova:10.0-bbc1',
                       '127.0.0.1:5000/acme-nova:10.0-bbc1', IMAGE_ID]


def test_a_failed_build_tags_nothing(tmp_path, installed):
    installed('podman')
    output = ('STEP 4/5: RUN if ! /opt/acme/nova/bin/python ...\n'
              "/bin/sh: 1: /opt/acme/nova/bin/python: not found\n"
              'giftwrap: /opt/acme/nova/bin/python does not run Python 3.11\n'
              'Error: building at STEP "RUN ...": exit status 1\n')
    runner = EngineRunner(fail={'build': output})
    with pytest.raises(errors.BuildError) as exc:
        build(tmp_path, runner=runner)
    assert exc.value.what == '/opt/acme/nova/bin/python does not run Python 3.11'
    assert 'exit status 1' in exc.value.output
    assert runner.subcommands() == ['build']


@pytest.mark.parametrize('output', [
    'Error: creating build container: initializing source docker://x: '
    'connection refused',
    'ERROR: failed to solve: x: failed to resolve source metadata for x'])
def test_a_missing_base_image_is_named(output):
    engine = engines.Podman('podman', EngineRunner(), engines.Settings())
    error = engine.build_error(Result(('podman',), 125, output), 'localhost/x:1')
    assert error.what == 'the base image localhost/x:1 could not be found or pulled'


def test_a_buildkit_prefixed_message_is_ours():
    output = ('#7 [3/4] RUN if ! x; then echo \'giftwrap: bad\' >&2; fi\n'
              '#7 0.412 giftwrap: the real reason\n')
    engine = engines.Docker('docker', EngineRunner(), engines.Settings())
    error = engine.build_error(Result(('docker',), 1, output), 'b')
    assert error.what == 'the real reason'


# -- names and values ----------------------------------------------------------

@pytest.mark.parametrize('options, kw, reference', [
    ({}, {}, 'acme-nova:10.0-bbc1'),
    ({}, {'version': '2:1.0~rc1+git-3'}, 'acme-nova:1.0_rc1_git-3'),
    ({}, {'package_name': 'libc++-tools'}, 'libc---tools:10.0-bbc1'),
    ({'image_name': 'quay.io:443/acme/nova', 'image_tag': 'latest'}, {},
     'quay.io:443/acme/nova:latest')])
def test_reference(tmp_path, options, kw, reference):
    context = make_context(tmp_path, EngineRunner(), options, **kw)
    assert docker.DockerBuilder(context).reference() == reference


@pytest.mark.parametrize('options', [
    {'image_name': 'Acme/Nova'}, {'image_name': '-rm'},
    {'image_name': 'a b'}, {'image_tag': '-x'}, {'image_tag': 'a:b'},
    {'image_tag': '.hidden'}])
def test_bad_names_are_refused(tmp_path, options):
    context = make_context(tmp_path, EngineRunner(), options)
    with pytest.raises(errors.BuildError) as exc:
        docker.DockerBuilder(context).reference()
    assert exc.value.where == f'{tmp_path}/manifest.yml:3'


@pytest.mark.parametrize('registry', ['https://r.example.com', '-r', 'a b',
                                      'r.example.com/Acme'])
def test_bad_registries_are_refused(tmp_path, installed, registry):
    installed('podman')
    with pytest.raises(errors.BuildError, match='not host'):
        build(tmp_path, {'push': registry})


def test_runtime_packages_are_names_with_the_interpreter(tmp_path):
    context = make_context(tmp_path, EngineRunner(), depends=(
        'python3.11', 'libxml2', 'libvirt0 (>= 9.0)', 'libxml2', 'zlib1g>=1'))
    assert docker.runtime_packages(context) == (
        'python3.11', 'libxml2', 'libvirt0', 'zlib1g')


@pytest.mark.parametrize('depend', ['$(reboot)', '; rm -rf /', '-y'])
def test_runtime_packages_must_be_names(tmp_path, depend):
    context = make_context(tmp_path, EngineRunner(),
                           depends=('python3.11', depend))
    with pytest.raises(errors.BuildError, match='not a package name'):
        docker.runtime_packages(context)


@pytest.mark.parametrize('options, kw', [
    ({'base_image': 'debian\nRUN reboot'}, {}),
    ({'base_image': '-debian'}, {}),
    ({}, {'install_path': PurePosixPath('/opt/a b')})])
def test_values_that_would_break_the_dockerfile(tmp_path, options, kw):
    context = make_context(tmp_path, EngineRunner(), options, **kw)
    tree = StagedTree(tmp_path, kw.get('install_path', INSTALL))
    with pytest.raises(errors.BuildError, match='cannot be written'):
        docker.DockerBuilder(context).template_values(tree, 'a:b')


# -- the Dockerfile ------------------------------------------------------------

def test_default_dockerfile(tmp_path, installed):
    installed('podman')
    build(tmp_path, {'base_image': 'localhost/base:1'},
          depends=('python3.11', 'libxml2', 'libvirt0'))
    text = dockerfile(tmp_path)
    assert text.startswith('FROM localhost/base:1\n')
    # only what the base image lacks is installed, the interpreter included
    assert 'for p in python3.11 libxml2 libvirt0; do' in text
    assert "dpkg-query -W -f='${Status}' \"$p\"" in text
    assert 'apt-get install -y --no-install-recommends $missing;' in text
    assert 'rpm -q --whatprovides "$p"' in text
    assert 'dnf install -y --setopt=install_weak_deps=False $missing;' in text
    assert '\nCOPY root/ /\n' in text
    assert ("RUN if ! /opt/acme/nova/bin/python -c 'import sys; sys.exit("
            "sys.version_info[:2] != (3, 11))'; then") in text
    assert 'ENV PATH=/opt/acme/nova/bin:/usr/local/sbin:' in text
    assert '{{' not in text and '{%' not in text and '#}' not in text


def test_the_interpreter_package_is_always_checked(tmp_path, installed):
    installed('podman')
    build(tmp_path)
    assert 'for p in python3.11; do' in dockerfile(tmp_path)


def test_context_holds_the_staged_tree(tmp_path, installed):
    installed('podman')
    build(tmp_path)
    root = tmp_path / 'work' / 'context' / 'root'
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    venv = root / INSTALL.relative_to('/')
    assert os.readlink(venv / 'bin' / 'python') == '/usr/bin/python3.11'
    assert (venv / 'bin' / 'nova-api').read_text().startswith('#!/opt/acme')


def test_a_template_extends_the_builtin_one(tmp_path, installed):
    installed('podman')
    (tmp_path / 'images').mkdir()
    (tmp_path / 'images' / 'Dockerfile.j2').write_text(
        '{% extends "giftwrap/Dockerfile.j2" %}\n'
        '{% block after_install %}\n'
        'RUN useradd {{ project.name | shquote }}\n'
        '{% endblock %}\n'
        '{% block footer %}\n{{ super() }}'
        'CMD {{ [python, "-m", project.name] | json }}\n'
        '{% endblock %}\n')
    build(tmp_path, {'template': 'images/Dockerfile.j2'})
    text = dockerfile(tmp_path)
    assert '\nCOPY root/ /\n' in text and '\nRUN useradd nova\n' in text
    assert text.endswith('ENV PATH=/opt/acme/nova/bin:/usr/local/sbin:'
                         '/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
                         'CMD ["/opt/acme/nova/bin/python", "-m", "nova"]\n')


@pytest.mark.parametrize('text, error, where', [
    ('{% extends "giftwrap/Dockerfile.j2" %}\n{% block x %}\n',
     errors.ManifestError, 'Dockerfile.j2:2'),
    ('{{ nope }}', errors.ManifestError, 'Dockerfile.j2'),
    ('{{ "".__class__.__mro__ }}', errors.ManifestError, 'Dockerfile.j2'),
    ('{% include "../secret" %}', errors.DriverError, 'Dockerfile.j2')])
def test_template_errors(tmp_path, installed, text, error, where):
    installed('podman')
    (tmp_path / 'Dockerfile.j2').write_text(text)
    with pytest.raises(error) as exc:
        build(tmp_path, {'template': 'Dockerfile.j2'})
    assert exc.value.where.endswith(where)


def test_a_missing_template(tmp_path, installed):
    installed('podman')
    with pytest.raises(errors.DriverError, match='does not exist'):
        build(tmp_path, {'template': 'nope.j2'})


def test_a_failed_build_publishes_nothing(tmp_path, installed):
    installed('podman')
    runner = EngineRunner(fail={'save': 'no space left on device'})
    with pytest.raises(errors.CommandError):
        build(tmp_path, {'save': True}, runner)
    assert not (tmp_path / 'out').exists() or not list((tmp_path / 'out').iterdir())
    assert [argv[-1] for argv in runner.argvs() if argv[1] == 'rmi'] == [
        'acme-nova:10.0-bbc1', IMAGE_ID]


def test_context_is_replaced_not_merged(tmp_path, installed):
    installed('podman')
    stale = tmp_path / 'work' / 'context' / 'root' / 'stale'
    stale.parent.mkdir(parents=True)
    stale.write_text('old')
    build(tmp_path)
    assert not stale.exists()


def test_the_manifests_directory_locates_the_template(tmp_path):
    context = make_context(tmp_path, EngineRunner(), {'template': 't.j2'},
                           where=f'{tmp_path}/sub/giftwrap.yml:12',
                           manifest_dir=tmp_path / 'sub')
    assert docker.DockerBuilder(context).template_path() == tmp_path / 'sub' / 't.j2'


def test_an_existing_archive_stops_the_build_early(tmp_path, installed):
    installed('podman')
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'acme-nova_10.0-bbc1.tar').write_bytes(b'old')
    runner = EngineRunner()
    with pytest.raises(errors.BuildError, match='exists already'):
        build(tmp_path, {'save': True}, runner)
    assert runner.calls == []
    artifact, _ = build(tmp_path, {'save': True}, force_overwrite=True)
    assert artifact.path.read_bytes() == b'archive'


def test_a_failed_push_publishes_no_archive(tmp_path, installed):
    installed('podman')
    runner = EngineRunner(fail={'push': 'connection refused'})
    with pytest.raises(errors.BuildError):
        build(tmp_path, {'push': '127.0.0.1:5000', 'save': True}, runner)
    assert runner.subcommands()[:4] == ['build', 'tag', 'tag', 'save']
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('kind', [engines.Podman, engines.Buildah,
                                  engines.Docker])
def test_offline_engines_never_pull(kind):
    runners = EngineRunner(), EngineRunner()
    offline = kind(kind.name, runners[0], engines.Settings(offline=True))
    online = kind(kind.name, runners[1], engines.Settings())
    # (buildah pulls in "from", which a working container starts with;
    # the others in "run")
    commands = [sum(r.argvs(), ()) if kind is engines.Buildah and e.create(
        'img', (), 'name') else e.command('img', ['true'], mounts=(),
                                          cwd=None, env={})
        for e, r in zip((offline, online), runners)]
    assert '--pull=never' in commands[0]
    assert '--pull=never' not in commands[1]
    if kind is not engines.Docker:  # docker build has no "never"
        assert '--pull=never' in offline.build_flags()
        assert '--pull=never' not in online.build_flags()


def test_offline_builds_from_local_images_and_never_pushes(tmp_path):
    runner = EngineRunner()
    context = dataclasses.replace(
        make_context(tmp_path, runner, {'engine': 'podman'}), offline=True)
    docker.DockerBuilder(context).build(make_tree(tmp_path / 'stage'))
    (built,) = [a for a in runner.argvs() if a[1] == 'build']
    assert '--pull=never' in built
    pushing = dataclasses.replace(context, options={
        'engine': 'podman', 'push': 'localhost:5000'})
    runner.calls.clear()
    with pytest.raises(errors.BuildError, match='--offline'):
        docker.DockerBuilder(pushing).build(make_tree(tmp_path / 'stage2'))
    assert runner.calls == []  # refused before any engine command
