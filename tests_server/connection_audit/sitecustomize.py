"""Log every connection a Python process tries to make off this machine.

On ``PYTHONPATH`` when :class:`tests_server.harness.ApiServer` is made with
``audit_connections=True``, so every Python process of the server (and of
the ``sky`` commands, and what they start with the same environment) runs
this at start-up. An audit hook (PEP 578) appends one JSON line to the file
named by ``SKY_RS_TEST_CONNECTION_LOG`` for each ``socket.connect`` to an
address that is not loopback, and each ``socket.getaddrinfo`` of a name that
is not (a name is looked up over the network): pid, command, event, address.
Unix sockets and loopback are not logged.
"""

import ipaddress
import json
import os
import sys

_LOG = os.environ.get('SKY_RS_TEST_CONNECTION_LOG')


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode('ascii', 'replace')
    host = str(host)
    if host == 'localhost' or host == '':
        return True
    try:
        return ipaddress.ip_address(host.split('%', 1)[0]).is_loopback
    except ValueError:
        return False  # a name


def _audit(event, args):
    if event == 'socket.connect':
        address = args[1]
        if not isinstance(address, tuple):
            return  # AF_UNIX
        host = address[0]
    elif event == 'socket.getaddrinfo':
        host, address = args[0], args[:2]
    else:
        return
    if _is_local(host):
        return
    try:
        line = json.dumps({
            'pid': os.getpid(),
            'argv': ' '.join(sys.argv)[:200],
            'event': event,
            'address': repr(address),
        })
        with open(_LOG, 'a', encoding='utf-8') as f:
            f.write(line + '\n')
    except Exception:  # pylint: disable=broad-except
        pass  # never break the process audited


if _LOG:
    sys.addaudithook(_audit)
