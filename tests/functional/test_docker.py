"""The docker builder for real: podman builds images of a real virtualenv.

Every image build copies whole root filesystems (the ``vfs`` driver), so
there are three: one image shared by the run, label, save and push checks,
one from a template override, one failing.  The base image is the
debootstrapped bookworm of :mod:`tests.images`, whose python3 is the host's
``/usr/bin/python3``, so the virtualenv built here runs in it.  Containers
run with ``buildah run --isolation chroot`` (``podman run`` cannot here).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path, PurePosixPath

import pytest
import requests

from giftwrap import testing
from giftwrap import errors
from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.venv import interpreter, build as venv
from giftwrap.builders import docker
from giftwrap.util import containers as engines
from giftwrap.package.builder import BuildContext
from giftwrap.manifest.loader import Project
from giftwrap.util.process import Runner
from giftwrap.resolve.base import Checkout, Pin, Pins
from tests import images, projectutil

SYSTEM_PYTHON = '/usr/bin/python3'
COMMIT = '1234567' + 'b' * 33
EPOCH = '1700000000'
#: A small runtime package the image must get from Debian.
RUNTIME_PACKAGE = 'libyaml-0-2'


class Staged:
    """A real staged virtualenv of the sample project, and how to package it."""

    def __init__(self, base: Path):
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            pytest.skip(f'{SYSTEM_PYTHON} is not installed')
        self.base = base
        self.suffix = uuid.uuid4().hex[:10]
        self.install_path = PurePosixPath(f'/opt/giftwrap-test/{self.suffix}'
                                          '/hello-app')
        self.runner = Runner(base / 'build.log')
        self.interpreter = interpreter.resolve(SYSTEM_PYTHON, self.runner)
        src = projectutil.write_sample_project(base / 'src',
                                               requirements=['six'])
        self.tree, _ = venv.build(
            interpreter=self.interpreter, stage_root=base / 'root',
            install_path=self.install_path, source_dir=src,
            pins=Pins.of([Pin('six', '1.16.0')]), work_dir=base / 'venv',
            cache_dir=None, runner=self.runner)

    def context(self, work: Path, options: dict) -> BuildContext:
        project = Project(
            name='hello-app', package_name='giftwrap-test-hello',
            version='1.2.3-1', package_version=versions.parse('1.2.3-1'),
            install_path=self.install_path, giturl='https://example.org/hello',
            gitref='master', python=SYSTEM_PYTHON, resolver='requirements-file',
            builders=('docker',), resolver_options={}, builder_options={},
            system_dependencies=(self.interpreter.package, RUNTIME_PACKAGE),
            output_dir=work / 'out', where=f'{work}/giftwrap.yml:5',
            manifest_dir=work)
        checkout = Checkout(work / 'src', project.giturl, 'master', COMMIT,
                            datetime.datetime(2025, 1, 1,
                                              tzinfo=datetime.timezone.utc))
        return testing.build_context(
            work, project=project, checkout=checkout, pins=Pins.of([]),
            package=package.describe(project, self.tree, self.interpreter,
                                     checkout),
            interpreter=self.interpreter, work_dir=work / 'work',
            output_dir=project.output_dir, runner=self.runner,
            source_date_epoch=None,
            options={'engine': 'podman', 'isolation': 'chroot',
                     'base_image': images.base_image(self.runner),
                     'image_name': f'giftwrap-test/hello-{self.suffix}',
                     **options})

    def build(self, work: Path, **options):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv('SOURCE_DATE_EPOCH', EPOCH)
            builder = docker.DockerBuilder(self.context(work, options))
            return builder, builder.build(self.tree)


@pytest.fixture(scope='module')
def staged(tmp_path_factory) -> Staged:
    images.require_podman()
    if shutil.which('buildah') is None:
        pytest.skip('buildah is not installed (apt-get install buildah)')
    return Staged(tmp_path_factory.mktemp('staged'))


@pytest.fixture(scope='module')
def built(staged, tmp_path_factory):
    """The shared image: system package, labels, saved as an archive."""
    work = tmp_path_factory.mktemp('built')
    builder, artifact = staged.build(work, save=True)
    yield builder, artifact, work
    images.remove_image(artifact.name)


@pytest.fixture(scope='module')
def container(built):
    """A working container of the shared image, for ``buildah run``."""
    runner = Runner()
    name = runner.run(['buildah', 'from', '--pull=never', '--',
                       built[1].name]).output.strip().splitlines()[-1]
    yield name
    runner.run(['buildah', 'rm', '--', name], check=False)


def run_in(container: str, *argv: str) -> str:
    return Runner().run(['buildah', 'run', '--isolation', 'chroot', '--',
                         container, *argv], what='buildah run').output


def test_console_script_runs_at_the_install_path(staged, container):
    out = run_in(container, f'{staged.install_path}/bin/hello-app')
    assert out.strip() == f'{projectutil.GREETING} six {staged.install_path}'
    # The image's PATH starts with the virtualenv's bin.
    assert run_in(container, 'hello-app').strip() == out.strip()


def test_pins_and_runtime_packages_are_in_the_image(staged, container):
    code = 'import importlib.metadata as m; print(m.version("six"))'
    assert run_in(container, f'{staged.install_path}/bin/python', '-c',
                  code).strip() == '1.16.0'
    status = run_in(container, 'dpkg-query', '-W', '-f=${Status}',
                    RUNTIME_PACKAGE)
    assert status.strip() == 'install ok installed'


def test_labels(built):
    out = Runner().run(['podman', 'image', 'inspect', '--format',
                        '{{json .Config.Labels}}', '--', built[1].name]).output
    labels = json.loads(out)
    assert {k: v for k, v in labels.items() if k.startswith(docker.OCI)} == {
        'org.opencontainers.image.title': 'giftwrap-test-hello',
        'org.opencontainers.image.version': '1.2.3-1',
        'org.opencontainers.image.source': 'https://example.org/hello',
        'org.opencontainers.image.revision': COMMIT,
        'org.opencontainers.image.created': '2023-11-14T22:13:20Z'}


def test_saved_archive_names_the_image(staged, built):
    _, artifact, work = built
    assert artifact.path == (work / 'out' /
                             f'giftwrap-test_hello-{staged.suffix}_1.2.3-1.tar')
    with tarfile.open(artifact.path) as archive:
        manifest = json.load(archive.extractfile('manifest.json'))
    assert manifest[0]['RepoTags'] == [f'localhost/{artifact.name}']


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on a free loopback port (plain HTTP)."""
    binary = shutil.which('docker-registry')
    if binary is None:
        pytest.skip('docker-registry is not installed '
                    '(apt-get install docker-registry)')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    config = tmp_path / 'registry.yml'
    config.write_text(json.dumps({
        'version': 0.1,
        'storage': {'filesystem': {'rootdirectory': str(tmp_path / 'data')}},
        'http': {'addr': f'127.0.0.1:{port}'}}))
    log = open(tmp_path / 'registry.log', 'wb')
    proc = subprocess.Popen([binary, 'serve', str(config)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait_for(f'http://127.0.0.1:{port}/v2/', proc)
        yield f'127.0.0.1:{port}'
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _wait_for(url: str, proc: subprocess.Popen) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            pytest.fail(f'docker-registry exited with {proc.returncode}')
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f'docker-registry did not answer at {url}')


def test_push_to_a_plain_http_registry(staged, built, registry, tmp_path):
    builder, artifact, _ = built
    context = staged.context(tmp_path, {'push': registry, 'tls_verify': False})
    pusher = docker.DockerBuilder(context)
    engine = engines.make('podman', staged.runner,
                          engines.Settings(tls_verify=False))
    image_id = Runner().run(['podman', 'image', 'inspect', '--format',
                             '{{.Id}}', '--', artifact.name]).output.strip()
    pushed = pusher.finish(engine, image_id, artifact.name)
    try:
        assert pushed.name == f'{registry}/{artifact.name}'
        repo, tag = artifact.name.split(':')
        tags = requests.get(f'http://{registry}/v2/{repo}/tags/list',
                            timeout=10).json()
        assert tags == {'name': repo, 'tags': [tag]}
    finally:
        images.remove_image(pushed.name)


def test_template_override(staged, tmp_path):
    (tmp_path / 'Dockerfile.j2').write_text(
        '{% extends "giftwrap/Dockerfile.j2" %}\n'
        '{% block after_install %}\n'
        'RUN {{ python }} -c "print(1)" > /etc/giftwrap-override\n'
        '{% endblock %}\n'
        '{% block footer %}{{ super() }}ENV GIFTWRAP_TEST=1\n{% endblock %}\n')
    _, artifact = staged.build(tmp_path, template='Dockerfile.j2',
                               image_tag='override')
    runner = Runner()
    try:
        name = runner.run(['buildah', 'from', '--pull=never', '--',
                           artifact.name]).output.strip().splitlines()[-1]
        try:
            assert run_in(name, 'cat', '/etc/giftwrap-override') == '1\n'
            assert run_in(name, 'sh', '-c', 'echo $GIFTWRAP_TEST') == '1\n'
        finally:
            runner.run(['buildah', 'rm', '--', name], check=False)
    finally:
        images.remove_image(artifact.name)


def test_wrong_interpreter_fails_clearly_and_tags_nothing(staged, tmp_path):
    (tmp_path / 'Dockerfile.j2').write_text(
        '{% extends "giftwrap/Dockerfile.j2" %}\n'
        '{% block header %}{{ super() }}RUN rm {{ interpreter }}\n'
        '{% endblock %}\n')
    with pytest.raises(errors.BuildError) as exc:
        staged.build(tmp_path, template='Dockerfile.j2', image_tag='broken',
                     save=True)
    assert exc.value.what.startswith(f'{staged.install_path}/bin/python does '
                                     'not run Python 3.11')
    assert 'exit status 1' in exc.value.output
    assert not images.image_exists(
        f'giftwrap-test/hello-{staged.suffix}:broken')
    assert not (tmp_path / 'out').exists()


def test_missing_base_image(staged, tmp_path):
    with pytest.raises(errors.BuildError) as exc:
        staged.build(tmp_path, base_image='giftwrap-test/missing:latest')
    assert exc.value.what == ('the base image giftwrap-test/missing:latest '
                              'could not be found or pulled')
    assert 'giftwrap-test/missing' in exc.value.output
