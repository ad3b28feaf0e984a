"""``python -m sky_fallback [info [--json] | compare FUNCTION ARG... |
bench FUNCTION ARG... | plugin install|uninstall|status]``."""

import argparse
import json
import os
import sys
from typing import List, Optional

from sky_fallback import _bench
from sky_fallback import _compare
from sky_fallback import rust_fallback
from sky_fallback.skypilot import plugin_cli


def _print_info(as_json: bool) -> None:
    info = rust_fallback.get_backend_info()
    if as_json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        shown = '-' if value is None else value
        print(f'{key:<{width}}  {shown}')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m sky_fallback',
        description='Report which backend (go or python) answers sky_rs '
        'calls in this environment, and why.')
    subcommands = parser.add_subparsers(dest='command')
    info = subcommands.add_parser('info',
                                  help='print the backend report (default)')
    for command_parser in (parser, info):
        command_parser.add_argument('--json',
                                    action='store_true',
                                    default=argparse.SUPPRESS,
                                    help='print the report as JSON')
    _compare.add_parser(subcommands)
    _bench.add_parser(subcommands)
    plugin_cli.add_parser(subcommands)
    args = parser.parse_args(argv)
    if args.command == 'bench':
        return _bench.run(args)
    if args.command == 'compare':
        return _compare.run(args)
    if args.command == 'plugin':
        return plugin_cli.run(args)
    _print_info(as_json=getattr(args, 'json', False))
    return 0


def run_main(argv: Optional[List[str]] = None) -> int:
    """main(), quiet when the reader of standard output goes away early
    (``python -m sky_fallback info | head -3``), as command-line tools are."""
    try:
        status = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The rest of the output has nowhere to go, and the flush at exit
        # would fail again: point stdout at /dev/null (as the Python
        # documentation of SIGPIPE recommends).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


if __name__ == '__main__':
    sys.exit(run_main())
