"""The SBOM of a real build: virtualenv, pip, PyPI and an nfpm .deb.

The SBOM must validate against the CycloneDX 1.6 schema and list exactly
the distributions pip installed, with the hashes pip reported.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import uuid
from pathlib import Path, PurePosixPath

import pytest
from packaging.utils import canonicalize_name

from giftwrap import testing
from giftwrap.manifest import versions
from giftwrap.package import description as package
from giftwrap.trust import sbom
from giftwrap.venv import interpreter, build as venv
from giftwrap.builders import nfpm
from giftwrap.manifest.loader import Project
from giftwrap.util.process import Runner, find_tool
from giftwrap.resolve.base import Checkout, Pin, Pins
from tests import projectutil
from tests.sbomutil import validate

SYSTEM_PYTHON = '/usr/bin/python3'


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """A real virtualenv of a sample project, packaged as a .deb."""
    if not os.access(SYSTEM_PYTHON, os.X_OK) or find_tool('nfpm') is None:
        pytest.skip('needs /usr/bin/python3 and nfpm')
    base = tmp_path_factory.mktemp('sbom')
    python = interpreter.resolve(SYSTEM_PYTHON, Runner())
    name = f'giftwrap-sbom-{uuid.uuid4().hex[:8]}'
    install = PurePosixPath('/opt') / name
    src = projectutil.write_sample_project(base / 'src',
                                           requirements=['six'])
    tree, report = venv.build(
        interpreter=python, stage_root=base / 'root', install_path=install,
        source_dir=src, pins=Pins.of([Pin('six', '1.16.0')]),
        work_dir=base / 'work', cache_dir=base / 'cache',
        runner=Runner(base / 'build.log'), forbidden=(base,))
    version = versions.parse('1.0-1')
    project = Project(
        name='hello-app', package_name=name, version='1.0-1',
        package_version=version, install_path=install,
        giturl=str(src), gitref='master', python=SYSTEM_PYTHON,
        resolver='requirements-file', builders=('nfpm-deb',),
        resolver_options={}, builder_options={}, output_dir=base / 'out',
        where='manifest.yml:1', system_dependencies=('libxml2',))
    checkout = Checkout(src, str(src), 'master', 'f' * 40,
                        datetime.datetime(2025, 1, 1,
                                          tzinfo=datetime.timezone.utc))
    description = package.describe(project, tree, python, checkout)
    context = testing.build_context(
        base, project=project, package=description, interpreter=python,
        checkout=checkout, pins=Pins.of([]), options={},
        work_dir=base / 'nfpm', output_dir=base / 'out',
        runner=Runner(base / 'build.log'))
    artifact = nfpm.NfpmDeb(context).build(tree).path
    path = sbom.write(artifact, project=project, checkout=checkout,
                      report=report, package_description=description,
                      venv_dir=tree.venv)
    return path, report, description


def test_sbom_is_valid_cyclonedx(built):
    path, _, _ = built
    assert path.name.endswith('.deb.cdx.json')
    validate(path.read_text())


def test_components_are_the_installed_distributions(built):
    path, report, _ = built
    data = json.loads(path.read_text())
    pypi = {canonicalize_name(c['name']): c for c in data['components']
            if c['purl'].startswith('pkg:pypi/')}
    assert {k: c['version'] for k, c in pypi.items()} == dict(
        report.installed)
    assert pypi['six']['hashes'] == [
        {'alg': 'SHA-256', 'content': report.hashes['six']}]
    assert pypi['six']['licenses'] == [{'license': {'id': 'MIT'}}]


def test_system_dependencies_and_project(built):
    path, _, description = built
    data = json.loads(path.read_text())
    system = {c['name'] for c in data['components']
              if c['purl'].startswith('pkg:deb/')}
    assert system == set(description.target('deb').depends) >= {'libxml2'}
    main = data['metadata']['component']
    artifact = Path(str(path)[:-len(sbom.SUFFIX)])
    assert main['hashes'][0]['content'] == hashlib.sha256(
        artifact.read_bytes()).hexdigest()
    assert main['pedigree']['commits'] == [{'uid': 'f' * 40}]
