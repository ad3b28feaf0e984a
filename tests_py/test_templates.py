"""fill_template with compiled templates kept
(sky_fallback/skypilot/templates.py), compared with SkyPilot's own.

Each case runs upstream's fill_template and the replacement into two
files and compares the bytes written, or the exceptions raised.
"""

import os

import pytest

from sky_fallback.skypilot import templates

common_utils = pytest.importorskip('sky.utils.common_utils',
                                   reason='SkyPilot is not installed')
jinja2 = pytest.importorskip('jinja2')
from tests_py import skypilot_documents  # pylint: disable=wrong-import-position

UPSTREAM = common_utils.fill_template


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """Each test starts with an empty cache and the gate open."""
    monkeypatch.delenv('SKYPILOT_USE_RUST', raising=False)
    templates._compiled.cache_clear()  # pylint: disable=protected-access
    yield
    templates._compiled.cache_clear()  # pylint: disable=protected-access


def outcome(function, template_ref, variables, output_path):
    """The bytes ``function`` wrote, or the exception it raised."""
    try:
        function(template_ref, variables, str(output_path))
    except Exception as error:  # pylint: disable=broad-except
        return ('raised', type(error), str(error))
    with open(output_path, 'rb') as f:
        return ('wrote', f.read())


def assert_upstreams(tmp_path, template_ref, variables, calls=2):
    """The replacement writes (or raises) what upstream does, on each of
    ``calls`` calls (the first compiles, the next use the cache)."""
    fill_template = templates.replacement(UPSTREAM)
    expected = outcome(UPSTREAM, template_ref, variables,
                       tmp_path / 'upstream' / 'out.yml')
    for call in range(calls):
        got = outcome(fill_template, template_ref, variables,
                      tmp_path / f'fast{call}' / 'out.yml')
        assert got == expected
    return expected


@pytest.mark.parametrize('template', skypilot_documents.template_names())
def test_skypilots_templates(tmp_path, template):
    variables = skypilot_documents.template_variables(
        template, str(tmp_path / 'cluster.yml'))
    expected = assert_upstreams(tmp_path, template, variables)
    assert expected[0] == 'wrote'
    info = templates.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_an_absolute_template_path(tmp_path):
    path = tmp_path / 'plugin.yml.j2'
    path.write_text('name: {{ name }}\n{% for x in xs %}- {{ x }}\n{% endfor %}')
    assert_upstreams(tmp_path, str(path), {'name': 'p', 'xs': [1, 2]})


def test_an_edited_template_is_compiled_again(tmp_path):
    path = tmp_path / 'edited.yml.j2'
    path.write_text('a: {{ a }}\n')
    assert assert_upstreams(tmp_path, str(path), {'a': 1}) == ('wrote',
                                                                b'a: 1')
    path.write_text('b: {{ a }}\n')
    assert assert_upstreams(tmp_path, str(path), {'a': 1}) == ('wrote',
                                                                b'b: 1')


@pytest.mark.parametrize(
    'source',
    [
        '{% if %}',  # fails to compile
        '{% for x in y %}',  # unclosed block
        '{{ a.b.c }}',  # fails to render: 'a' is undefined
        '{{ 1 / 0 }}',
        '{{ x | no_such_filter }}',
    ])
def test_errors_are_upstreams_on_every_call(tmp_path, source):
    path = tmp_path / 'broken.yml.j2'
    path.write_text(source)
    expected = assert_upstreams(tmp_path, str(path), {}, calls=3)
    assert expected[0] == 'raised'


def test_a_template_that_fails_to_compile_is_not_kept(tmp_path):
    path = tmp_path / 'broken.yml.j2'
    path.write_text('{% if %}')
    fill_template = templates.replacement(UPSTREAM)
    for _ in range(2):
        with pytest.raises(jinja2.TemplateSyntaxError):
            fill_template(str(path), {}, str(tmp_path / 'out.yml'))
    assert templates.cache_info().currsize == 0


@pytest.mark.parametrize('template_ref', [
    'no-such-template.yml.j2', '/no/such/dir/x.yml.j2', 'kubernetes-ray.yml'
])
def test_a_missing_or_misnamed_template_is_upstreams(tmp_path, template_ref):
    expected = assert_upstreams(tmp_path, template_ref, {})
    assert expected[0] == 'raised'


def test_the_cache_is_bounded(tmp_path):
    fill_template = templates.replacement(UPSTREAM)
    count = templates.CACHED_TEMPLATES + 8
    for index in range(count):
        path = tmp_path / f't{index}.yml.j2'
        path.write_text(f'index: {index}\nname: {{{{ name }}}}\n')
        fill_template(str(path), {'name': 'n'}, str(tmp_path / 'out.yml'))
        assert (tmp_path / 'out.yml').read_text() == f'index: {index}\nname: n'
    info = templates.cache_info()
    assert info.misses == count
    assert info.currsize == templates.CACHED_TEMPLATES


def test_a_large_template_is_compiled_each_call(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, 'LARGEST_CACHED_SOURCE', 100)
    path = tmp_path / 'large.yml.j2'
    path.write_text('x: {{ x }}\n' + '#' * 200 + '\n')
    assert_upstreams(tmp_path, str(path), {'x': 1})
    assert templates.cache_info().currsize == 0


@pytest.mark.parametrize('value', ['0', 'false', 'No', 'OFF'])
def test_the_gate_off_is_upstreams_code(tmp_path, monkeypatch, value):
    calls = []

    def installed(template_ref, variables, output_path):
        calls.append(template_ref)
        return UPSTREAM(template_ref, variables, output_path)

    monkeypatch.setenv('SKYPILOT_USE_RUST', value)
    fill_template = templates.replacement(installed)
    variables = skypilot_documents.template_variables(
        'aws-ray.yml.j2', str(tmp_path / 'cluster.yml'))
    fill_template('aws-ray.yml.j2', variables, str(tmp_path / 'out.yml'))
    assert calls == ['aws-ray.yml.j2']
    assert templates.cache_info().currsize == 0


def test_the_template_is_jinjas_own(tmp_path):
    """What is kept is what jinja2.Template(source) builds, in the same
    shared environment."""
    path = tmp_path / 'env.yml.j2'
    path.write_text('{{ x }}')
    templates.replacement(UPSTREAM)(str(path), {'x': 1},
                                    str(tmp_path / 'out.yml'))
    kept = templates.compiled_template(jinja2.Template, '{{ x }}')
    assert type(kept) is jinja2.Template  # pylint: disable=unidiomatic-typecheck
    assert kept.environment is jinja2.Template('{{ y }}').environment
    assert os.path.exists(tmp_path / 'out.yml')
