"""Scenario 2 of the user's guide: how many workers to sync file mounts with.

    python examples/resource_allocation.py [CLOUD]

Sizes a pool of rsync workers the way SkyPilot does: no more threads than
``get_parallel_threads`` allows (four times as many on Kubernetes), and no
more than the open-file limit allows for the files each worker keeps open.
Shows both forms of ``get_max_workers_for_file_mounts``: the user's guide's
estimate (``num_sources=``, ``estimated_files_per_source=``; no disk access)
and SkyPilot's own (a ``{destination: source}`` mapping whose source
directories are counted).
"""

import os
import sys
import tempfile
from typing import Dict, List, Optional

from sky_fallback import rust_fallback
from sky_fallback.rust_fallback import estimate_fd_for_directory
from sky_fallback.rust_fallback import format_float
from sky_fallback.rust_fallback import get_cpu_count
from sky_fallback.rust_fallback import get_max_workers_for_file_mounts
from sky_fallback.rust_fallback import get_mem_size_gb
from sky_fallback.rust_fallback import get_parallel_threads


def calculate_workers(file_mounts: List[str], cloud: str) -> int:
    """The user's guide's estimate: 100 files per source, no disk access."""
    base_threads = get_parallel_threads(cloud)
    workers = get_max_workers_for_file_mounts(
        num_sources=len(file_mounts),
        estimated_files_per_source=100,
        cloud_str=cloud,
    )
    return min(workers, base_threads)


def workers_for(file_mounts: Dict[str, str], cloud: str) -> int:
    """SkyPilot's form: the source directories' entries are counted."""
    return get_max_workers_for_file_mounts(file_mounts, cloud)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(f'backend: {rust_fallback.get_backend_info()["backend"]}',
          file=sys.stderr)
    clouds = argv or ['aws', 'kubernetes']
    print(f'usable CPUs: {get_cpu_count()}')
    print(f'usable memory: {format_float(get_mem_size_gb(), 2)} GiB')
    with tempfile.TemporaryDirectory() as scratch:
        mounts = {}
        for index, entries in enumerate((3, 40, 400)):
            source = os.path.join(scratch, f'source{index}')
            os.mkdir(source)
            for entry in range(entries):
                open(os.path.join(source, f'file{entry}'), 'w').close()
            mounts[f'/remote/mount{index}'] = source
            print(f'{os.path.basename(source)}: {entries} entries, '
                  f'{estimate_fd_for_directory(source)} file descriptors')
        for cloud in clouds:
            print(
                f'{cloud}: {get_parallel_threads(cloud)} threads, '
                f'estimate {calculate_workers(list(mounts), cloud)} workers, '
                f'counted {workers_for(mounts, cloud)} workers')
    return 0


if __name__ == '__main__':
    sys.exit(main())
