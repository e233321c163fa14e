"""The ``docker`` builder: a runnable container image of each project.

The virtualenv is built and relocated on the host, as for every package,
then copied into an image ``FROM`` the ``base_image``.  The image runs the
virtualenv's ``bin/python``, a link to the interpreter it was built with,
so the base image must have that interpreter at the same path and version
(build with ``python: /usr/bin/python3`` of the same distribution release
as the base image).  A ``RUN`` step checks this and fails with a clear
message otherwise, which is why this builder does not need a *packaged*
interpreter (``needs_system_python`` is False): any interpreter works if the
base image has it at the same path.

The Dockerfile comes from ``giftwrap/templates/Dockerfile.j2``; a user
template can extend it and override its blocks.  The image is built
untagged (``--iidfile``) and named only once everything succeeded, so a
failure never leaves a name pointing at a broken or partial build.
"""

from __future__ import annotations

import dataclasses

import datetime
import importlib.resources
import json
import logging
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any, Mapping

import jinja2

from giftwrap.api import Artifact, Builder, Option, StagedTree
from giftwrap import errors
from giftwrap.manifest import bounds
from giftwrap.util import containers as engines

LOG = logging.getLogger(__name__)

DEFAULT_BASE_IMAGE = 'docker.io/library/debian:bookworm-slim'

# The reference grammar of the OCI distribution spec, slightly simplified.
_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_HOST = r'(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?)'
_NAME = re.compile(rf'^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*\Z')
_REGISTRY = re.compile(rf'^{_HOST}(?:/{_COMPONENT})*\Z')
_TAG = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z')
_IMAGE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z')
# A package name, or an rpm capability such as libyaml-0.so.2()(64bit).
_PACKAGE = re.compile(r'^[A-Za-z0-9/][A-Za-z0-9._+:/-]*(\(\w*\))*\Z')

OCI = 'org.opencontainers.image.'
#: The name user templates extend: {% extends "giftwrap/Dockerfile.j2" %}
BUILTIN_TEMPLATE = 'giftwrap/Dockerfile.j2'


class DockerBuilder(Builder):
    """A container image of the virtualenv (docker, podman or buildah)."""

    options = {
        'engine': Option(str, choices=tuple(engines.ENGINES),
                         help='the container engine (default: the first of '
                              'docker, podman, buildah installed)'),
        'isolation': Option(str, choices=('chroot', 'oci', 'rootless'),
                            help='podman/buildah --isolation'),
        'tls_verify': Option(bool, default=True,
                             help='verify registry certificates'),
        'cache_layers': Option(bool, default=False,
                               help='podman/buildah: keep each step as a '
                                    'cached layer (--layers)'),
        'base_image': Option(str, default=DEFAULT_BASE_IMAGE,
                             help='the FROM image; it must have the '
                                  'interpreter the virtualenv was built with'),
        'image_name': Option(str, help='default: the package name'),
        'image_tag': Option(str, help='default: the package version'),
        'template': Option(str, help='a Dockerfile template extending '
                                     '"giftwrap/Dockerfile.j2", relative to '
                                     'the manifest'),
        'package_format': Option(str, default='deb', choices=('deb', 'rpm'),
                                 help='the base image\'s package format: '
                                      'whose dependency names to install'),
        'save': Option(bool, default=False,
                       help='write the image to the output directory as '
                            '<image_name>_<tag>.tar'),
        'push': Option(str, help='a registry (host[:port][/path]) to push '
                                 'the image to'),
    }
    parallel_safe = True
    needs_system_python = False

    @classmethod
    def check_tools(cls, options: Mapping[str, object]) -> None:
        """Check that the chosen (or some) engine is installed and fits.

        :raises giftwrap.errors.MissingToolError: no usable engine.
        :raises giftwrap.errors.DriverError: settings it cannot honour.
        """
        engines.choose(options.get('engine'), _settings(options))

    def build(self, tree: StagedTree) -> Artifact:
        """Build the image, then name, save and push it.

        :raises giftwrap.errors.BuildError: the build, save or push failed
            (with the engine's output), or a bad name or template.
        :raises giftwrap.errors.MissingToolError: the engine is missing.
        """
        reference = self.reference()
        self.check_output(reference)
        if self.context.offline and self.option('push'):
            raise errors.BuildError(
                'cannot push the image to a registry with --offline',
                where=self.context.project_info.where_key('builder_options'),
                hint='build without --offline, or without the push option')
        engine = engines.make(self.option('engine'), self.context.runner,
                              dataclasses.replace(
                                  _settings(self.context.options),
                                  offline=self.context.offline))
        work = self.context.work_dir.resolve()
        context_dir = stage_context(tree, work / 'context')
        text = render_dockerfile(self.template_values(tree, reference),
                                 self.template_path())
        (context_dir / 'Dockerfile').write_text(text, encoding='utf-8')
        image_id = self.build_image(engine, context_dir, work / 'image-id')
        return self.finish(engine, image_id, reference)

    def reference(self) -> str:
        """The image's ``name:tag``.

        :raises giftwrap.errors.BuildError: an invalid name or tag.
        """
        package = self.context.package
        name = self.option('image_name') or package.name.replace('+', '-')
        tag = self.option('image_tag') or re.sub(r'[^A-Za-z0-9_.-]', '_',
                                                 str(package.version))
        where = self.context.project_info.where_key('builder_options')
        if not _NAME.match(name):
            raise errors.BuildError(
                f'{name!r} is not a valid image name', where=where,
                hint='use lower-case letters, digits and . _ - separated by '
                     '"/", optionally after a registry host[:port]/')
        if not _TAG.match(tag):
            raise errors.BuildError(
                f'{tag!r} is not a valid image tag', where=where,
                hint='use letters, digits, _ . - (at most 128, not starting '
                     'with . or -)')
        return f'{name}:{tag}'

    def template_path(self) -> Path | None:
        """The user's template, relative to the manifest's directory."""
        template = self.option('template')
        if not template:
            return None
        return self.context.project_info.manifest_dir / template

    def template_values(self, tree: StagedTree, reference: str
                        ) -> dict[str, Any]:
        """The names the Dockerfile template is rendered with."""
        ctx, interp = self.context, self.context.interpreter
        base = self.option('base_image')
        _check_word(base, 'base_image', _IMAGE, ctx.project_info)
        install = _check_word(str(tree.install_path), 'install_path',
                              re.compile(r'^/[^\s"\'$\\`]*\Z'), ctx.project_info)
        python = f'{install}/bin/python'
        major, minor = interp.short_version.split('.')[:2]
        return {
            'base_image': base, 'install_path': install, 'python': python,
            'interpreter': str(interp.path),
            'python_version': interp.short_version,
            'python_check': 'import sys; sys.exit(sys.version_info[:2] != '
                            f'({int(major)}, {int(minor)}))',
            'python_error': f'giftwrap: {python} does not run Python '
                            f'{interp.short_version} in the base image {base}:'
                            f' the virtualenv needs {interp.path} (Python '
                            f'{interp.short_version}) at that path; use a '
                            f'base image that has it',
            'packages': runtime_packages(ctx),
            'project': {
                'name': ctx.project_info.name, 'package_name': ctx.package.name,
                'version': ctx.package.version.deb,
                'giturl': ctx.project_info.giturl, 'gitref': ctx.project_info.gitref,
                'commit': ctx.checkout.commit},
            'image': reference,
        }

    def build_image(self, engine: engines.Engine, context_dir: Path,
                    iidfile: Path) -> str:
        """Run the engine's build; return the new image's id.

        :raises giftwrap.errors.BuildError: explaining what failed.
        """
        iidfile.unlink(missing_ok=True)
        LOG.info('building the image of %s with %s', self.context.project_info.name,
                 engine.name)
        result = engine.build(context_dir / 'Dockerfile', context_dir,
                              labels=oci_labels(self.context),
                              iidfile=iidfile)
        if result.returncode != 0 or not iidfile.is_file():
            raise engine.build_error(result, self.option('base_image'))
        return iidfile.read_text().strip()

    def finish(self, engine: engines.Engine, image_id: str, reference: str
               ) -> Artifact:
        """Name the image, save and push it; undo the names on failure.

        The archive is published last, so a failed push leaves none.
        """
        registry = self.option('push')
        pushed = _push_name(registry, reference, self.context.project_info) \
            if registry else None
        archive = self.context.work_dir.resolve() / 'image.tar'
        tagged: list[str] = []
        try:
            for name in [reference] + ([pushed] if pushed else []):
                engine.tag(image_id, name)
                tagged.append(name)
            if self.option('save'):
                archive.unlink(missing_ok=True)
                engine.save(reference, archive)
            if pushed:
                _push(engine, pushed)
            path = (self.publish(archive, archive_name(reference))
                    if self.option('save') else None)
        except errors.GiftwrapError:
            for name in tagged:
                engine.remove(name)
            engine.remove(image_id)
            raise
        LOG.info('built image %s (%s)', reference, image_id)
        return Artifact(name=pushed or reference, path=path)

    def check_output(self, reference: str) -> None:
        """Fail before building if the archive could not be published."""
        target = self.context.output_dir / archive_name(reference)
        if self.option('save') and target.exists() and \
                not self.context.project_info.force_overwrite:
            raise errors.BuildError(
                f'{target} exists already and was not replaced',
                hint='remove it, bump the version, or set force_overwrite: '
                     'true in the manifest')


def archive_name(reference: str) -> str:
    """``<image_name>_<tag>.tar``, with ``/`` in the name replaced."""
    name, tag = reference.rsplit(':', 1)
    return f'{name.replace("/", "_")}_{tag}.tar'


def _settings(options: Mapping[str, object]) -> engines.Settings:
    return engines.Settings(
        isolation=options.get('isolation'),  # type: ignore[arg-type]
        tls_verify=bool(options.get('tls_verify', True)),
        cache_layers=bool(options.get('cache_layers', False)))


def _check_word(value: str, key: str, pattern: re.Pattern, project) -> str:
    # A newline or quote would end a Dockerfile instruction or shell word.
    if not pattern.match(value):
        raise errors.BuildError(
            f'{key} {value!r} cannot be written into a Dockerfile',
            where=project.where_key('builder_options' if key == 'base_image'
                                    else key),
            hint='use no spaces, quotes, "$", "\\" or control characters')
    return value


def runtime_packages(context) -> tuple[str, ...]:
    """The system packages the image needs: the package's depends (the
    interpreter's included, so a slim base image works) without versions.
    The Dockerfile installs only those the base image lacks.

    :raises giftwrap.errors.BuildError: a dependency that is not a name.
    """
    packages = []
    fmt = context.options.get('package_format') or 'deb'
    for depend in context.package.target(fmt).depends:
        # deb: "name (>= 1)"; rpm: "name >= 1" or "libfoo.so.1()(64bit)"
        split = r'[\s(<>=]' if fmt == 'deb' else r'[\s<>=]'
        name = re.split(split, depend.strip(), maxsplit=1)[0]
        if not _PACKAGE.match(name):
            raise errors.BuildError(
                f'system dependency {depend!r} is not a package name',
                where=context.project_info.where_key('system_dependencies'),
                hint='list distribution package names, e.g. libxml2')
        packages.append(name)
    return tuple(dict.fromkeys(packages))


def created(environ: Mapping[str, str] = os.environ) -> str:
    """The build time in RFC 3339: ``SOURCE_DATE_EPOCH`` if set, else now."""
    epoch = environ.get('SOURCE_DATE_EPOCH')
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
            if epoch else datetime.datetime.now(datetime.timezone.utc))
    return when.replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def oci_labels(context) -> dict[str, str]:
    """The OCI annotations of the image, as labels."""
    return {
        OCI + 'title': context.package.name,
        OCI + 'version': context.package.version.deb,
        OCI + 'source': context.project_info.provenance_url,
        OCI + 'revision': context.checkout.commit,
        OCI + 'created': created(
            {'SOURCE_DATE_EPOCH': str(context.source_date_epoch)}
            if context.source_date_epoch is not None else os.environ),
    }


def _push_name(registry: str, reference: str, project) -> str:
    if not _REGISTRY.match(registry):
        raise errors.BuildError(
            f'push registry {registry!r} is not host[:port][/path]',
            where=project.where_key('builder_options'),
            hint='e.g. registry.example.com:5000/openstack (no scheme)')
    return f'{registry}/{reference}'


def _push(engine: engines.Engine, name: str) -> None:
    try:
        engine.push(name)
    except errors.CommandError as exc:
        exc.what = f'pushing {name} failed: {exc.what}'
        exc.hint = ('check the registry address, its credentials and '
                    'tls_verify (false for a plain-HTTP registry)')
        raise


def stage_context(tree: StagedTree, context_dir: Path) -> Path:
    """A build context: ``root/`` holding the staged tree (hard links).

    :raises giftwrap.errors.BuildError: the tree cannot be read.
    """
    if context_dir.exists():
        shutil.rmtree(context_dir)
    context_dir.mkdir(parents=True)
    try:
        shutil.copytree(tree.root, context_dir / 'root', symlinks=True,
                        copy_function=_link_or_copy)
    except (OSError, shutil.Error) as exc:
        raise errors.BuildError(f'cannot copy the staged tree: {exc}',
                                where=str(tree.root)) from exc
    # COPY root/ / gives / the mode of root/, which a temp dir may have.
    os.chmod(context_dir / 'root', 0o755)
    return context_dir


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def render_dockerfile(values: Mapping[str, Any], template: Path | None = None
                      ) -> str:
    """Render giftwrap's Dockerfile, or ``template`` extending it.

    The template runs in the bounded sandbox (:mod:`giftwrap.manifest.bounds`): it can read
    ``values`` and include or extend templates beside it, nothing else.

    :param template: the user's template; files beside it (and
        :data:`BUILTIN_TEMPLATE`) are what it can extend or include.
    :raises giftwrap.errors.DriverError: the template does not exist.
    :raises giftwrap.errors.ManifestError: it is wrong (syntax, an
        undefined name, a forbidden operation), with its file and line.
    """
    builtin = importlib.resources.files('giftwrap').joinpath(
        'templates', 'Dockerfile.j2').read_text(encoding='utf-8')
    loaders: list[jinja2.BaseLoader] = [
        jinja2.DictLoader({BUILTIN_TEMPLATE: builtin})]
    if template is not None:
        loaders.append(jinja2.FileSystemLoader(template.parent))
    env = bounds.BoundedEnvironment(
        loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
        autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters.update(shquote=shlex.quote, json=json.dumps)
    try:
        name = template.name if template is not None else BUILTIN_TEMPLATE
        return bounds.render(env.get_template(name), values)
    except jinja2.TemplateNotFound as exc:
        raise errors.DriverError(
            f'the Dockerfile template {exc.name} does not exist',
            where=str(template),
            hint='"template" is relative to the manifest\'s directory') from None
    except jinja2.TemplateSyntaxError as exc:
        raise errors.ManifestError(
            f'syntax error in the Dockerfile template: {exc.message}',
            where=f'{exc.filename or exc.name}:{exc.lineno}') from None
    except (jinja2.UndefinedError, jinja2.exceptions.SecurityError) as exc:
        raise errors.ManifestError(
            f'the Dockerfile template failed: {exc}',
            where=str(template or BUILTIN_TEMPLATE),
            hint='templates can use: ' + ', '.join(sorted(values))) from None
