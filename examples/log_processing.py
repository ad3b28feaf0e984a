"""Scenario 1 of the user's guide: the errors at the end of a log file, and
the file's checksum.

    python examples/log_processing.py [LOG_FILE [N]]

Reads the last N lines (default 500) of LOG_FILE, or of a sample log written
to a temporary directory, lists the ERROR lines among them and prints the
file's SHA-256. The tail is found by reading backwards from the end, so the
cost does not grow with the file: this is how ``sky serve logs --tail``
reads replica logs that grow to gigabytes.
"""

import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from sky_fallback import rust_fallback
from sky_fallback.rust_fallback import hash_file
from sky_fallback.rust_fallback import read_last_n_lines


def analyze_logs(log_file: str, n: int = 500) -> Dict[str, Any]:
    """The ERROR lines among the last ``n`` lines, and the file's hash."""
    recent_lines = read_last_n_lines(log_file, n)
    errors = [line for line in recent_lines if 'ERROR' in line]
    # A hash object in both backends: .hexdigest() and .digest() always work.
    file_hash = hash_file(log_file, 'sha256')
    return {
        'errors': errors,
        'hash': file_hash.hexdigest(),
        'total_lines_checked': len(recent_lines),
    }


def write_sample_log(path: str, lines: int = 20_000) -> None:
    """A log with an ERROR every 97 lines, Windows line ends in places and
    one byte that is not UTF-8 (decoded as U+FFFD, as upstream does)."""
    with open(path, 'wb') as f:
        for i in range(lines):
            level = 'ERROR' if i % 97 == 0 else 'INFO'
            end = b'\r\n' if i % 10 == 0 else b'\n'
            f.write(f'2024-05-01 12:{i // 60 % 60:02d}:{i % 60:02d} {level} '
                    f'request {i} '.encode() +
                    (b'\xff' if i == lines - 3 else b'') + b'done' + end)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(f'backend: {rust_fallback.get_backend_info()["backend"]}',
          file=sys.stderr)
    n = int(argv[1]) if len(argv) > 1 else 500
    with tempfile.TemporaryDirectory() as scratch:
        if argv:
            log_file = argv[0]
        else:
            log_file = os.path.join(scratch, 'sky.log')
            write_sample_log(log_file)
        report = analyze_logs(log_file, n)
    print(f'lines checked: {report["total_lines_checked"]}')
    print(f'errors: {len(report["errors"])}')
    for line in report['errors'][-3:]:
        print(f'  {line.rstrip()}')
    print(f'sha256: {report["hash"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
