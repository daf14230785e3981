# SPDX-License-Identifier: GPL-2.0-or-later
"""What the machine under the lab did while the guest worked.

The lab's Xen runs inside QEMU under TCG: every vCPU of the lab machine is a
thread of one host process.  When the host is busy with something else, or
is itself a virtual machine whose CPUs are taken away, the whole lab runs
slower, and the guest's own counters cannot tell why.  These figures can:
over a span of the guest's work (one fio job), from /proc/stat and
/proc/PID/stat on the host,

  host_qemu_cpus   CPUs' worth of time the lab's QEMU used (2.0: both vCPU
                   threads of a 2-CPU lab machine never slept)
  host_others_pct  the share of the host's CPU time used by anything else
                   (other processes, the host kernel's own work)
  host_steal_pct   the share of the host's CPU time stolen by the
                   hypervisor under it (0 on bare metal)

and from dom0's own counters, which dom0's relay of the guest's records
adds to each edge of a span (dom0_cpu: /proc/stat's first line; dom0_up:
/proc/uptime; dom0_ncpu, dom0_hz; dom0_backend_ticks: the backend's
threads' CPU time),

  dom0_cpus           dom0's vCPUs' busy time, in CPUs (1.0: a dom0 of one
                      vCPU never idle; a polling backend counts as busy)
  dom0_steal_pct      the share of dom0's vCPU time stolen: runnable while
                      Xen ran another vCPU (the guest's) on its CPU
  dom0_cpu_us_per_io  dom0's busy time per I/O of the span's job (dom0_cpus
                      over the job's IOPS, once the guest reports them)
  dom0_backend_cpus, dom0_backend_us_per_io
                      the same for the disk backend's own threads only
                      (pvsplit-blkback with its io_uring workers, or
                      xen-blkback's kernel threads; not the loop devices'
                      workers nor writeback, which either may cause)

Inside QEMU on a busy host, dom0's clocks also count the time the host took
from dom0's vCPU thread: there the dom0 figures are not CPU cost (its idle
and steal counters have come out inconsistent with its threads' times).

A span is timed by the records the host reads (begin and end both arrive
through dom0's relay, up to about a second late), so its edges are
approximate; over a job of several seconds that is good enough to tell a
quiet host from a busy one.
"""
import os

# /proc/stat's first line after "cpu": user nice system idle iowait irq
# softirq steal (guest and guest_nice are counted in user and nice)
_BUSY = (0, 1, 2, 5, 6)
_IDLE = (3, 4)
_STEAL = 7


class Sample:
    """The host's CPU counters at one moment: the "cpu" line of /proc/stat
    (clock ticks) and, when pid is given, that process's utime + stime."""

    def __init__(self, cpu, proc_ticks, ncpu):
        self.cpu = cpu
        self.proc_ticks = proc_ticks
        self.ncpu = ncpu


def parse_stat(text):
    """(the "cpu" line's first 8 fields as ints, the number of cpuN lines)."""
    fields, ncpu = None, 0
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "cpu":
            fields = [int(x) for x in w[1:9]] + [0] * max(0, 9 - len(w))
        elif w[0].startswith("cpu") and w[0][3:].isdigit():
            ncpu += 1
    if fields is None:
        raise ValueError("no 'cpu' line in /proc/stat")
    return fields[:8], ncpu


def parse_proc_ticks(text):
    """utime + stime of a /proc/PID/stat line (the name may hold spaces
    and parentheses: the fields start after the last ')')."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


def sample(pid=None, root="/proc"):
    """A Sample of this host now; proc_ticks is None without pid or once
    the process is gone."""
    with open(os.path.join(root, "stat")) as f:
        cpu, ncpu = parse_stat(f.read())
    ticks = None
    if pid is not None:
        try:
            with open(os.path.join(root, str(pid), "stat")) as f:
                ticks = parse_proc_ticks(f.read())
        except (OSError, ValueError, IndexError):
            ticks = None
    return Sample(cpu, ticks, ncpu)


def span(a, b):
    """{name: (value, unit)} between two Samples; {} when no time passed."""
    d = [y - x for (x, y) in zip(a.cpu, b.cpu)]
    busy = sum(d[i] for i in _BUSY)
    total = busy + sum(d[i] for i in _IDLE) + d[_STEAL]
    if total <= 0:
        return {}
    out = {"host_steal_pct": (round(100 * d[_STEAL] / total), "%")}
    if a.proc_ticks is not None and b.proc_ticks is not None:
        proc = max(0, b.proc_ticks - a.proc_ticks)
        ncpu = b.ncpu or 1
        # total counts every CPU's ticks: per CPU, it is the span's length
        out["host_qemu_cpus"] = (round(proc * ncpu / total, 2), "CPUs")
        out["host_others_pct"] = (round(100 * max(0, busy - proc) / total), "%")
    else:
        out["host_busy_pct"] = (round(100 * busy / total), "%")
    return out


def dom0_span(a, b, ncpu, backend=None, up=None, hz=100):
    """{name: (value, unit)} between two of dom0's "cpu" lines (lists of the
    8 counters a relayed span record carries), not rounded; with BACKEND
    (the backend's ticks at both edges) its threads' share too.

    With UP (dom0's uptime at both edges, seconds), busy time is the span's
    length less idle, iowait and steal: a tickless kernel measures those
    exactly while it samples busy time only at its ticks, which misses
    much of a backend's short bursts of work (in the lab, half of
    pvsplit-blkback's).  Without UP, the sampled busy counters.  {} when
    no time passed or a counter went back (not two samples of one dom0)."""
    if len(a) < 8 or len(b) < 8:
        return {}
    d = [y - x for (x, y) in zip(a[:8], b[:8])]
    if min(d) < 0:
        return {}
    ncpu = max(1, ncpu)
    idle = sum(d[i] for i in _IDLE)
    if up and all(isinstance(x, (int, float)) for x in up) and up[1] > up[0]:
        total = (up[1] - up[0]) * hz * ncpu
        busy = max(0, total - idle - d[_STEAL])
    else:
        busy = sum(d[i] for i in _BUSY)
        total = busy + idle + d[_STEAL]
    if total <= 0:
        return {}
    out = {"dom0_cpus": (busy * ncpu / total, "CPUs"),
           "dom0_steal_pct": (100 * d[_STEAL] / total, "%")}
    if backend and all(isinstance(x, int) for x in backend) and backend[1] >= backend[0]:
        out["dom0_backend_cpus"] = ((backend[1] - backend[0]) * ncpu / total, "CPUs")
    return out


def rounded(figures):
    """dom0_span's figures as shown: CPUs to 0.01, shares to 1%."""
    return {k: (round(v, 2) if unit == "CPUs" else round(v), unit)
            for (k, (v, unit)) in figures.items()}


def per_io(cpus, iops):
    """(busy us per I/O, unit) for a busy time of CPUS over a job of IOPS,
    or None without I/O."""
    if not iops or iops <= 0 or cpus is None:
        return None
    return (round(cpus * 1e6 / iops), "us")
