"""Scenario 4 of the user's guide: metrics and names for a table.

    python examples/metrics_formatting.py

Formats numbers as SkyPilot's CLI tables and instance names do: whole
numbers without a decimal point (``4.0`` -> ``'4'``), others to a fixed
precision with Python's rounding (``2.675`` -> ``'2.67'``, the binary value
is below the tie); long strings cut to a column's width; a hash written in
base 36 for a short, valid cluster-name suffix.
"""

import hashlib
import sys
from typing import Dict, List, Optional

from sky_fallback import rust_fallback
from sky_fallback.rust_fallback import base36_encode
from sky_fallback.rust_fallback import format_float
from sky_fallback.rust_fallback import truncate_long_string


def format_metrics(metrics: Dict[str, float]) -> Dict[str, str]:
    """The user's guide's formatter: every value to two places."""
    return {
        name: format_float(value, precision=2)
        for name, value in metrics.items()
    }


def instance_name(cpus: float, memory_gb: float) -> str:
    """As SkyPilot names a Kubernetes or Slurm instance type."""
    return f'{format_float(cpus)}CPU--{format_float(memory_gb)}GB'


def main(argv: Optional[List[str]] = None) -> int:
    del argv  # no options
    print(f'backend: {rust_fallback.get_backend_info()["backend"]}',
          file=sys.stderr)
    metrics = {
        'gpu_utilization_percent': 87.456,
        'requests_per_second_for_the_inference_endpoint': 1234.5,
        'p99_latency_ms': 2.675,
        'replicas': 4.0,
        'errors': 3,
        'queue_delay_s': float('nan'),
    }
    for name, value in format_metrics(metrics).items():
        print(f'{truncate_long_string(name, 24):<27} {value:>8}')
    cluster = 'a-very-long-cluster-name-for-training'
    print(
        f'cluster: {truncate_long_string(cluster, 20, truncate_middle=True)}')
    for cpus, memory in ((4, 16.0), (0.5, 1.5), (96.0, 768.0)):
        print(f'instance: {instance_name(cpus, memory)}')
    run_hash = hashlib.md5(b'my-cluster').hexdigest()
    print(f'run id: {base36_encode(run_hash)[:8]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
