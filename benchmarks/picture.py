"""docs/benchmarks.png: cost against input size, upstream and the public API.

Needs matplotlib (``make bench`` installs it); without it the report has no
picture.
"""

from typing import Dict, List, Optional

from benchmarks import timing
from benchmarks.fixtures import human_size


def render_picture(results: List[timing.Result], path: str) -> Optional[str]:
    """Draw the results' size series (``Case.series``) into ``path`` (a
    PNG); return ``path``, or None when matplotlib is not installed."""
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    series: Dict[str, List[timing.Result]] = {}
    for r in results:
        if r.case.series:
            series.setdefault(r.case.series, []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (('read_last_n_lines', axes[0]), ('hash_file', axes[1]))
    for prefix, ax in panels:
        for name, rows in sorted(series.items()):
            if not name.startswith(prefix):
                continue
            rows.sort(key=lambda r: r.case.size or 0)
            sizes = [r.case.size for r in rows]
            label = name[len(prefix):].strip()
            for variant, style in (('upstream', '--o'), ('api', '-s')):
                times = [r.per_call.get(variant) for r in rows]
                if any(t is None for t in times):
                    continue
                ax.plot(sizes, [t * 1e6 for t in times],
                        style,
                        label=f'{variant} {label}'.strip())
        ax.set_xscale('log', base=2)
        ax.set_yscale('log')
        ticks = sorted({r.case.size for rows in series.values() for r in rows
                        if r.case.size and
                        r.case.function == prefix})
        ax.set_xticks(ticks)
        ax.set_xticklabels([human_size(t) for t in ticks], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel('file size')
        ax.set_ylabel('µs per call (median)')
        ax.set_title(prefix)
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle('Cost against input size: upstream SkyPilot vs '
                 'sky_fallback.rust_fallback')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


