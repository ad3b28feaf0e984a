"""A managed-jobs controller process, up to the point where it would start
managing jobs; it then writes what the sky_rs plugin did to it.

Run by the controller's runtime Python (``python controller_probe.py
REPORT``), as ``sky.jobs.scheduler.start_controller()`` runs
``python -u -m sky.jobs.controller UUID``. It runs SkyPilot's own
``sky.jobs.controller.main()``, which makes stdout and stderr contextual and
loads the plugins of ``~/.sky/plugins.yaml`` in the CONTROLLER context, and
stops it where it builds its ``ControllerManager`` (which would loop over
the jobs database for ever). The report goes to the file REPORT as JSON,
not to stdout, which ``main()`` has replaced by then.
"""

import asyncio
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
from typing import List


class _Stop(BaseException):
    """Raised where main() would start managing jobs."""


# What sky_fallback logged at WARNING or above in this process.
_warnings = []


class _Collect(logging.Handler):

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            _warnings.append(record.getMessage())


def _report() -> dict:
    # pylint: disable=import-outside-toplevel
    import sky
    import sky_rs
    from sky.server import plugins
    from sky.utils import common_utils
    from sky_fallback.skypilot import patch
    from sky_fallback.skypilot import registry

    record_path = os.path.expanduser(
        f'~/.sky/sky_rs/processes/{os.getpid()}.json')
    try:
        with open(record_path, encoding='utf-8') as f:
            record = json.load(f)
    except FileNotFoundError:
        record = None
    # A patched function of the controller answers as SkyPilot's own does.
    with tempfile.NamedTemporaryFile('w', suffix='.log') as log:
        log.write(''.join(f'line {i}\n' for i in range(50)))
        log.flush()
        answers = {
            'read_last_n_lines': [
                common_utils.read_last_n_lines(log.name, 3),
                patch.skypilot_original('read_last_n_lines')(log.name, 3),
            ],
            'format_float': [
                common_utils.format_float(1234.5678, 2),
                patch.skypilot_original('format_float')(1234.5678, 2),
            ],
        }
    # Go starts on the first call that needs it, not when the plugin loads:
    # the calls above.
    mapped = _mapped()
    context = plugins.get_extension_context()
    extension = sky_rs.extension_path()
    with open(extension, 'rb') as f:
        extension_sha256 = hashlib.sha256(f.read()).hexdigest()
    return {
        'pid': os.getpid(),
        'executable': sys.executable,
        'python': platform.python_version(),
        'machine': platform.machine(),
        'skypilot_version': sky.__version__,
        'sky_rs_version': sky_rs.__version__,
        'sky_rs_file': sky_rs.__file__,
        'extension_path': extension,
        'extension_sha256': extension_sha256,
        'context': context.context.value if context else None,
        'plugins': [type(p).__module__ + '.' + type(p).__qualname__
                    for p in plugins.get_plugins()],
        'expected': [
            entry.qualified_name
            for entry in registry.PATCHES
            if registry.CONTROLLER in entry.contexts
        ],
        'patched': patch.patched_functions(),
        'mapped': mapped,
        'record': record,
        'answers': answers,
        'warnings': _warnings,
    }


def _mapped() -> List[str]:
    """The files of the Go extension this process maps."""
    with open('/proc/self/maps', encoding='utf-8', errors='replace') as f:
        return sorted({
            line.split(None, 5)[-1].strip()
            for line in f
            if '/_sky_rs.' in line
        })


def main(report_path: str) -> None:
    logging.getLogger('sky_fallback').addHandler(_Collect())
    from sky.jobs import controller  # pylint: disable=import-outside-toplevel

    def stop_here(controller_uuid):
        del controller_uuid
        raise _Stop()

    controller.ControllerManager = stop_here
    try:
        asyncio.run(controller.main('sky-rs-probe'))
    except _Stop:
        pass
    else:
        raise SystemExit('sky.jobs.controller.main() returned without '
                         'building its ControllerManager')
    report = _report()
    with open(report_path, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)


if __name__ == '__main__':
    main(sys.argv[1])
