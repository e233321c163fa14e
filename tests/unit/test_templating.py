"""Rendering the manifest's templates (giftwrap.manifest.templating): each
value once, on first use; every error names the key, its line and a fix."""

from __future__ import annotations

import pytest

from giftwrap import errors
from giftwrap.manifest import loader as manifest, templating


def renderer(project=None, settings=None, written=None, source=None
             ) -> templating.Renderer:
    """A Renderer of ``project``/``settings`` raw values; ``written`` are
    the (scope, key) pairs the operator wrote (default: every one)."""
    raw = {'settings': dict(settings or {}),
           'project': {'name': 'nova', **(project or {})}}
    written = set(written) if written is not None else {
        (s, k) for s, values in raw.items() for k in values}

    def where(scope, key, explicit=False):
        if explicit and (scope, key) not in written:
            return None
        return f'm.yml:{scope}.{key}'

    return templating.Renderer(
        raw, source or templating.SAMPLE_SOURCE, where,
        {'name': ('project', 'name'), 'version': ('settings', 'version')})


def refused(render: templating.Renderer, scope: str, key: str
            ) -> errors.ManifestError:
    with pytest.raises(errors.ManifestError) as caught:
        render.value(scope, key)
    assert caught.value.exit_code == 2
    return caught.value


# -- values -------------------------------------------------------------------

def test_values_render_on_first_use_across_scopes():
    render = renderer(
        project={'install_path': '{{ settings.base }}/{{ name }}'},
        settings={'base': '/opt/{{ version }}', 'version': '2025.1'})
    assert render.value('project', 'install_path') == '/opt/2025.1/nova'
    assert render.value('settings', 'base') == '/opt/2025.1'


def test_lists_and_mappings_render_item_by_item():
    render = renderer(project={
        'deps': ['plugin-{{ name }}', 3, True],
        'units': {'{{ name }}.service': 'ExecStart={{ project.name }}'}})
    assert render.value('project', 'deps') == ['plugin-nova', 3, True]
    # keys are names the operator wrote, not templates
    assert render.value('project', 'units') == {
        '{{ name }}.service': 'ExecStart=nova'}


def test_text_without_a_brace_is_left_as_it_is():
    render = renderer(project={'summary': '100% %} sure'})
    assert render.value('project', 'summary') == '100% %} sure'


def test_a_bare_name_is_rendered_only_when_used():
    # "version" refers to "name"; "name" would be a cycle only if it
    # rendered every bare name it could
    render = renderer(project={'name': 'nova'},
                      settings={'version': '{{ name }}-1'})
    assert render.value('settings', 'version') == 'nova-1'


def test_source_names_mark_what_depends_on_them():
    render = renderer(project={'version': '1.0.{{ project.commit_short }}',
                               'package': 'x-{{ project.version }}',
                               'other': '{{ project.name }}'})
    assert render.value('project', 'version') == '1.0.0000000'
    assert render.value('project', 'package') == 'x-1.0.0000000'  # cached
    assert render.value('project', 'other') == 'nova'
    assert render.source_dependent == {('project', 'version'),
                                       ('project', 'package')}


def test_the_display_stand_ins_look_unresolved():
    render = renderer(project={'version': '{{ project.commit }}'},
                      source=templating.DISPLAY_SOURCE)
    assert render.value('project', 'version') == '<commit>'


# -- errors -------------------------------------------------------------------

def test_an_undefined_name_lists_what_templates_can_use():
    error = refused(renderer(project={'summary': '{{ project.sumary }}'}),
                    'project', 'summary')
    assert error.what.startswith("undefined name in the template of 'summary'")
    assert 'sumary' in error.what
    assert error.where == 'm.yml:project.summary'
    assert 'project.<key> (name, summary, commit' in error.hint


def test_an_unknown_settings_key_is_undefined():
    error = refused(renderer(settings={'base': '{{ settings.nope }}'}),
                    'settings', 'base')
    assert 'undefined name' in error.what
    assert error.where == 'm.yml:settings.base'


def test_a_syntax_error():
    error = refused(renderer(project={'summary': '{{ project.name '}),
                    'project', 'summary')
    assert error.what.startswith("template syntax error in 'summary': ")
    assert error.where == 'm.yml:project.summary'


@pytest.mark.parametrize('template', ['{{ 1 // 0 }}', '{{ name + 1 }}',
                                      '{{ name.index("x") }}'])
def test_a_failing_expression(template):
    error = refused(renderer(project={'summary': template}),
                    'project', 'summary')
    assert error.what.startswith("template of 'summary' failed: ")
    assert error.where == 'm.yml:project.summary'


def test_the_sandbox_refuses_internals():
    error = refused(renderer(project={'summary': '{{ name.__class__ }}'}),
                    'project', 'summary')
    assert error.what.startswith("template of 'summary' is not allowed")
    assert error.hint == 'templates may only read manifest values'


def test_a_costly_template():
    error = refused(renderer(project={'summary': '{{ "x" * 10 ** 9 }}'}),
                    'project', 'summary')
    assert error.what.startswith("template of 'summary' is too costly")
    assert 'loops, numbers and strings' in error.hint


def test_a_cycle_names_the_chain_and_a_written_key():
    # base (a default) -> install_path (written) -> base
    render = renderer(
        project={'install_path': '{{ project.base }}/x',
                 'base': '{{ project.install_path }}/..'},
        written={('project', 'install_path')})
    error = refused(render, 'project', 'base')
    assert error.what == ('template cycle: project.base -> '
                          'project.install_path -> project.base')
    assert error.where == 'm.yml:project.install_path'
    assert 'must not refer back' in error.hint


def test_a_cycle_of_defaults_names_where_it_closed():
    render = renderer(project={'a': '{{ project.b }}', 'b': '{{ project.a }}'},
                      written=())
    error = refused(render, 'project', 'a')
    assert error.where == 'm.yml:project.a'


def test_a_value_naming_itself_is_a_cycle():
    error = refused(renderer(settings={'version': '{{ version }}.1'}),
                    'settings', 'version')
    assert error.what == 'template cycle: settings.version -> settings.version'


def test_the_scope_mapping_knows_its_keys():
    render = renderer(project={'a': '1'})
    scope = templating._Scope(render, 'project', ['name', 'a'])
    assert (list(scope), len(scope), repr(scope)) == (['name', 'a'], 2,
                                                      '<project>')
    assert scope['a'] == '1'
    with pytest.raises(KeyError):
        scope['b']


# -- through the loader: the manifest's file and line -------------------------

@pytest.mark.parametrize('value, what', [
    ("'{{ name'", 'template syntax error'),
    ("'{{ 1 // 0 }}'", "template of 'summary' failed"),
])
def test_a_template_error_names_the_manifest_line(tmp_path, value, what):
    path = tmp_path / 'manifest.yml'
    path.write_text("settings:\n  version: '1.0'\nprojects:\n  - name: nova\n"
                    f"    summary: {value}\n")
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path).render('nova')
    assert caught.value.what.startswith(what)
    assert caught.value.where == f'{path}:5'
