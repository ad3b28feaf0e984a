"""``make bench-server``: what users wait on, through a real SkyPilot API
server, stock and with sky_rs's plugin, side by side.

- ``pair``: the two servers (``tests_server.harness.ApiServer``), the
  plugin listed by ``python -m sky_fallback plugin install``;
- ``logfile``: the million-line SkyPilot log the tail reads;
- ``probes``: the ``GET /api/health`` poller and the RSS sampler;
- ``workloads``: the server-side tail, the cluster status request (serial,
  8 clients, the soak) and the launch dry run, in interleaved rounds;
- ``report``: the targets and the section of docs/BENCHMARKS.md;
- ``__main__``: ``python -m benchmarks.server [--quick] [--full] [--write]``.
"""
