# SPDX-License-Identifier: GPL-2.0-or-later
"""pvsplit-lab bench: the same fio workload in the guest through (a) a pvsplit
PV disk, (b) the kernel's xen-blkback PV disk, (c) an HVM guest's emulated
IDE disk; one lab boot each (per round: --rounds N boots each backend N
times, interleaved, and reports the median of each row, because these
machines are shared and one run varies by up to 2x), the outer QEMU with
-cpu qemu64,+svm,+npt for all three (HVM needs it).  A table, JSON and an
SVG plot."""
import math
import statistics

ROWS = ("seqread_1m", "seqwrite_1m", "randread_4k_qd1", "randread_4k_qd32", "randwrite_4k_qd32")
BENCH_CPU = "qemu64,+svm,+npt"
COLOURS = {"pvsplit": "#2b7bb9", "pvsplit-file": "#6fa8dc", "pvsplit-poll": "#1c4f78",
           "pvsplit-auto": "#9fc5e8", "pvsplit-nopoll": "#8e7cc3",
           "pvsplit-nopoll-epoll": "#b4a7d6", "pvsplit-map": "#e69138",
           "pvsplit-copy": "#f6b26b",
           "kernel": "#7fb800",
           "emulated": "#d9534f"}


# fio's completion latency percentiles in the guest, where the run has them
LATENCY = ("clat_p50_us", "clat_p99_us")
# the guest's CPU over each fio job: its idle share (time it waited for the
# disk) and its busy time per I/O, where the run has them
GUEST_CPU = ("guest_idle_pct", "guest_cpu_us_per_io")
# the guest's interrupts from the disk's event channels per I/O (below 1:
# one event carried several responses; above 1: an I/O took several
# requests, e.g. 1 MiB split by blkfront's segment limit)
IRQS = ("guest_irqs_per_io",)
# the share of the guest's vCPU time stolen over each fio job: runnable
# while another vCPU (dom0's) had its physical CPU
STEAL = ("guest_steal_pct",)
# the host under the lab over each fio job (hostload.py): the CPUs' worth
# of time the lab's QEMU used, the share of the host's CPU time anything
# else used, the share stolen from the host by a hypervisor under it
HOST = ("host_qemu_cpus", "host_others_pct", "host_steal_pct")
# dom0 over each fio job (hostload.py, from dom0's relay): its busy time in
# CPUs, the share of its vCPU time stolen, its busy time per I/O (a polling
# backend's spinning counts as busy), and the backend's own threads' part
DOM0 = ("dom0_cpus", "dom0_steal_pct", "dom0_cpu_us_per_io")
BACKEND_CPU = ("dom0_backend_us_per_io",)
EXTRA = LATENCY + GUEST_CPU + IRQS + STEAL + HOST + DOM0 + BACKEND_CPU


def rounds(summaries):
    """{backend: {row: {"mib_s": [...], "iops": [...], and the LATENCY and
    GUEST_CPU keys the runs have}}}: every passed run's figures."""
    out = {}
    for s in summaries:
        if not s.get("passed", True):
            continue  # a run that failed part way: its figures may be partial
        b = s.get("label") or s["backend"]
        for r in ROWS:
            cell = {k: s["metrics"].get(f"disk.{b}.{r}.{k}", {}).get("value")
                    for k in ("mib_s", "iops") + EXTRA}
            if cell["mib_s"] is not None and cell["iops"] is not None:
                dst = out.setdefault(b, {}).setdefault(r, {"mib_s": [], "iops": []})
                for (k, v) in cell.items():
                    if v is not None:
                        dst.setdefault(k, []).append(v)
    return out


def figures(summaries):
    """{backend: {row: {"mib_s", "iops"}}}: the median over the rounds."""
    return {b: {r: {k: _median(v) for (k, v) in cell.items()} for (r, cell) in rows.items()}
            for (b, rows) in rounds(summaries).items()}


def _median(values):
    m = statistics.median(values)
    return round(m, 3) if isinstance(m, float) else m


def flat(figs):
    """The issue's keys: disk.<backend>.<row>.mib_s (and .iops)."""
    return {f"disk.{b}.{r}.{k}": v for (b, rows) in figs.items()
            for (r, cell) in rows.items() for (k, v) in cell.items()}


def table(figs, out):
    backends = list(figs)
    print(f"{'guest fio, MiB/s (IOPS)':24}" + "".join(f"{b:>22}" for b in backends), file=out)
    for r in ROWS:
        cells = []
        for b in backends:
            c = figs[b].get(r)
            cells.append(f"{c['mib_s']} ({c['iops']})" if c else "-")
        print(f"{r:24}" + "".join(f"{c:>22}" for c in cells), file=out)
    for (a, b, factor) in (("pvsplit", "kernel", 1), ("pvsplit-file", "kernel", 1),
                           ("pvsplit-poll", "kernel", 1), ("pvsplit-auto", "kernel", 1),
                           ("pvsplit-nopoll", "kernel", 1),
                           ("pvsplit", "emulated", 10)):
        if a in figs and b in figs:
            print(f"{a} / {b}: " + ", ".join(_ratio(figs, a, b, r) for r in ROWS)
                  + f"  (target >= {factor}x)", file=out)
    _keys_table(figs, out, LATENCY, "fio's completion latency in the guest, us: p50/p99",
                lambda c: f"{c['clat_p50_us']}/{c['clat_p99_us']}")
    _keys_table(figs, out, GUEST_CPU, "guest CPU over each fio job: idle share / busy us per I/O",
                lambda c: f"{c['guest_idle_pct']}%/{c['guest_cpu_us_per_io']}")
    _keys_table(figs, out, IRQS, "disk interrupts in the guest per I/O",
                lambda c: f"{c['guest_irqs_per_io']}")
    _keys_table(figs, out, STEAL, "guest vCPU time stolen (dom0's vCPU had its CPU)",
                lambda c: f"{c['guest_steal_pct']}%")
    _keys_table(figs, out, HOST, "the host under the lab: QEMU's CPUs / others' share / stolen",
                lambda c: f"{c['host_qemu_cpus']}/{c['host_others_pct']}%/{c['host_steal_pct']}%")
    _keys_table(figs, out, DOM0, "dom0 over each fio job: busy CPUs / stolen / busy us per I/O",
                lambda c: f"{c['dom0_cpus']}/{c['dom0_steal_pct']}%/{c['dom0_cpu_us_per_io']}")
    _keys_table(figs, out, BACKEND_CPU,
                "the backend's own threads in dom0: busy us per I/O (not loop workers, writeback)",
                lambda c: f"{c['dom0_backend_us_per_io']}")


def _keys_table(figs, out, keys, title, fmt):
    """Where any cell has KEYS: TITLE, the backends, then a row per workload
    of fmt(cell) per backend ("-" for a cell without all of them)."""
    if not any(k in c for rows in figs.values() for c in rows.values() for k in keys):
        return
    w = max([22] + [len(b) + 2 for b in figs])
    print(title, file=out)
    print(f"{'':24}" + "".join(f"{b:>{w}}" for b in figs), file=out)
    for r in ROWS:
        cells = []
        for b in figs:
            c = figs[b].get(r, {})
            cells.append(fmt(c) if all(k in c for k in keys) else "-")
        print(f"{r:24}" + "".join(f"{c:>{w}}" for c in cells), file=out)


def _ratio(figs, a, b, r):
    x, y = figs[a].get(r, {}).get("mib_s"), figs[b].get(r, {}).get("mib_s")
    return f"{r} {x / y:.2f}x" if x and y else f"{r} -"


def svg(figs, title):
    """Grouped bars per workload, MiB/s on a log scale."""
    backends = list(figs)
    values = [c["mib_s"] for rows in figs.values() for c in rows.values() if c["mib_s"]]
    if not values:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    lo = math.floor(math.log10(min(values)))
    hi = math.ceil(math.log10(max(values)))
    hi = hi if hi > lo else lo + 1
    (w, h, left, top, bottom) = (760, 360, 60, 40, 70)
    plot_h = h - top - bottom
    group_w = (w - left - 20) / len(ROWS)
    bar_w = group_w * 0.8 / max(1, len(backends))
    y_of = lambda v: top + plot_h * (1 - (math.log10(v) - lo) / (hi - lo))
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' "
             f"font-family='sans-serif' font-size='11'>",
             f"<text x='{w / 2}' y='20' text-anchor='middle' font-size='14'>{title}</text>"]
    for e in range(lo, hi + 1):
        y = y_of(10 ** e)
        parts.append(f"<line x1='{left}' y1='{y:.1f}' x2='{w - 20}' y2='{y:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{10 ** e:g}</text>")
    parts.append(f"<text x='14' y='{top + plot_h / 2}' transform='rotate(-90 14 {top + plot_h / 2})' "
                 f"text-anchor='middle'>MiB/s (log)</text>")
    for (i, r) in enumerate(ROWS):
        x0 = left + i * group_w + group_w * 0.1
        for (j, b) in enumerate(backends):
            v = figs[b].get(r, {}).get("mib_s")
            if not v:
                continue
            (x, y) = (x0 + j * bar_w, y_of(max(v, 10 ** lo)))
            parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar_w - 2:.1f}' "
                         f"height='{top + plot_h - y:.1f}' fill='{COLOURS.get(b, '#888')}'>"
                         f"<title>{b} {r}: {v} MiB/s</title></rect>")
        parts.append(f"<text x='{left + (i + 0.5) * group_w:.1f}' y='{h - bottom + 16}' "
                     f"text-anchor='middle'>{r}</text>")
    for (j, b) in enumerate(backends):
        parts.append(f"<rect x='{left + j * 110}' y='{h - 28}' width='12' height='12' "
                     f"fill='{COLOURS.get(b, '#888')}'/><text x='{left + j * 110 + 16}' "
                     f"y='{h - 18}'>{b}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
