"""SkyPilot's fill_template, with each template compiled once.

``sky.utils.common_utils.fill_template(template_ref, variables,
output_path)`` renders a Jinja template (``sky/templates/*.j2``: the
cluster config of every launch, the jobs and serve controllers' tasks) into
a file. Upstream builds ``jinja2.Template(text)`` on every call, which
lexes, parses, generates Python and compiles it: about 40 ms for
``kubernetes-ray.yml.j2`` (105 KB of source), where rendering it takes
0.1 ms.

Here the compiled template is kept, keyed by its source text, and rendered
again: the file is still read on every call (an edited template is a new
key), the least recently used of at most :data:`CACHED_TEMPLATES` templates
goes first, and a source longer than :data:`LARGEST_CACHED_SOURCE`
characters is compiled on each call as upstream does, so the cache stays
small. A template that fails to compile is not kept, and raises on every
call as upstream does. The output is upstream's: ``jinja2.Template(text)``
is built exactly as upstream builds it (in Jinja's shared environment for
those settings), ``render`` starts from a fresh context on each call, and
the generated code looks filters, tests and globals up in the environment
as it renders.

The rest is upstream's function line for line, with ``os`` and ``jinja2``
read from ``common_utils`` at each call as upstream reads them.
"""

import functools
from typing import Any, Callable, Dict

from sky_fallback import rust_fallback

MODULE = 'sky.utils.common_utils'
NAME = 'fill_template'
# sha256 of inspect.getsource() of SkyPilot 0.14.1's fill_template.
SOURCE_SHA256 = (
    'e428a8eb7fa335d9bfdb7a1df8a29c58e0016cf7491302601d7c8ab57fe731c1')
CONTEXTS = frozenset({'executor', 'controller'})

# SkyPilot 0.14.1 ships 31 templates; a launch renders one or two, a
# controller a few. The largest is 105 KB of source, and compiled keeps
# about 0.3 MB (tracemalloc).
CACHED_TEMPLATES = 16
LARGEST_CACHED_SOURCE = 1 << 20


@functools.lru_cache(maxsize=CACHED_TEMPLATES)
def _compiled(template_class: Any, source: str) -> Any:
    return template_class(source)


def compiled_template(template_class: Any, source: str) -> Any:
    """``template_class(source)``, the compiled template kept for the next
    call with the same class and source (see the module's docstring)."""
    if len(source) > LARGEST_CACHED_SOURCE:
        return template_class(source)
    return _compiled(template_class, source)


def cache_info() -> Any:
    """The cache's ``functools`` statistics (hits, misses, size)."""
    return _compiled.cache_info()


def replacement(installed: Callable[..., None]) -> Callable[..., None]:
    """Return fill_template: upstream's, with compiled templates kept.

    ``installed`` is SkyPilot's own function (source verified); it answers
    whenever ``SKYPILOT_USE_RUST`` is off.
    """
    common_utils = installed.__globals__

    def fill_template(template_ref: str, variables: Dict[str, Any],
                      output_path: str) -> None:
        if not rust_fallback.gate_open():
            return installed(template_ref, variables, output_path)
        os = common_utils['os']
        jinja2 = common_utils['jinja2']
        # Upstream's body from here, but for the compiled template.
        assert template_ref.endswith('.j2'), template_ref
        if os.path.isabs(template_ref):
            template_path = template_ref
        else:
            root_dir = os.path.dirname(os.path.dirname(
                common_utils['__file__']))
            template_path = os.path.join(root_dir, 'templates', template_ref)
        if not os.path.exists(template_path):
            raise FileNotFoundError(
                f'Template "{template_ref}" does not exist.')
        with open(template_path, 'r', encoding='utf-8') as fin:
            template = fin.read()
        output_path = os.path.abspath(os.path.expanduser(output_path))
        os.makedirs(os.path.dirname(output_path), exist_ok=True)

        # Write out yaml config.
        j2_template = compiled_template(jinja2.Template, template)
        content = j2_template.render(**variables)
        with open(output_path, 'w', encoding='utf-8') as fout:
            fout.write(content)

    # No __wrapped__: inspect.getsource() would follow it, and this function
    # must not pass for upstream's when its source is checked.
    fill_template.__doc__ = installed.__doc__
    return fill_template
