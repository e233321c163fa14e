"""The public driver API: giftwrap.api, its version, the test kit."""

from __future__ import annotations

import importlib
import warnings

import pytest

from giftwrap import api, errors, testing
from giftwrap import plugins as drivers
from giftwrap.builders import nfpm
from giftwrap.resolvers import requirements_file


def test_api_exports_what_drivers_need():
    assert set(api.__all__) >= {
        'API_VERSION', 'Builder', 'BuildContext', 'StagedTree', 'Artifact',
        'Tool', 'Option', 'Resolver', 'ResolveContext', 'Pin', 'Pins',
        'ProjectInfo', 'PackageDescription', 'Runner', 'GiftwrapError',
        'BuildError', 'ResolveError', 'DriverError', 'MissingToolError'}
    assert all(hasattr(api, name) for name in api.__all__)
    assert api.API_VERSION == drivers.API_VERSION


def test_every_builtin_driver_loads_under_this_api():
    for namespace in (drivers.BUILDERS, drivers.RESOLVERS):
        for name in drivers.available(namespace):
            cls = drivers.load(namespace, name)
            assert tuple(cls.api_version) <= api.API_VERSION


class _Future(api.Builder):
    """Written for an API this giftwrap does not have."""

    api_version = (api.API_VERSION[0], api.API_VERSION[1] + 1)

    def build(self, tree):
        raise AssertionError('never built')


@pytest.mark.parametrize('wanted, message, hint', [
    ((api.API_VERSION[0], api.API_VERSION[1] + 1), 'written for', 'upgrade giftwrap'),
    ((api.API_VERSION[0] + 1, 0), 'written for', 'upgrade giftwrap'),
    ((0, 9), 'written for', 'made for API 1.x'),
    ('one', 'not (major, minor)', 'report it'),
])
def test_a_driver_for_another_api_is_refused(wanted, message, hint):
    cls = type('Other', (_Future,), {'api_version': wanted})
    with pytest.raises(errors.DriverError) as caught:
        drivers.check_api(drivers.BUILDERS, 'other', cls)
    assert message in str(caught.value)
    assert "builder 'other'" in str(caught.value)
    assert hint in caught.value.hint


def test_context_project_still_answers_with_a_warning(tmp_path):
    context = testing.build_context(tmp_path)
    with pytest.warns(DeprecationWarning, match='context.project_info'):
        assert context.project.name == context.project_info.name == 'demo'
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert context.project_info.where_key('gitref') == 'manifest.yml:1'


def test_drivers_get_every_option_filled_in(tmp_path):
    """A context built without options still has each default: no driver
    needs its own fallback."""
    context = testing.build_context(tmp_path)
    builder = nfpm.NfpmDeb(context)
    assert set(builder.context.options) == set(nfpm.NfpmDeb.options)
    assert builder.option('compression') == \
        nfpm.NfpmDeb.options['compression'].default
    resolver = requirements_file.RequirementsFile(testing.resolve_context(
        tmp_path, http=None))
    assert set(resolver.context.options) == \
        set(requirements_file.RequirementsFile.options)


def test_build_context_checks_options_like_a_manifest(tmp_path):
    with pytest.raises(errors.DriverError, match='compression'):
        testing.build_context(tmp_path, builder=nfpm.NfpmDeb,
                              options={'compression': 'lz4'})


def test_recording_runner_records_and_plays(tmp_path):
    target = tmp_path / 'out' / 'pkg.deb'
    runner = testing.RecordingRunner(
        respond=lambda call: testing.touch(call.argv[-1]),
        fail={'--broken': 'it broke'})
    assert runner.run(['tool', '--x', str(target)], cwd=tmp_path,
                      what='tool').returncode == 0
    assert target.read_bytes() == b'package'
    assert runner.calls[0] == testing.Call(('tool', '--x', str(target)),
                                           tmp_path, None, 'tool')
    with pytest.raises(errors.CommandError) as caught:
        runner.run(['tool', '--broken'], what='tool')
    assert caught.value.output == 'it broke'
    assert runner.run(['tool', '--broken'], check=False).returncode == 1
    assert runner.argvs()[1:] == [('tool', '--broken')] * 2


def test_builders_publish_with_the_kit(tmp_path):
    """A whole builder run on the kit's context and tree: nfpm played by
    the recording runner."""
    runner = testing.RecordingRunner(
        respond=lambda call: testing.touch(
            call.argv[call.argv.index('--target') + 1]))
    context = testing.build_context(tmp_path, builder=nfpm.NfpmDeb,
                                    runner=runner)
    artifact = nfpm.NfpmDeb(context).build(testing.staged_tree(tmp_path / 'stage'))
    assert artifact.path == tmp_path / 'out' / 'demo_1.0-1_all.deb'
    assert artifact.path.read_bytes() == b'package'
    assert runner.calls[0].argv[1:3] == ('package', '--config')


@pytest.mark.parametrize('old, name, new', [
    ('giftwrap.builders.base', 'Builder', 'giftwrap.api'),
    ('giftwrap.builders.base', 'StagedTree', 'giftwrap.api'),
    ('giftwrap.builders.base', 'Publisher', 'giftwrap.package.builder'),
    ('giftwrap.sources.base', 'Resolver', 'giftwrap.api'),
    ('giftwrap.sources.base', 'Pins', 'giftwrap.api'),
    ('giftwrap.drivers', 'Option', 'giftwrap.api'),
    ('giftwrap.drivers', 'load', 'giftwrap.plugins'),
])
def test_old_import_paths_work_with_a_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning,
                      match=f'{old}.{name} is deprecated .* "from {new} import {name}"'):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)


def test_an_old_path_without_the_name_says_so():
    from giftwrap.builders import base
    with pytest.raises(AttributeError, match="'giftwrap.builders.base' has no attribute 'Nope'"):
        base.Nope


def test_a_driver_subclassing_an_old_path_still_loads():
    with pytest.warns(DeprecationWarning):
        from giftwrap.builders.base import Builder as Old

    class Legacy(Old):
        def build(self, tree):
            raise NotImplementedError

    assert issubclass(Legacy, api.Builder)
