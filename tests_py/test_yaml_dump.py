"""dump_yaml_str emitted by libyaml (sky_fallback/skypilot/yaml_dump.py),
compared byte for byte with SkyPilot's own dump_yaml_str.

The oracle is upstream's function itself. ``libyaml_dump`` is checked on
its own (where it answers, it must give upstream's text; where it declines,
upstream answers) and through ``replacement``, SkyPilot's function as the
plugin installs it. Documents: SkyPilot's task examples and cluster
templates, and Hypothesis documents of every scalar type SafeDumper
represents, shared sub-objects, root lists and empty collections.
"""

import inspect
import io
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import threading

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st
import pytest

from sky_fallback.skypilot import yaml_dump

yaml = pytest.importorskip('yaml')
yaml_utils = pytest.importorskip('sky.utils.yaml_utils',
                                 reason='SkyPilot is not installed')
backend_utils = pytest.importorskip('sky.backends.backend_utils',
                                    reason='SkyPilot is not installed')
from tests_py import skypilot_documents  # pylint: disable=wrong-import-position

UPSTREAM = yaml_utils.dump_yaml_str
FAST = yaml_dump.replacement(UPSTREAM)
# Tests that libyaml_dump answers need the PyYAML and libyaml it verified.
answers = pytest.mark.skipif(
    yaml_dump._verified_pyyaml() is None,  # pylint: disable=protected-access
    reason='this PyYAML or libyaml is not one libyaml_dump was verified with')


@pytest.fixture(autouse=True)
def gate_open(monkeypatch):
    """The fast path is what is tested (the suite also runs with the gate
    off, where it must not answer)."""
    monkeypatch.delenv('SKYPILOT_USE_RUST', raising=False)


def assert_upstreams(document, must_answer=False):
    """replacement(document) is upstream's text; so is libyaml_dump's,
    unless it declines (which ``must_answer`` forbids)."""
    expected = UPSTREAM(document)
    emitted = yaml_dump.libyaml_dump(document)
    if must_answer:
        assert emitted is not None, 'libyaml_dump declined'
    if emitted is not None:
        assert emitted == expected
    assert FAST(document) == expected


# Strings: pieces that exercise the emitters' decisions (indicators, quoting,
# escapes, line breaks beside spaces, implicit types), and long runs that
# are folded past the width of 80.
_PIECES = [
    'a', 'word', 'x' * 37, ' ', '  ', '\n', '\n\n', ' \n', '\n ', '"', "'",
    '\\', '\t', '\r', '\r\n', '\x00', '\x07', '\x1b', '\x7f', '\x85', '\xa0',
    'é', 'ü' * 9, '\u2028', '\u2029', '\ufeff', '\ud7ff', '\ue000', '\ufffd',
    '\U0001F600', '\U0010ffff', '#', ' #', ': ', ':', '- ', '-', '? ', '?',
    '---', '...', '&a', '*a', '!a', '|', '>', '%', '@', '`', '{', '}', '[',
    ']', ',', 'yes', 'No', 'null', '~', 'true', 'FALSE', '1', '-0', '0x1F',
    '0o17', '1e3', '.inf', '-.Inf', '.NaN', '1_000', '12:30:45',
    '2001-12-14', '2001-12-14t21:59:43.10-05:00', '+1', '.5', '=', '<<'
]
pieced_text = st.lists(st.sampled_from(_PIECES), max_size=40).map(''.join)
long_text = st.lists(st.sampled_from(['ab', 'cde', 'fghij', ' ', ' ', '\n',
                                      '"', '\\', 'é', '\t', '  ']),
                     min_size=30,
                     max_size=300).map(''.join)
strings = st.one_of(st.text(), pieced_text, long_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**60),
    st.floats(),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e17, 1e-7]),
    strings,
)
rare_scalars = st.one_of(st.binary(max_size=80), st.dates(), st.datetimes())
keys = st.one_of(strings, st.integers(), st.floats(allow_nan=False),
                 st.booleans(), st.none(),
                 st.text(min_size=110, max_size=140),
                 st.text(alphabet='ab c', min_size=118, max_size=135),
                 st.text(alphabet='abé', min_size=40, max_size=130))


def documents(leaves=scalars, key_strategy=keys):
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.dictionaries(key_strategy, children, max_size=6)),
        max_leaves=25)


@st.composite
def with_shared(draw, inner):
    """A document in which one list or dict object occurs more than once
    (SafeDumper writes it once, with an anchor, and aliases after)."""
    shared = draw(st.one_of(st.lists(inner, min_size=1, max_size=3),
                            st.dictionaries(keys, inner, min_size=1,
                                            max_size=3)))
    others = draw(st.lists(inner, max_size=3))
    places = draw(st.permutations([shared, shared] + others))
    if draw(st.booleans()):
        return {f'k{index}': value for index, value in enumerate(places)}
    return places


@given(documents().filter(lambda d: isinstance(d, dict)))
@example({})
@example({'': 1})
@example({'a' * 123: 1})
@example({'a' * 128: 1})
@example({'é' * 65: 1})
@example({'a\rb': 1})
@example({'a\nb': 1})
@example({'a\n\tb': 1})
@example({'key': 'value ' * 30 + '\n\tend'})
@example({'a': [1, {'b': ['x' * 90 + ' "y" ' * 30]}]})
@example({'a': {}, 'b': [], 'c': [[]], 'd': [{}]})
@example({'k' * 130: {'a': 'tab\there ' * 12}, 'x': {'k' * 130: ['\t' * 80]}})
@example({'k' * 130: [{'a': [{'b': 'tab\there ' * 12}]}]})
@example({yaml_dump._PLACEHOLDER_PREFIX + '0q': 'tab\t'})  # pylint: disable=protected-access
@example({'a': yaml_dump._PLACEHOLDER_PREFIX + '0q', 'b': '\t'})  # pylint: disable=protected-access
def test_mappings_are_upstreams(document):
    assert_upstreams(document)


@given(st.lists(documents()))
@example([])
@example([{}])
@example([{'a': 1}, {'b': [1, 2]}])
@example([[1, [2, 3]], {}, [], 'x', None])
@example([['\t' * 40 + ' x' * 40], {'k': ' y' * 50 + '\x85'}])
def test_root_lists_are_upstreams(documents_):
    assert_upstreams(documents_)


@given(documents(leaves=st.one_of(scalars, rare_scalars)))
def test_every_scalar_type_is_upstreams(document):
    assert_upstreams(document)


@given(with_shared(documents()))
def test_shared_objects_are_upstreams(document):
    assert_upstreams(document)


def test_recursive_objects_are_upstreams():
    document = {'a': 1}
    document['self'] = document
    items = ['x']
    items.append(items)
    assert_upstreams(document)
    assert_upstreams({'list': items, 'again': items})
    assert_upstreams([document, items])


# Layouts: few distinct keys and scalars, chosen for where they put things
# (complex keys of 123 to 140 characters, double-quoted scalars folded at
# every depth, multi-line single-quoted ones), in any nesting.
layout_keys = st.one_of(
    st.sampled_from(['a', 'key', 'k' * 125, 'k' * 130, 'k ' * 70, '-x',
                     '?x', '1', 'true', '\tx', 'é' * 70]),
    st.integers(min_value=0, max_value=3))
layout_leaves = st.sampled_from([
    'x', 'tab\there ' * 12, '\t' * 90, ' a\t' * 30, 'long ' * 30,
    'multi\nline', 'a\n\n b', "it's " * 20, 'end \n' * 5, '', None, 1, 1.5,
    True, (), 'é' * 100
])
layouts = documents(leaves=layout_leaves, key_strategy=layout_keys)


@given(st.one_of(layouts, st.lists(layouts, max_size=3)))
def test_layouts_are_upstreams(document):
    assert_upstreams(document)


# Documents like SkyPilot's: keys of one short line, values of any scalar
# type but bytes and dates. For these libyaml_dump must answer, not decline.
plain_keys = st.text(alphabet=st.characters(
    blacklist_categories=('Cs',),
    blacklist_characters='\r\n\x85\u2028\u2029'),
                     min_size=1,
                     max_size=30)
configs = documents(key_strategy=plain_keys).filter(
    lambda d: isinstance(d, dict))
collections = documents(key_strategy=plain_keys).filter(
    lambda d: isinstance(d, (dict, list)))


@answers
@given(configs)
@example({'setup': 'echo "hi"   \n' * 20, 'run': 'python train.py\n'})
def test_configs_are_answered_by_libyaml(document):
    assert_upstreams(document, must_answer=True)


@answers
@given(st.lists(collections))
def test_document_lists_are_answered_by_libyaml(documents_):
    assert_upstreams(documents_, must_answer=True)


@answers
def test_skypilots_example_tasks():
    examples = skypilot_documents.example_tasks()
    assert examples
    for _, config in examples:
        assert_upstreams(config, must_answer=True)
    assert_upstreams([config for _, config in examples], must_answer=True)


@answers
def test_skypilots_cluster_templates(tmp_path):
    configs = skypilot_documents.rendered_configs(str(tmp_path))
    rendered = {template for template, _ in configs}
    assert skypilot_documents.KUBERNETES_TEMPLATE in rendered
    assert len(rendered) >= 20, rendered
    for _, config in configs:
        assert_upstreams(config, must_answer=True)


@answers
def test_the_kubernetes_cluster_yaml_has_folded_double_quotes(tmp_path):
    """The case the placeholders exist for: SkyPilot's setup scripts."""
    path = skypilot_documents.kubernetes_cluster_yaml(str(tmp_path))
    config = yaml_utils.read_yaml(path)
    expected = UPSTREAM(config)
    assert '\\\n' in expected  # a double-quoted scalar folded by PyYAML
    assert yaml.dump(config, Dumper=yaml.CSafeDumper, sort_keys=False,
                     default_flow_style=False).replace('\n\n', '\n') != (
                         expected.replace('\n\n', '\n'))
    assert yaml_dump.libyaml_dump(config) == expected


@answers
def test_config_hash_is_unchanged(tmp_path, monkeypatch):
    """The cluster-config hash of a Kubernetes cluster YAML, with SkyPilot's
    dump and with this one in its place."""
    path = skypilot_documents.kubernetes_cluster_yaml(str(tmp_path))
    # The hash hashes the file mounts' files too: one small file here.
    mounted = tmp_path / 'mounted.txt'
    mounted.write_text('mounted\n')
    config = yaml_utils.read_yaml(path)
    config['file_mounts'] = {'~/mounted.txt': str(mounted)}
    yaml_utils.dump_yaml(path, config)
    expected = backend_utils._deterministic_cluster_yaml_hash(path)  # pylint: disable=protected-access
    answered = []
    libyaml_dump = yaml_dump.libyaml_dump

    def counting(document):
        text = libyaml_dump(document)
        answered.append(text is not None)
        return UPSTREAM(document) if text is None else text

    monkeypatch.setattr(yaml_dump, 'libyaml_dump', counting)
    monkeypatch.setattr(yaml_utils, 'dump_yaml_str',
                        yaml_dump.replacement(UPSTREAM))
    assert backend_utils._deterministic_cluster_yaml_hash(path) == expected  # pylint: disable=protected-access
    assert answered == [True]


def test_double_quoted_is_pythons_writer():
    """double_quoted against Emitter.write_double_quoted on chosen cases."""
    for text in ['a b', 'é' * 200, ' a\n b ', '"' * 100, 'x ' * 60 + '\t',
                 '\t' + ' ' * 100 + '\t', '\n' * 45 + ' x']:
        for column in (0, 2, 40, 79, 80, 81, 120):
            for indent in (2, 4, 78, 80, 82, 100):
                assert yaml_dump.double_quoted(text, column, indent) == (
                    pyyaml_double_quoted(text, column, indent))


@given(st.one_of(long_text, pieced_text, st.text()),
       st.integers(min_value=0, max_value=130),
       st.integers(min_value=2, max_value=110))
def test_double_quoted_is_pythons_writer_everywhere(text, column, indent):
    assert yaml_dump.double_quoted(text, column, indent) == (
        pyyaml_double_quoted(text, column, indent))


def pyyaml_double_quoted(text, column, indent):
    """What PyYAML's emitter writes for a double-quoted scalar starting at
    ``column`` with the emitter's indent ``indent``."""
    stream = io.StringIO()
    emitter = yaml.emitter.Emitter(stream)
    emitter.column = column
    emitter.indent = indent
    emitter.whitespace = True  # no separating space: column is the quote's
    emitter.indention = False
    emitter.write_double_quoted(text, split=True)
    return stream.getvalue()


def test_a_root_scalar_is_left_to_upstream():
    for document in ['abc', 'a b\nc', 1, None, 1.5, b'x']:
        assert yaml_dump.libyaml_dump(document) is None
        assert FAST(document) == UPSTREAM(document)


def test_errors_are_upstreams():
    """What SafeDumper cannot represent raises upstream's own error."""

    class Unknown:
        pass

    for document in [{'a': Unknown()}, [Unknown()], {'a': {'b': {1, 2}}}]:
        try:
            expected = ('ok', UPSTREAM(document))
        except Exception as error:  # pylint: disable=broad-except
            expected = (type(error), str(error))
        try:
            got = ('ok', FAST(document))
        except Exception as error:  # pylint: disable=broad-except
            got = (type(error), str(error))
        assert got == expected


def test_lone_surrogates_are_upstreams():
    """libyaml cannot encode a lone surrogate; PyYAML escapes it."""
    assert_upstreams({'a': '\ud800'})
    assert_upstreams({'\udfff': 1})


def test_representers_added_to_safedumper_are_upstreams(monkeypatch):
    """Upstream subclasses yaml.SafeDumper, so representers added to it
    apply. A scalar with a tag of its own is written quoted by PyYAML and
    plain by libyaml, so upstream answers."""

    class Gpu:

        def __init__(self, name):
            self.name = name

    def represent_gpu(dumper, gpu):
        return dumper.represent_scalar('!gpu', gpu.name)

    monkeypatch.setattr(yaml.SafeDumper, 'yaml_representers',
                        {**yaml.SafeDumper.yaml_representers, Gpu: represent_gpu})
    document = {'accelerators': Gpu('A100'), 'count': 8}
    assert yaml_dump.libyaml_dump(document) is None
    assert_upstreams(document)
    assert "!gpu 'A100'" in UPSTREAM(document)


def test_resolvers_added_to_safedumper_are_upstreams(monkeypatch):
    """Without an int resolver '1' is a str: the !!int 1 of the document
    gets its tag written, quoted by PyYAML, plain by libyaml."""
    monkeypatch.setattr(
        yaml.SafeDumper, 'yaml_implicit_resolvers', {
            first: [(tag, regexp) for tag, regexp in resolvers
                    if tag != 'tag:yaml.org,2002:int']
            for first, resolvers in
            yaml.SafeDumper.yaml_implicit_resolvers.items()
        })
    document = {'count': 1}
    assert yaml_dump.libyaml_dump(document) is None
    assert_upstreams(document)
    assert "!!int '1'" in UPSTREAM(document)


@pytest.mark.parametrize('pyyaml_version, libyaml_version', [
    ('5.4.1', '0.2.5'),
    ('6.1.0', '0.2.5'),
    ('6', '0.2.5'),
    ('6.0.4', '0.2.7'),
    ('6.0.4', None),  # PyYAML without libyaml
])
def test_unverified_releases_are_left_to_upstream(monkeypatch, pyyaml_version,
                                                  libyaml_version):
    import yaml._yaml  # pylint: disable=import-outside-toplevel,redefined-outer-name
    monkeypatch.setattr(yaml_dump, '_pyyaml', [])
    monkeypatch.setattr(yaml, '__version__', pyyaml_version)
    if libyaml_version is None:
        monkeypatch.delattr(yaml._yaml, 'get_version_string')  # pylint: disable=protected-access
    else:
        monkeypatch.setattr(yaml._yaml, 'get_version_string',  # pylint: disable=protected-access
                            lambda: libyaml_version)
    assert yaml_dump.libyaml_dump({'a': 1}) is None
    assert FAST({'a': 1}) == UPSTREAM({'a': 1})


@answers
@pytest.mark.parametrize('pyyaml_version', ['6.0', '6.0.1', '6.0.2', '6.0.4'])
def test_verified_releases_answer(monkeypatch, pyyaml_version):
    monkeypatch.setattr(yaml_dump, '_pyyaml', [])
    monkeypatch.setattr(yaml, '__version__', pyyaml_version)
    assert yaml_dump.libyaml_dump({'a': 1}) == UPSTREAM({'a': 1})


def test_another_safedumper_is_left_to_upstream(monkeypatch):

    class OtherSafeDumper(yaml.SafeDumper):
        pass

    monkeypatch.setattr(yaml, 'SafeDumper', OtherSafeDumper)
    assert yaml_dump.libyaml_dump({'a': 1}) is None
    assert FAST({'a': 1}) == UPSTREAM({'a': 1})


@pytest.mark.parametrize('value', ['0', 'false', 'No', 'OFF'])
def test_the_gate_off_is_upstreams_code(monkeypatch, value):
    """SKYPILOT_USE_RUST off: upstream's own function answers, libyaml is
    not asked."""
    calls = []

    def installed(config):
        calls.append(config)
        return UPSTREAM(config)

    def not_asked(config):
        raise AssertionError('libyaml_dump called with the gate off')

    monkeypatch.setattr(yaml_dump, 'libyaml_dump', not_asked)
    monkeypatch.setenv('SKYPILOT_USE_RUST', value)
    dump = yaml_dump.replacement(installed)
    assert dump({'a': 1}) == 'a: 1\n'
    assert calls == [{'a': 1}]


def test_concurrent_dumps_are_upstreams(tmp_path):
    path = skypilot_documents.kubernetes_cluster_yaml(str(tmp_path))
    config = yaml_utils.read_yaml(path)
    expected = UPSTREAM(config)
    results = []

    def dump():
        for _ in range(5):
            results.append(FAST(config))

    threads = [threading.Thread(target=dump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [expected] * 20


SKY_ROOT = pathlib.Path(sys.modules['sky'].__file__).parent


def test_skypilot_calls_them_through_the_module():
    """No SkyPilot module imports dump_yaml_str or fill_template by name or
    keeps its own reference to one, so replacing the module attribute
    reaches every caller (dump_yaml calls dump_yaml_str by its global)."""
    by_name = re.compile(r'from sky\.utils\.(yaml|common)_utils import '
                         r'[^\n]*\b(dump_yaml_str|fill_template)\b')
    aliased = re.compile(
        r'=\s*(yaml_utils|common_utils)\.(dump_yaml_str|fill_template)\s*$',
        re.M)
    offenders = []
    for path in sorted(SKY_ROOT.rglob('*.py')):
        source = path.read_text(encoding='utf-8', errors='replace')
        for pattern in (by_name, aliased):
            offenders += [
                f'{path.relative_to(SKY_ROOT)}: {m.group(0)}'
                for m in pattern.finditer(source)
            ]
    assert not offenders, offenders
    dump_yaml = inspect.getsource(yaml_utils.dump_yaml)
    assert 'contents = dump_yaml_str(config)' in dump_yaml


_NO_GO_SCRIPT = '''
import json, os, sys, tempfile, threading
from sky.utils import common_utils, yaml_utils
from sky_fallback.skypilot import templates, yaml_dump
threads = threading.active_count()
dump = yaml_dump.replacement(yaml_utils.dump_yaml_str)
fill = templates.replacement(common_utils.fill_template)
text = dump({'a': [1, 'b\\tc'], 'd': {'e': None}})
with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, 't.yml.j2')
    with open(path, 'w') as f:
        f.write('x: {{ x }}')
    fill(path, {'x': 1}, os.path.join(directory, 'out.yml'))
sky_rs = sys.modules.get('sky_rs')
print(json.dumps({
    'text': text,
    'go_loaded': bool(sky_rs is not None and sky_rs.is_loaded()),
    'threads': [threads, threading.active_count()],
}))
'''


@pytest.mark.parametrize('gate', [None, '0'])
def test_no_go_runtime_is_started(gate):
    """Neither rewrite uses Go: the process keeps its threads, gate on or
    off."""
    environment = dict(os.environ)
    environment.pop('SKYPILOT_USE_RUST', None)
    if gate is not None:
        environment['SKYPILOT_USE_RUST'] = gate
    completed = subprocess.run([sys.executable, '-c', _NO_GO_SCRIPT],
                               env=environment,
                               capture_output=True,
                               text=True,
                               timeout=120,
                               check=True)
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result['text'] == UPSTREAM({'a': [1, 'b\tc'], 'd': {'e': None}})
    assert result['go_loaded'] is False
    assert result['threads'][0] == result['threads'][1]
