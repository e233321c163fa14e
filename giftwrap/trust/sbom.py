"""A CycloneDX SBOM beside each artifact: what is inside, and where it came from.

``<artifact>.cdx.json`` (CycloneDX 1.6 JSON) describes the project as its
primary component (its package URL, the artifact's sha256, the git url and
commit, the patches applied), every distribution installed in the
virtualenv (``pkg:pypi/name@version``, with its license from its
``METADATA`` and the sha256 of the file pip installed), and the system
packages the artifact depends on (``pkg:deb/...`` or ``pkg:rpm/...``, with
the version constraint as a property: a dependency is a range, not a
version).
"""

from __future__ import annotations

import datetime
import email.parser
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Mapping, NamedTuple, Protocol, Sequence

from cyclonedx import spdx
from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import (AttachedText, ExternalReference,
                             ExternalReferenceType, HashAlgorithm, HashType,
                             Property, XsUri)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import (Commit, Component, ComponentType,
                                       Diff, Patch, PatchClassification,
                                       Pedigree)
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import giftwrap
from giftwrap.util import hashing
from giftwrap.util import atomic

LOG = logging.getLogger(__name__)

SUFFIX = '.cdx.json'
#: Properties giftwrap adds are named ``giftwrap:<name>``.
PREFIX = 'giftwrap:'
_RELATION = re.compile(
    r'^\s*(?P<name>[^\s()<>=]+)\s*\(?\s*(?P<op><<|>>|<=|>=|=|<|>)?\s*'
    r'(?P<version>[^\s()]*)\s*\)?\s*\Z')
_SCP_URL = re.compile(r'^(?P<user>[^@/:]+@)?(?P<host>[^/:]+):(?P<path>.+)\Z')
# The vendors a deb package URL may name: the build host's, if it is one.
_DEB_VENDORS = ('debian', 'ubuntu')


class AppliedPatch(Protocol):
    """What the SBOM reads of a patch (:class:`giftwrap.fetch.patches.Patch`)."""

    name: str
    path: Path
    sha256: str


class _Dist(NamedTuple):
    name: str
    licenses: tuple[str, ...]
    expression: str
    #: canonical names of what it requires (markers true, no extras)
    requires: frozenset[str] = frozenset()


class Contents(NamedTuple):
    """What the SBOM says of the virtualenv: the same for every artifact
    made of it, so it can be read once, while other work runs
    (:func:`contents`)."""

    dists: Mapping[str, _Dist]
    pypi: tuple[Component, ...]


def contents(venv_dir: Path, report) -> Contents:
    """The distributions installed in the staged virtualenv ``venv_dir``
    (their ``METADATA``) as ``report`` lists them."""
    dists = _read_dists(venv_dir)
    return Contents(dists, tuple(_distributions(report, dists)))


def path_for(artifact: Path) -> Path:
    """Where the SBOM of ``artifact`` goes: ``<artifact>.cdx.json``."""
    return artifact.with_name(artifact.name + SUFFIX)


def write(path: Path, *, project, checkout, report, package_description,
          venv_dir: Path, patches: Sequence[AppliedPatch] = (),
          epoch: int | None = None, digest: str | None = None,
          system_python: Sequence = (), read: Contents | None = None
          ) -> Path:
    """Write the SBOM of the artifact at ``path`` beside it, atomically.

    :param path: the artifact (a ``.deb``, ``.rpm``, image archive...).
    :param project: the rendered :class:`giftwrap.manifest.loader.Project`.
    :param checkout: its :class:`giftwrap.fetch.checkout.Checkout`.
    :param report: the :class:`giftwrap.venv.installers.InstallReport`.
    :param package_description: the
        :class:`giftwrap.package.description.PackageDescription` (system dependencies,
        package name, version and license).
    :param venv_dir: the staged virtualenv, whose ``*.dist-info`` give
        names and licenses.
    :param patches: the patches applied to the checkout.
    :param epoch: the build's time (default: ``SOURCE_DATE_EPOCH``, else now).
    :param digest: the artifact's sha256, if the caller has it already.
    :param system_python: the :class:`giftwrap.venv.syspython.SystemPackage`
        whose modules the virtualenv links: installed versions.
    :param read: :func:`contents` of ``venv_dir`` and ``report``, if the
        caller has it already.
    :returns: the SBOM's path, ``<artifact>.cdx.json``.
    """
    path = Path(path)
    bom = build(path, project=project, checkout=checkout, report=report,
                package_description=package_description, venv_dir=venv_dir,
                patches=patches, epoch=epoch, digest=digest,
                system_python=system_python, read=read)
    target = path_for(path)
    atomic.write_text(target, JsonV1Dot6(bom).output_as_string(indent=2)
                      + '\n')
    LOG.debug('wrote %s', target)
    return target


def build(path: Path, *, project, checkout, report, package_description,
          venv_dir: Path, patches: Sequence[AppliedPatch] = (),
          epoch: int | None = None, digest: str | None = None,
          system_python: Sequence = (), read: Contents | None = None) -> Bom:
    """The SBOM of the artifact at ``path`` (see :func:`write`)."""
    fmt = 'rpm' if path.suffix == '.rpm' else 'deb'
    target = package_description.target(fmt)
    digest = digest or _sha256(path)
    main = _project(project, checkout, target, digest, patches)
    dists, pypi = read or contents(venv_dir, report)
    linked = {p.name: p for p in system_python if p.format == fmt}
    system = [_system(relation, fmt, linked) for relation in target.depends]
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f'giftwrap-sbom:{digest}') \
        if digest else uuid.uuid4()
    bom = Bom(serial_number=serial, metadata=BomMetaData(
        component=main, timestamp=_timestamp(epoch),
        tools=ToolRepository(components=[Component(
            type=ComponentType.APPLICATION, name='giftwrap',
            version=giftwrap.__version__)])))
    for component in (*pypi, *system):
        bom.components.add(component)
    bom.register_dependency(main, [*pypi, *system])
    _register_requirements(bom, pypi, dists)
    return bom


def _register_requirements(bom: Bom, pypi: Sequence[Component],
                           dists: Mapping[str, _Dist]) -> None:
    """Each distribution depends on what its ``Requires-Dist`` names.

    Only installed distributions count; requirements of extras are not
    followed (which extras were installed is not recorded).
    """
    by_name = {canonicalize_name(c.name): c for c in pypi}
    for key, component in by_name.items():
        dist = dists.get(key)
        needs = [by_name[r] for r in sorted(dist.requires) if r in by_name
                 and r != key] if dist else []
        if needs:
            bom.register_dependency(component, needs)


def _project(project, checkout, target, digest: str | None,
             patches: Sequence[AppliedPatch]) -> Component:
    purl = _package_url(target.format, target.name,
                        target.version.deb if target.format == 'deb'
                        else target.version.rpm, arch=target.arch)
    references = [ref for ref in (
        _reference(ExternalReferenceType.VCS, _vcs_url(project.provenance_url),
                   f'commit {checkout.commit} (ref {project.gitref})'),
        _reference(ExternalReferenceType.WEBSITE, target.homepage))
        if ref is not None]
    properties = [Property(name=PREFIX + k, value=str(v)) for k, v in (
        ('gitref', project.gitref), ('commit', checkout.commit),
        ('install-path', project.install_path),
        ('package-name', target.name))]
    properties += [Property(name=f'{PREFIX}patch',
                            value=f'{p.name} sha256:{p.sha256}')
                   for p in patches]
    return Component(
        type=ComponentType.APPLICATION, name=project.name,
        version=str(target.version), bom_ref=str(purl), purl=purl,
        description=target.summary,
        hashes=[_hash(digest)] if digest else [],
        licenses=_licenses((), target.license), external_references=references,
        properties=properties,
        pedigree=Pedigree(commits=[Commit(uid=checkout.commit)],
                          patches=[_patch(p) for p in patches]))


def _patch(patch: AppliedPatch) -> Patch:
    data = Path(patch.path).read_bytes()
    try:
        text = AttachedText(content=data.decode('utf-8'),
                            content_type='text/x-diff')
    except UnicodeDecodeError:
        import base64
        text = AttachedText(content=base64.b64encode(data).decode(),
                            content_type='text/x-diff', encoding='base64')
    return Patch(type=PatchClassification.UNOFFICIAL, diff=Diff(text=text))


def _distributions(report, dists: Mapping[str, _Dist]) -> list[Component]:
    components = []
    for key, version in sorted(report.installed.items()):
        dist = dists.get(canonicalize_name(key))
        name = dist.name if dist else key
        purl = PackageURL(type='pypi', name=name.lower().replace('_', '-'),
                          version=version)
        sha = report.hashes.get(key)
        components.append(Component(
            type=ComponentType.LIBRARY, name=name, version=version,
            bom_ref=str(purl), purl=purl,
            hashes=[_hash(sha)] if sha else [],
            licenses=_licenses(dist.licenses, dist.expression)
            if dist else []))
    return components


def _system(relation: str, fmt: str, linked: Mapping | None = None
            ) -> Component:
    match = _RELATION.match(relation)
    name = match.group('name') if match else relation.strip()
    if linked and name in linked:
        return _linked(linked[name], relation)
    purl = _package_url(fmt, name)
    properties = [Property(name=f'{PREFIX}kind', value='system-package')]
    if match and match.group('op'):
        properties.append(Property(
            name=f'{PREFIX}version-constraint',
            value=f'{match.group("op")} {match.group("version")}'))
    return Component(type=ComponentType.LIBRARY, name=name,
                     bom_ref=f'{fmt}:{relation}', purl=purl,
                     properties=properties)


def _linked(package, relation: str) -> Component:
    """A system package whose modules the virtualenv links: the version
    the build linked, and what it linked."""
    purl = _package_url(package.format, package.name, package.version,
                        arch=package.arch)
    properties = [Property(name=f'{PREFIX}kind', value='system-package'),
                  Property(name=f'{PREFIX}linked-modules',
                           value=' '.join(package.entries)),
                  Property(name=f'{PREFIX}site-dir', value=package.site_dir)]
    properties += [Property(name=f'{PREFIX}python-distribution', value=d)
                   for d in package.distributions]
    return Component(type=ComponentType.LIBRARY, name=package.name,
                     version=package.version, bom_ref=f'{package.format}:'
                     f'{relation}', purl=purl, properties=properties)


def _package_url(fmt: str, name: str, version: str | None = None, *,
                 arch: str | None = None) -> PackageURL:
    # A deb's vendor is the distribution it is built for: the build host's
    # (its interpreter is the one the package depends on).  An rpm built
    # on any host may target any rpm distribution, so none is named.
    namespace = _deb_vendor() if fmt == 'deb' else None
    return PackageURL(type=fmt, namespace=namespace, name=name,
                      version=version,
                      qualifiers={'arch': arch} if arch else None)


def _deb_vendor(os_release: Path = Path('/etc/os-release')) -> str:
    try:
        text = os_release.read_text()
    except OSError:
        return 'debian'
    values = dict(line.split('=', 1) for line in text.splitlines()
                  if '=' in line)
    vendor = values.get('ID', '').strip('"\'').lower()
    return vendor if vendor in _DEB_VENDORS else 'debian'


def _read_dists(venv_dir: Path) -> dict[str, _Dist]:
    """Canonical name -> name and licenses, from each ``METADATA``."""
    found = {}
    for info in sorted(Path(venv_dir).glob(
            'lib/python3*/site-packages/*.dist-info')):
        try:
            text = (info / 'METADATA').read_text(encoding='utf-8',
                                                 errors='replace')
        except OSError:
            LOG.debug('no METADATA in %s', info)
            continue
        headers = email.parser.HeaderParser().parsestr(text)
        name = str(headers.get('Name') or '').strip()
        if name:
            found[canonicalize_name(name)] = _Dist(
                name, _license_names(headers),
                str(headers.get('License-Expression') or '').strip(),
                _requires(headers.get_all('Requires-Dist') or ()))
    return found


def _requires(values) -> frozenset[str]:
    # Markers are evaluated for giftwrap's interpreter, not the target's:
    # close enough for edges between distributions that are installed.
    names = set()
    for value in values:
        try:
            requirement = Requirement(str(value))
            if requirement.marker is None or \
                    requirement.marker.evaluate({'extra': ''}):
                names.add(canonicalize_name(requirement.name))
        except (InvalidRequirement, UndefinedEnvironmentName) as exc:
            LOG.debug('ignoring the requirement %r: %s', value, exc)
    return frozenset(names)


def _license_names(headers) -> tuple[str, ...]:
    """``License`` if it is a name, else the license classifiers."""
    value = str(headers.get('License') or '').strip()
    if value and '\n' not in value and value.upper() != 'UNKNOWN' and \
            len(value) <= 100:
        return (value,)
    return tuple(str(c).split('::')[-1].strip()
                 for c in headers.get_all('Classifier') or ()
                 if str(c).startswith('License ::') and
                 str(c).count('::') >= 2)


def _licenses(names: Sequence[str], expression: str = ''):
    """One SPDX expression, or licenses by SPDX id or by name."""
    if not expression and len(names) == 1:
        # Many a License field holds an SPDX expression in all but name.
        expression, names = names[0], ()
    if expression:
        spdx_id = spdx.fixup_id(expression)
        if spdx_id:
            return [DisjunctiveLicense(id=spdx_id)]
        if spdx.is_expression(expression):
            return [LicenseExpression(expression)]
        names = (expression, *names)
    return [DisjunctiveLicense(id=spdx.fixup_id(n)) if spdx.fixup_id(n)
            else DisjunctiveLicense(name=n) for n in dict.fromkeys(names)]


def _reference(kind: ExternalReferenceType, url: str, comment: str = ''
               ) -> ExternalReference | None:
    if not url:
        return None
    try:
        return ExternalReference(type=kind, url=XsUri(url),
                                 comment=comment or None)
    except InvalidUriException:
        LOG.debug('%s is not a URI: left out of the SBOM', url)
        return None


def _vcs_url(giturl: str) -> str:
    """A URI for ``giturl``: local paths and ``user@host:path`` included."""
    if '://' in giturl:
        return giturl
    if giturl.startswith('/'):
        return 'file://' + giturl
    match = _SCP_URL.match(giturl)
    if match:
        return (f'ssh://{match.group("user") or ""}{match.group("host")}/'
                f'{match.group("path")}')
    return giturl


def _hash(sha256: str) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=sha256)


def _sha256(path: Path) -> str | None:
    return hashing.sha256_file(path) if path.is_file() else None


def _timestamp(epoch: int | None = None) -> datetime.datetime:
    """The build's time (``epoch``, else ``SOURCE_DATE_EPOCH``), so a
    rebuild writes the same SBOM."""
    if epoch is None:
        value = os.environ.get('SOURCE_DATE_EPOCH')
        epoch = int(value) if value and value.isdigit() else None
    if epoch is not None:
        return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return datetime.datetime.now(datetime.timezone.utc)
