"""The CycloneDX SBOM of an artifact, from a hand-made virtualenv tree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from giftwrap.trust import sbom
from tests.sbomutil import COMMIT, validate, write_artifact


@dataclasses.dataclass
class FakePatch:
    name: str
    path: Path
    sha256: str


def test_deb_sbom_is_valid_and_lists_everything(tmp_path, inputs,
                                                monkeypatch):
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1735689600')
    patch = tmp_path / 'fix.patch'
    patch.write_text('--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n')
    artifact = write_artifact(tmp_path, 'openstack-hello-app_2025.1-acme1_all'
                                        '.deb')
    path = sbom.write(artifact, **inputs.kwargs(
        patches=[FakePatch('fix.patch', patch, 'd' * 64)]))
    assert path == artifact.with_name(artifact.name + '.cdx.json')
    text = path.read_text()
    validate(text)
    data = json.loads(text)
    assert data['specVersion'] == '1.6'
    assert data['metadata']['timestamp'].startswith('2025-01-01T00:00:00')

    main = data['metadata']['component']
    assert main['name'] == 'hello-app'
    assert main['purl'].startswith(
        'pkg:deb/debian/openstack-hello-app@2025.1-acme1?arch=all') or \
        main['purl'].startswith('pkg:deb/ubuntu/')
    assert main['pedigree']['commits'] == [{'uid': COMMIT}]
    assert main['pedigree']['patches'][0]['diff']['text']['content'] == \
        patch.read_text()
    vcs, = [r for r in main['externalReferences'] if r['type'] == 'vcs']
    assert vcs['url'] == 'https://opendev.org/x/hello-app'
    assert COMMIT in vcs['comment']
    props = {p['name']: p['value'] for p in main['properties']}
    assert props['giftwrap:commit'] == COMMIT
    assert props['giftwrap:patch'] == 'fix.patch sha256:' + 'd' * 64

    pypi = {c['name']: c for c in data['components']
            if c['purl'].startswith('pkg:pypi/')}
    assert {(c['purl']) for c in pypi.values()} == {
        'pkg:pypi/hello-app@1.2.3', 'pkg:pypi/oslo.config@9.7.0',
        'pkg:pypi/six@1.16.0', 'pkg:pypi/odd@0.1', 'pkg:pypi/pip@24.0'}
    assert pypi['six']['hashes'] == [{'alg': 'SHA-256', 'content': 'b' * 64}]
    assert 'hashes' not in pypi['pip']
    assert pypi['hello-app']['licenses'] == [{'license': {'id': 'Apache-2.0'}}]
    assert pypi['six']['licenses'] == [{'license': {'id': 'MIT'}}]
    assert pypi['oslo.config']['licenses'] == [
        {'license': {'name': 'Apache Software License'}}]
    assert pypi['odd']['licenses'] == [
        {'expression': 'GPL-2.0-or-later OR MIT'}]

    system = {c['name']: c for c in data['components']
              if c['purl'].startswith('pkg:deb/')}
    assert set(system) == {'python3.11', 'libxml2'}
    constraint = {p['name']: p['value'] for p in system['libxml2']
                  ['properties']}['giftwrap:version-constraint']
    assert constraint == '>= 2.9'

    graph = {d['ref']: d.get('dependsOn', []) for d in data['dependencies']}
    assert len(graph[main['bom-ref']]) == len(data['components']) == 7
    assert graph['pkg:pypi/hello-app@1.2.3'] == [
        'pkg:pypi/oslo.config@9.7.0', 'pkg:pypi/six@1.16.0']
    assert graph['pkg:pypi/six@1.16.0'] == []


def test_rpm_sbom_spells_rpm(tmp_path, inputs):
    artifact = write_artifact(
        tmp_path, 'openstack-hello-app-2025.1-acme1.noarch.rpm')
    data = json.loads(sbom.write(artifact, **inputs.kwargs()).read_text())
    assert data['metadata']['component']['purl'] == \
        'pkg:rpm/openstack-hello-app@2025.1-acme1?arch=noarch'
    assert {c['purl'] for c in data['components']
            if not c['purl'].startswith('pkg:pypi/')} == {
        'pkg:rpm/python3.11', 'pkg:rpm/libxml2'}


def test_same_artifact_same_sbom(tmp_path, inputs, monkeypatch):
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1735689600')
    artifact = write_artifact(tmp_path, 'x_1-1_all.deb')
    first = sbom.write(artifact, **inputs.kwargs()).read_text()
    second = sbom.write(artifact, **inputs.kwargs()).read_text()
    assert first == second
    artifact.write_bytes(b'another build')
    assert sbom.write(artifact, **inputs.kwargs()).read_text() != first


@pytest.mark.parametrize('giturl, uri', [
    ('/srv/git/nova', 'file:///srv/git/nova'),
    ('git@example.invalid:org/nova.git',
     'ssh://git@example.invalid/org/nova.git'),
    ('https://opendev.org/openstack/nova', 'https://opendev.org/openstack/nova'),
])
def test_git_urls_become_uris(giturl, uri):
    assert sbom._vcs_url(giturl) == uri


def test_local_giturl_is_valid_too(tmp_path, inputs):
    inputs.project = dataclasses.replace(inputs.project,
                                         giturl='relative/dir with space')
    artifact = write_artifact(tmp_path, 'x_1-1_all.deb')
    validate(sbom.write(artifact, **inputs.kwargs()).read_text())
