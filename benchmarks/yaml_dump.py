"""Time SkyPilot's dump_yaml_str and fill_template against the rewrites.

    .venv/bin/python benchmarks/yaml_dump.py [--rounds 7]

Cases, on SkyPilot's own input (tests_py/skypilot_documents.py):

- dump_yaml_str of the Kubernetes cluster config (kubernetes-ray.yml.j2
  rendered with the variables a 4-CPU pod gets, read back with read_yaml:
  what a launch dumps and hashes), and of SkyPilot's four example tasks;
- fill_template of kubernetes-ray.yml.j2 (file read, render, file write).

Each round times upstream and the rewrite in turn (the order alternates
from round to round), a few calls each, after one untimed call (for
fill_template: the rewrite's cache is warm, as in a process that has
launched before). Prints per-call medians, the fastest and slowest round,
the ratio of medians, and the load average before and after: the machine
is shared, so read the spread before the ratio.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from sky.utils import common_utils
from sky.utils import yaml_utils

from sky_fallback.skypilot import templates
from sky_fallback.skypilot import yaml_dump
from tests_py import skypilot_documents


def per_call_seconds(function, calls):
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=7)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as directory:
        cluster_path = skypilot_documents.kubernetes_cluster_yaml(directory)
        cluster = yaml_utils.read_yaml(cluster_path)
        tasks = [config for _, config in skypilot_documents.example_tasks()]
        fast_dump = yaml_dump.replacement(yaml_utils.dump_yaml_str)
        fast_fill = templates.replacement(common_utils.fill_template)
        template = skypilot_documents.KUBERNETES_TEMPLATE
        variables = skypilot_documents.template_variables(
            template, cluster_path)
        upstream_out = os.path.join(directory, 'upstream.yml')
        fast_out = os.path.join(directory, 'fast.yml')

        def dump_tasks(dump):
            return lambda: [dump(task) for task in tasks]

        # (name, calls per round, upstream, rewrite)
        cases = [
            ('dump_yaml_str, Kubernetes cluster config', 5,
             lambda: yaml_utils.dump_yaml_str(cluster),
             lambda: fast_dump(cluster)),
            ('dump_yaml_str, the 4 example tasks', 20,
             dump_tasks(yaml_utils.dump_yaml_str), dump_tasks(fast_dump)),
            ('fill_template, kubernetes-ray.yml.j2', 3,
             lambda: common_utils.fill_template(template, variables,
                                                upstream_out),
             lambda: fast_fill(template, variables, fast_out)),
        ]
        assert fast_dump(cluster) == yaml_utils.dump_yaml_str(cluster)
        answered = yaml_dump.libyaml_dump(cluster) is not None
        for _, _, upstream, fast in cases:
            upstream()
            fast()
        with open(upstream_out, 'rb') as f, open(fast_out, 'rb') as g:
            assert f.read() == g.read()

        timings = {(name, side): [] for name, _, _, _ in cases
                   for side in ('upstream', 'rewrite')}
        for round_ in range(args.rounds):
            for name, calls, upstream, fast in cases:
                sides = [('upstream', upstream), ('rewrite', fast)]
                if round_ % 2:
                    sides.reverse()
                for side, function in sides:
                    timings[(name, side)].append(
                        per_call_seconds(function, calls))
    load_after = os.getloadavg()

    print(f'{args.rounds} rounds, {os.cpu_count()} CPUs; load average '
          f'before {load_before[0]:.2f} {load_before[1]:.2f} '
          f'{load_before[2]:.2f}, after {load_after[0]:.2f} '
          f'{load_after[1]:.2f} {load_after[2]:.2f}')
    print(f'libyaml answered the cluster config: {answered}')
    print(f'{"case":44} {"side":8} {"median ms":>10} {"min":>8} '
          f'{"max":>8} {"speed-up":>9}')
    for name, _, _, _ in cases:
        medians = {}
        for side in ('upstream', 'rewrite'):
            values = timings[(name, side)]
            medians[side] = statistics.median(values)
            ratio = ('' if side == 'upstream' else
                     f'{medians["upstream"] / medians["rewrite"]:8.1f}x')
            print(f'{name:44} {side:8} {medians[side] * 1e3:10.2f} '
                  f'{min(values) * 1e3:8.2f} {max(values) * 1e3:8.2f} '
                  f'{ratio:>9}')


if __name__ == '__main__':
    main()
