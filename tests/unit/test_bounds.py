"""Templates and YAML that would exhaust the machine fail fast and clearly.

Each case is a manifest a merge request could bring; each must end with a
manifest error naming the file and line, within seconds (every check is
made before the work, none is a timer).
"""

from __future__ import annotations

import textwrap

import jinja2
import pytest

from giftwrap import errors
from giftwrap.manifest import bounds, loader as manifest

BOMBS = {
    'power': '{{ 9 ** 999999999 }}',
    'repeat': "{{ 'x' * 3000000000 }}",
    'list repeat': '{{ [1] * 300000000 }}',
    'product': '{% set n = 10 ** 1000 %}{{ n * n * n * n * n }}',
    'nested ranges': '{% for i in range(100000) %}{% for j in range(100000) %}'
                     '{% endfor %}{% endfor %}',
    'nested string loops': "{% for c in 'x' * 1000000 %}{% for d in 'y' * "
                           "1000000 %}{% endfor %}{% endfor %}",
    'doubling': "{% set x = 'x' * 1000000 %}{% set x = x ~ x %}{{ x }}",
    'doubling +': "{% set x = 'x' * 1000000 %}{% set x = x + x %}{{ x }}",
    'recursive macro': '{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}'
                       '{% endmacro %}{{ f(0) }}',
    'ljust': "{{ 'x'.ljust(3000000000) }}",
    'center filter': "{{ 'x'|center(3000000000) }}",
    'percent width': "{{ '%999999999s' % 'x' }}",
    'format width': "{{ '{:>999999999}'.format('x') }}",
    'replace': "{{ ('x' * 1000000)|replace('x', 'xx') }}",
    'join': "{{ (['x' * 1000000] * 10)|join }}",
    'output': "{% for i in range(10) %}{{ 'x' * 1000000 }}{% endfor %}",
}


def write(tmp_path, text: str):
    path = tmp_path / 'manifest.yml'
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize('template', BOMBS.values(), ids=BOMBS.keys())
def test_a_costly_template_is_a_manifest_error(tmp_path, template):
    path = write(tmp_path, f"""\
        settings:
          version: '1.0-1'
          description: "{template}"
        projects:
          - name: nova
        """)
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path)
    assert caught.value.where == f'{path}:3'
    assert 'is too costly' in caught.value.what
    assert 'refused' in caught.value.hint


def test_ordinary_templates_still_render():
    env = bounds.BoundedEnvironment(undefined=jinja2.StrictUndefined)
    text = ("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 'a' ~ 'b' }} "
            "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} "
            "{% endfor %}{{ ['a', 'b']|join(',') }} {{ 'a-b'|replace('-', "
            "'_') }} {{ '%05d' % 3 }} {{ '{}-{}'.format(1, 2) }} "
            "{{ 'x'|center(5) }}|{{ 'v' ~ 10 // 3 }}")
    assert bounds.render(env.from_string(text), {}) == (
        '1024 ababab ab 1/3 2/3 3/3 a,b a_b 00003 1-2   x  |v3')


def test_a_loop_variable_cannot_rebind_the_counter():
    env = bounds.BoundedEnvironment()
    template = env.from_string(
        '{% set gw_loop = none %}{% for i in range(100000) %}'
        '{% for j in range(100000) %}{% endfor %}{% endfor %}')
    with pytest.raises(bounds.TemplateLimitError, match='steps'):
        bounds.render(template, {})


def test_a_yaml_alias_bomb_is_refused_before_rendering(tmp_path):
    levels = ['a: &a ["{{ settings.version }}", "x", "x", "x", "x", "x", "x",'
              ' "x", "x"]']
    for n in range(1, 9):
        prev, cur = chr(ord('a') + n - 1), chr(ord('a') + n)
        levels.append(f'{cur}: &{cur} [' + ', '.join([f'*{prev}'] * 9) + ']')
    path = write(tmp_path, "settings:\n  version: '1.0-1'\n  x:\n"
                 + ''.join(f'    {line}\n' for line in levels)
                 + 'projects:\n  - name: nova\n')
    assert path.stat().st_size < 1000
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load(path)
    assert 'YAML aliases expand the manifest past 100,000 values' in \
        caught.value.what
    assert caught.value.where.startswith(f'{path}:')


def test_a_self_referring_alias_is_refused(tmp_path):
    path = write(tmp_path, """\
        settings:
          version: '1.0-1'
          x: &x [1, *x]
        projects:
          - name: nova
        """)
    with pytest.raises(errors.ManifestError, match='refers to the value'):
        manifest.load(path)


def test_aliases_within_the_bound_still_load(tmp_path):
    path = write(tmp_path, """\
        settings:
          version: '1.0-1'
          system_dependencies: &deps [libxml2, libxslt1.1]
        projects:
          - name: nova
            system_dependencies: *deps
        """)
    project = manifest.load(path).render('nova')
    assert project.system_dependencies == ('libxml2', 'libxslt1.1')
