"""SkyPilot's per-request memory release under the patch
(sky_fallback/skypilot/memory.py): upstream's release, then what survived
frozen, so that the next release does not walk it again; nothing that
upstream's collection frees is kept for more than FULL_EVERY calls."""

import gc
import weakref

import pytest

from sky_fallback.skypilot import memory
from sky_fallback.skypilot import patch

common_utils = pytest.importorskip('sky.utils.common_utils',
                                   reason='SkyPilot is not installed')


class Node:
    """An object in a reference cycle: only a collection frees it."""

    def __init__(self):
        self.me = self


@pytest.fixture
def release(monkeypatch):
    """The patched release_memory, the gate open; the process as before
    after the test (nothing frozen, SkyPilot's own function back)."""
    monkeypatch.delenv('SKYPILOT_USE_RUST', raising=False)
    patch.unpatch_skypilot()
    assert patch.patch_skypilot(['release_memory'], alias=False) == [
        'sky.utils.common_utils.release_memory'
    ]
    yield common_utils.release_memory
    patch.unpatch_skypilot()
    gc.unfreeze()


def test_it_answers_as_upstream(release):
    original = patch.skypilot_original('release_memory')
    assert release() == original()
    assert type(release()) is type(original())  # pylint: disable=unidiomatic-typecheck


def test_what_survives_is_frozen_and_not_walked_again(release):
    gc.unfreeze()
    release()
    # Everything the process holds is in the permanent generation now: the
    # next collection walks only what was made since.
    assert gc.get_freeze_count() > 1000
    assert len(gc.get_objects()) < gc.get_freeze_count() // 10
    survivor = [object() for _ in range(10)]
    release()
    assert not any(item is survivor for item in gc.get_objects())


def test_garbage_made_between_releases_is_freed_at_once(release):
    release()
    node = Node()
    alive = weakref.ref(node)
    del node
    release()
    assert alive() is None


def test_garbage_among_frozen_objects_waits_at_most_full_every(release):
    node = Node()
    alive = weakref.ref(node)
    release()  # node survives this one, and is frozen
    del node
    calls = 1
    while alive() is not None and calls <= memory.FULL_EVERY:
        release()
        calls += 1
    assert alive() is None
    assert 1 < calls <= memory.FULL_EVERY


@pytest.mark.parametrize('value', ['0', 'off'])
def test_the_gate_off_is_upstreams_release_alone(release, monkeypatch,
                                                 value):
    gc.unfreeze()
    monkeypatch.setenv('SKYPILOT_USE_RUST', value)
    release()
    assert gc.get_freeze_count() == 0
    node = Node()
    alive = weakref.ref(node)
    release()
    del node
    release()
    assert alive() is None
