"""SBOM test inputs: a staged venv with distributions, and the CycloneDX schema check."""

from __future__ import annotations

import dataclasses
import datetime
import textwrap
from pathlib import Path, PurePosixPath
import pytest
from giftwrap.manifest import versions
from giftwrap.manifest.loader import Project
from giftwrap.package.description import PackageDescription
from giftwrap.resolve.base import Checkout
from giftwrap.venv.build import InstallReport


SITE = 'lib/python3.11/site-packages'


def validate(text: str) -> None:
    """Validate against the CycloneDX 1.6 JSON schema, strictly."""
    try:
        from cyclonedx.exception import MissingOptionalDependencyException
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
        validator = JsonStrictValidator(SchemaVersion.V1_6)
        error = validator.validate_str(text)
    except MissingOptionalDependencyException as exc:
        pytest.skip(f'cyclonedx-python-lib[json-validation] is needed: {exc}')
    assert error is None, getattr(error.data, 'message', error)


def dist_info(venv: Path, name: str, version: str, headers: str) -> None:
    info = venv / SITE / f'{name.replace("-", "_")}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
        + textwrap.dedent(headers))


@dataclasses.dataclass
class Inputs:
    project: Project
    checkout: Checkout
    report: InstallReport
    package: PackageDescription
    venv: Path

    def kwargs(self, **extra):
        return dict(project=self.project, checkout=self.checkout,
                    report=self.report, package_description=self.package,
                    venv_dir=self.venv, **extra)


def write_artifact(tmp_path: Path, name: str) -> Path:
    out = tmp_path / 'out'
    out.mkdir(exist_ok=True)
    artifact = out / name
    artifact.write_bytes(b'not really a package')
    return artifact


COMMIT = '0123456789abcdef' * 2 + '01234567'


def make_inputs(tmp_path) -> Inputs:
    """A staged venv with five distributions, and the project, checkout,
    install report and package description an SBOM is written from."""
    venv = tmp_path / 'venv'
    dist_info(venv, 'hello-app', '1.2.3', '''\
        License-Expression: Apache-2.0
        Requires-Dist: oslo.config>=9
        Requires-Dist: six; python_version >= "3"
        Requires-Dist: pip; extra == "tools"
        Requires-Dist: not-installed
        Requires-Dist: old; python_version < "3"
        ''')
    dist_info(venv, 'oslo.config', '9.7.0', """\
        License: UNKNOWN
        Classifier: License :: OSI Approved :: Apache Software License
        """)
    dist_info(venv, 'six', '1.16.0', 'License: MIT\n')
    dist_info(venv, 'odd', '0.1', 'License: GPL-2.0-or-later OR MIT\n')
    dist_info(venv, 'pip', '24.0', 'License: MIT\n')
    report = InstallReport(
        installed={'hello-app': '1.2.3', 'oslo-config': '9.7.0',
                   'six': '1.16.0', 'odd': '0.1', 'pip': '24.0'},
        hashes={'oslo-config': 'a' * 64, 'six': 'b' * 64, 'odd': 'c' * 64},
        unpinned={})
    version = versions.parse('2025.1-acme1')
    install = PurePosixPath('/opt/openstack/hello-app')
    project = Project(
        name='hello-app', package_name='openstack-hello-app',
        version='2025.1-acme1', package_version=version,
        install_path=install, giturl='https://opendev.org/x/hello-app',
        gitref='stable/2025.1', python='/usr/bin/python3', resolver='none',
        builders=('nfpm-deb',), resolver_options={}, builder_options={},
        output_dir=tmp_path / 'out', where='manifest.yml:1')
    package = PackageDescription(
        name='openstack-hello-app', version=version, install_path=install,
        summary='hello', license='Apache-2.0',
        homepage='https://example.invalid/hello',
        depends=('python3.11', 'libxml2 >= 2.9'), machine='x86_64')
    checkout = Checkout(tmp_path / 'src', project.giturl, project.gitref,
                        COMMIT, datetime.datetime(
                            2025, 1, 1, tzinfo=datetime.timezone.utc))
    return Inputs(project, checkout, report, package, venv)
