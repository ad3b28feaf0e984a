"""SkyPilot's memory release after every request, without a full collection
of what the executor keeps for good.

``sky.utils.common_utils.release_memory()`` runs in a request executor after
each request: ``gc.collect()``, then glibc's ``malloc_trim(0)``. The full
collection walks every tracked object of the process, and an executor holds
about 225,000 of them from SkyPilot's imports alone, which live as long as
the process: 104 ms a call, 74% of the API server's samples for ``sky
status`` (py-spy, SkyPilot 0.14.1).

Here each call does upstream's release, then ``gc.freeze()``: what survived
it moves to the permanent generation, which collections skip, so the next
call collects only what the requests since have made. What is frozen is
still freed by reference counting; only reference cycles among frozen
objects that become garbage later wait: every :data:`FULL_EVERY` calls the
frozen objects are put back (``gc.unfreeze()``) before the release, which
then collects the whole process as upstream's does. The result (malloc_trim's)
and what is logged on failure are upstream's, from upstream's own function.
"""

import gc
import threading
from typing import Any, Callable

from sky_fallback import rust_fallback

MODULE = 'sky.utils.common_utils'
NAME = 'release_memory'
SOURCE_SHA256 = (
    'c9ee8107e44df9cad583dd0562c161b70e945bbad6600529774fa8c105cd1279')
# Executors release memory after every request.
CONTEXTS = frozenset(('executor',))

# Every this many calls, a collection of the whole process, as upstream's:
# garbage cycles among frozen objects wait at most that many requests.
FULL_EVERY = 64


def replacement(installed: Callable[[], Any]) -> Callable[[], Any]:
    """``release_memory`` that freezes what survives each release."""
    lock = threading.Lock()
    calls = 0

    def release_memory():
        """Release the process memory"""
        nonlocal calls
        if not rust_fallback.gate_open():
            return installed()
        with lock:
            calls += 1
            if calls % FULL_EVERY == 0:
                gc.unfreeze()
            result = installed()
            gc.freeze()
        return result

    return release_memory
