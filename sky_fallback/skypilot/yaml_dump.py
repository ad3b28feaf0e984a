"""SkyPilot's YAML dump, emitted by libyaml, with upstream's bytes.

``sky.utils.yaml_utils.dump_yaml_str`` (and ``dump_yaml``, which calls it)
writes every cluster config, task and service YAML SkyPilot generates, and
the text the cluster-config hash is taken of. Upstream emits with PyYAML's
pure-Python emitter, a ``yaml.SafeDumper`` subclass that writes a second
line break whenever the emitter's indent stack holds one entry: a blank line
between the items of a document's root collection. For a Kubernetes cluster
config that is about 50 ms, a third of a launch executor's time.

Here libyaml emits (``yaml._yaml.CEmitter``, the emitter of
``yaml.CSafeDumper``) the node graph SafeDumper's own representers made
(about 4 ms for that config), and the text is upstream's byte for byte:

- The blank lines go where upstream writes them. In a root mapping that is
  before every line at column 0 that starts an item: a key, ``? `` or the
  ``: `` of a complex key, but not ``- ``, the items of a sequence nested
  under a root key (PyYAML writes them without indent). In a root sequence
  it is before every line at column 0. Never before the first line, and
  never before ``---`` (the indent stack is empty there).
- libyaml folds long double-quoted scalars (a control or non-ASCII
  character, or a space beside a line break: SkyPilot's setup scripts)
  elsewhere than PyYAML, which breaks before the text that would pass the
  width and after escapes. Each such mapping value or sequence item goes to
  libyaml as a unique plain placeholder, then is replaced by PyYAML's
  folding of it (:func:`double_quoted`), from the column the placeholder
  stands at and the indent PyYAML uses there. The escapes are the same.
- Where the emitters differ otherwise, upstream's function answers
  (:func:`libyaml_dump` returns None):

  * a root scalar: PyYAML ends a plain one with ``...`` and doubles the
    line breaks inside any (SkyPilot dumps mappings and lists of them);
  * a key one emitter writes as ``key:`` and the other as ``? key``:
    PyYAML counts characters plus the written tag (``!!str``) against 128,
    libyaml UTF-8 bytes without it (keys of 123 to 128 characters, or long
    non-ASCII ones); the empty key, complex in PyYAML only; a key with
    ``\r``, a line break to libyaml only;
  * a complex key written double-quoted (folded as above), a key that is
    not a scalar of the core tags, a block scalar (``bytes``);
  * representers or resolvers other than PyYAML's own on SafeDumper: a
    scalar may then carry a tag its text does not resolve to, which PyYAML
    writes quoted (``!gpu 'A100'``) and libyaml plain (``!gpu A100``);
  * what libyaml cannot encode (a lone surrogate in a key) and any other
    error, upon which upstream raises its own.

  A declined document has cost its representation here too: about a tenth
  more than upstream alone (a root scalar is declined before that).

Only over the PyYAML and libyaml releases verified (VERIFIED_*), and while
``yaml.SafeDumper`` is PyYAML's own class; otherwise upstream answers.
"""

import datetime
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from sky_fallback import rust_fallback

MODULE = 'sky.utils.yaml_utils'
NAME = 'dump_yaml_str'
# sha256 of inspect.getsource() of SkyPilot 0.14.1's dump_yaml_str.
SOURCE_SHA256 = (
    '2e34c7820c9a473983182d152becf528c0f6a7ab5cf82701b5dc08bebb23b8b8')
CONTEXTS = frozenset({'executor', 'controller'})

# PyYAML's emitter.py, representer.py, serializer.py and resolver.py are
# unchanged from 6.0 to 6.0.4. libyaml: 0.2.6 (PyYAML 6.0.4's wheels) is
# what tests_py/test_yaml_dump.py compares; 0.2.5 (the wheels of 6.0.1 and
# 6.0.2, and most distributions) passed the same property tests, run
# against PyYAML 6.0.2 in a scratch environment.
VERIFIED_PYYAML_SERIES = '6.0'
VERIFIED_LIBYAML = frozenset({'0.2.5', '0.2.6'})

# PyYAML's emitter defaults, which SkyPilot does not change.
_BEST_WIDTH = 80
_CORE_TAG_PREFIX = 'tag:yaml.org,2002:'
_PLAIN_KEY_TAGS = frozenset(_CORE_TAG_PREFIX + name
                            for name in ('str', 'int', 'float', 'bool', 'null'))
_STR_TAG = _CORE_TAG_PREFIX + 'str'
_COLLECTION_TYPES = (dict, list, tuple, set)

# A scalar PyYAML writes double-quoted (outside a simple key, style unset,
# allow_unicode off): it holds a character other than a line feed and
# printable ASCII, or a space before or after a line feed.
_needs_double_quotes = re.compile('[^\n -~]| \n|\n ').search
# A character PyYAML escapes inside double quotes (allow_unicode off).
_escaped_character = re.compile('[^ !#-\\[\\]-~]').search
# Line breaks that make a key multi-line for PyYAML; libyaml adds '\r'.
_multiline_key = re.compile('[\n\x85\u2028\u2029]').search
# The start of a root item: in a mapping, a column-0 line other than "- "
# (the indentless sequences under a root key); in a sequence, any.
_root_mapping_item = re.compile('\n(?=[^ \n-]|-[^ ])')
_root_sequence_item = re.compile('\n(?=[^ \n])')
# What precedes a simple key on its line: indentation, then the "- " of
# each sequence and the ": " of each complex key's value the mapping is the
# first item or the value of (a key cannot start with "- " or ": " unquoted).
_key_prefix = re.compile(' *(?:[-:] )*')

_PLACEHOLDER_PREFIX = 'zqSkyRsYamlPlaceholder'
_placeholder = re.compile(_PLACEHOLDER_PREFIX + '([0-9]+)q')


class _Declined(Exception):
    """libyaml's text would not be upstream's: upstream answers."""


def replacement(installed: Callable[[Any], str]) -> Callable[[Any], str]:
    """Return dump_yaml_str: libyaml's emitter where it gives upstream's text.

    ``installed`` is SkyPilot's own function (source verified); it answers
    when ``SKYPILOT_USE_RUST`` is off, when PyYAML or libyaml is not a
    verified release, and for documents libyaml cannot give exactly.
    """

    def dump_yaml_str(config):
        if rust_fallback.gate_open():
            text = libyaml_dump(config)
            if text is not None:
                return text
        return installed(config)

    # No __wrapped__: inspect.getsource() would follow it, and this function
    # must not pass for upstream's when its source is checked.
    dump_yaml_str.__doc__ = installed.__doc__
    return dump_yaml_str


def libyaml_dump(config: Any) -> Optional[str]:
    """Upstream's ``dump_yaml_str(config)`` text, emitted by libyaml.

    None where that is not possible or not shown to be exact (see the
    module's docstring); the caller then asks upstream.
    """
    pyyaml = _verified_pyyaml()
    if pyyaml is None:
        return None
    # Upstream: yaml.dump_all(config) for a list, else yaml.dump(config).
    documents = config if isinstance(config, list) else [config]
    # SafeRepresenter makes a collection of these and only these (a root
    # scalar is declined: asking before representing it costs nothing).
    if not all(type(document) in _COLLECTION_TYPES for document in documents):
        return None
    output = _Output()
    dumper = pyyaml.dumper_class(output)
    # Each document: where its text starts in output, its root node, and
    # its placeholders.
    emitted: List[Tuple[int, Any, List[Tuple[str, bool]]]] = []
    try:
        dumper.open()
        for document in documents:
            first_chunk = len(output)
            # Representer.represent, with the nodes checked and
            # double-quoted scalars swapped for placeholders in between.
            node = dumper.represent_data(document)
            placeholders = _prepare(node, pyyaml)
            dumper.serialize(node)
            dumper.represented_objects = {}
            dumper.object_keeper = []
            dumper.alias_key = None
            emitted.append((first_chunk, node, placeholders))
        dumper.close()
        pieces = []
        ends = [start for start, _, _ in emitted[1:]] + [len(output)]
        for (start, node, placeholders), end in zip(emitted, ends):
            pieces.append(
                _finish_document(''.join(output[start:end]),
                                 node.__class__ is pyyaml.mapping_node,
                                 bool(node.value), placeholders))
    except _Declined:
        return None
    except Exception:  # pylint: disable=broad-except
        # Upstream raises its own error (or, for what only libyaml refuses,
        # such as a lone surrogate, answers).
        return None
    finally:
        dumper.dispose()
    return ''.join(pieces)


class _Output(list):
    """What libyaml writes, chunk by chunk. Having ``encoding`` makes
    CEmitter write str, as to the StringIO of yaml.dump."""
    encoding = None
    write = list.append


class _PyYAML:
    """The verified PyYAML: its node classes and a dumper with libyaml's
    emitter and SafeDumper's representers and resolvers."""

    def __init__(self, yaml: Any, libyaml: Any) -> None:
        self.safe_dumper = yaml.SafeDumper
        self.scalar_node = yaml.nodes.ScalarNode
        self.mapping_node = yaml.nodes.MappingNode
        safe = yaml.representer.SafeRepresenter
        # SafeRepresenter's own table, as PyYAML's representer.py builds
        # it. A scalar of another representer's making may carry a tag its
        # value does not resolve to, which libyaml writes plain and PyYAML
        # quoted: so another table is left to upstream.
        self.representers = {
            type(None): safe.represent_none,
            str: safe.represent_str,
            bytes: safe.represent_binary,
            bool: safe.represent_bool,
            int: safe.represent_int,
            float: safe.represent_float,
            list: safe.represent_list,
            tuple: safe.represent_list,
            dict: safe.represent_dict,
            set: safe.represent_set,
            datetime.date: safe.represent_date,
            datetime.datetime: safe.represent_datetime,
            None: safe.represent_undefined,
        }
        # The same holds of the resolvers: SafeDumper's are Resolver's
        # unless some were added to SafeDumper.
        self.resolvers = yaml.resolver.Resolver.yaml_implicit_resolvers

        class LibyamlSafeDumper(libyaml.CEmitter, yaml.SafeDumper):
            """SafeDumper whose events go to libyaml, as CSafeDumper's do.

            Deriving from SafeDumper (CSafeDumper derives from
            SafeRepresenter) gives it SafeDumper's methods, whatever they
            are, as upstream's subclass of SafeDumper gets them.
            """

            def __init__(self, stream):  # pylint: disable=super-init-not-called
                libyaml.CEmitter.__init__(self, stream)
                yaml.representer.SafeRepresenter.__init__(
                    self,
                    default_style=None,
                    default_flow_style=False,
                    sort_keys=False)
                yaml.resolver.Resolver.__init__(self)

        self.dumper_class = LibyamlSafeDumper


# [] before the first call; then [the _PyYAML, or None if not verified].
_pyyaml: List[Optional[_PyYAML]] = []


def _verified_pyyaml() -> Optional[_PyYAML]:
    """The _PyYAML, or None when PyYAML or libyaml is not a verified
    release or yaml.SafeDumper is not PyYAML's own class."""
    if not _pyyaml:
        import yaml  # pylint: disable=import-outside-toplevel
        try:
            from yaml import _yaml as libyaml  # pylint: disable=import-outside-toplevel
            libyaml_version = libyaml.get_version_string()
        except (ImportError, AttributeError):
            libyaml_version = None
        verified = (yaml.__version__.split('.')[:2]
                    == VERIFIED_PYYAML_SERIES.split('.') and
                    libyaml_version in VERIFIED_LIBYAML)
        _pyyaml.append(_PyYAML(yaml, libyaml) if verified else None)
    pyyaml = _pyyaml[0]
    if pyyaml is None:
        return None
    import yaml  # pylint: disable=import-outside-toplevel,reimported
    # Upstream subclasses whatever yaml.SafeDumper is at the call.
    safe_dumper = yaml.SafeDumper
    if (safe_dumper is not pyyaml.safe_dumper or
            safe_dumper.yaml_representers != pyyaml.representers or
            safe_dumper.yaml_multi_representers or
            safe_dumper.yaml_implicit_resolvers is not pyyaml.resolvers or
            safe_dumper.yaml_path_resolvers):
        return None
    return pyyaml


def _prepare(root: Any, pyyaml: _PyYAML) -> List[Tuple[str, bool]]:
    """Check a document's nodes (its root a collection) and swap
    double-quoted scalars for placeholders.

    Returns, in placeholder order, each scalar's text and whether it is the
    value of a simple key (its indent is then the key's column plus two;
    else, as a sequence item or complex key's value, the column it starts
    at). Raises _Declined where libyaml would not write upstream's text.
    """
    scalar_node, mapping_node = pyyaml.scalar_node, pyyaml.mapping_node
    placeholders: List[Tuple[str, bool]] = []

    def checked(node: Any, simple_key_value: bool) -> Any:
        """The scalar node to emit in this one's place."""
        if node.style is not None:
            raise _Declined('a scalar of a set style')
        if node.tag != _STR_TAG or not _needs_double_quotes(node.value):
            return node
        placeholders.append((node.value, simple_key_value))
        return scalar_node(
            _STR_TAG, f'{_PLACEHOLDER_PREFIX}{len(placeholders) - 1}q')

    seen = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:  # Emitted once; an alias after that.
            continue
        seen.add(id(node))
        items = node.value
        if node.__class__ is mapping_node:
            for index, (key, value) in enumerate(items):
                if key.__class__ is not scalar_node:
                    raise _Declined('a key that is not a scalar')
                if value.__class__ is scalar_node:
                    replacement_node = checked(value, _simple_key(key))
                    if replacement_node is not value:
                        items[index] = (key, replacement_node)
                else:
                    _simple_key(key)
                    pending.append(value)
        else:
            for index, item in enumerate(items):
                if item.__class__ is scalar_node:
                    items[index] = checked(item, False)
                else:
                    pending.append(item)
    return placeholders


def _simple_key(key: Any) -> bool:
    """Whether both emitters write this scalar key as ``key:`` (True) or
    both as ``? key`` (False); _Declined where they disagree, or where a
    complex key would be folded in double quotes."""
    if key.tag not in _PLAIN_KEY_TAGS or key.style is not None:
        raise _Declined('a key not of a core scalar tag')
    text = key.value
    if not text or '\r' in text:
        raise _Declined('a key PyYAML and libyaml write differently')
    if _multiline_key(text):
        simple = False
    else:
        # PyYAML: the tag as written ('!!str', ...) and the characters,
        # fewer than 128; libyaml: the UTF-8 bytes (no tag: it is
        # implicit), at most 128.
        simple = len(text) + len(key.tag) - len(_CORE_TAG_PREFIX) + 2 < 128
        utf8_length = len(text) if text.isascii() else len(
            text.encode('utf-8', 'surrogatepass'))
        if simple != (utf8_length <= 128):
            raise _Declined('a key PyYAML and libyaml write differently')
    if not simple and _needs_double_quotes(text):
        raise _Declined('a complex key folded in double quotes')
    return simple


def _finish_document(text: str, root_is_mapping: bool, root_is_block: bool,
                     placeholders: List[Tuple[str, bool]]) -> str:
    """Add upstream's blank lines to one document's libyaml text and put
    PyYAML's double-quoted scalars in place of the placeholders."""
    if root_is_block:  # An empty collection is written "{}" or "[]".
        items = _root_mapping_item if root_is_mapping else _root_sequence_item
        text = items.sub('\n\n', text)
    if not placeholders:
        return text
    pieces = []
    written = 0
    unplaced = set(range(len(placeholders)))
    for match in _placeholder.finditer(text):
        index = int(match.group(1))
        if index not in unplaced:  # A user's string looks like one.
            raise _Declined('placeholder text in the document')
        unplaced.remove(index)
        start = match.start()
        line_start = text.rfind('\n', 0, start) + 1
        column = start - line_start
        value, simple_key_value = placeholders[index]
        if simple_key_value:
            key_column = _key_prefix.match(text, line_start).end() - line_start
            indent = key_column + 2
        else:
            indent = column
        pieces.append(text[written:start])
        pieces.append(double_quoted(value, column, indent))
        written = match.end()
    if unplaced:
        raise _Declined('a placeholder not found')
    pieces.append(text[written:])
    return ''.join(pieces)


def _escape(character: str) -> str:
    """How PyYAML's write_double_quoted escapes ``character``."""
    from yaml.emitter import Emitter  # pylint: disable=import-outside-toplevel
    replacement = Emitter.ESCAPE_REPLACEMENTS.get(character)
    if replacement is not None:
        return '\\' + replacement
    if character <= '\xff':
        return '\\x%02X' % ord(character)
    if character <= '\uffff':
        return '\\u%04X' % ord(character)
    return '\\U%08X' % ord(character)


# The escapes of the first 256 code points, made on first use.
_latin1_escapes: Dict[str, str] = {}


def double_quoted(text: str, column: int, indent: int,
                  width: int = _BEST_WIDTH) -> str:
    """PyYAML's ``Emitter.write_double_quoted(text, split=True)`` output.

    ``column``: where the opening quote goes; ``indent``: the emitter's
    indent for the scalar. The same decisions as PyYAML, taken only at the
    positions where one can change the output: escaped characters, the
    position after each, and the first space past the width on a line.
    """
    if not _latin1_escapes:
        _latin1_escapes.update(
            (chr(code), _escape(chr(code))) for code in range(256))
    latin1_escapes = _latin1_escapes
    search = _escaped_character
    length = len(text)
    last = length - 1  # Breaks happen at 0 < position < last.
    new_line = '\\\n' + ' ' * indent
    out = ['"']
    append = out.append
    column += 1
    start = position = 0
    found = search(text)
    escape_at = found.start() if found else length
    while True:
        # A break at a space: the first one from which the text not yet
        # written reaches past the width (PyYAML: column + (end - start)).
        limit = escape_at if escape_at < last else last
        while True:
            space = start + width - column + 1
            if space < position:
                space = position
            if space < 1:
                space = 1
            if space >= limit:
                break
            space = text.find(' ', space, limit)
            if space < 0:
                break
            append(text[start:space])
            append(new_line)
            append('\\')  # The line starts with the space: escape it.
            start = space
            column = indent + 1
            position = space + 1
        if escape_at == length:
            append(text[start:])
            break
        character = text[escape_at]
        escape = latin1_escapes.get(character) or _escape(character)
        append(text[start:escape_at])
        append(escape)
        column += escape_at - start + len(escape)
        start = position = escape_at + 1
        # PyYAML checks column + (end - start), here column - 1.
        if 0 < escape_at < last and column - 1 > width:
            append(new_line)
            column = indent
            if text[start] == ' ':
                append('\\')
                column += 1
        found = search(text, position)
        escape_at = found.start() if found else length
        # The position after an escape (start == end there): unless it is
        # escaped itself, PyYAML checks column + 0 against the width.
        if escape_at != position and position < length:
            if position < last and column > width:
                append(new_line)
                column = indent
                if text[position] == ' ':
                    append('\\')
                    column += 1
            position += 1
    append('"')
    return ''.join(out)
