# SPDX-License-Identifier: GPL-2.0-or-later
"""pvsplit-lab's command line: build, run, demo, bench (see pvsplit-lab(1))."""
import argparse
import fcntl
import json
import shlex
import shutil
import tempfile
import os
import signal
import sys
import time

from . import bench, images, kmod, overlay, ui
from .machine import GUEST_CPUS_PIN_DOM0, HostDom0, QemuMachine, is_xen_dom0
from .monitor import Monitor
from .ui import LabError, progress

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_SKIP = 0, 1, 2, 77
BACKENDS = ("pvsplit", "kernel")
# the guest's block frontend: Linux's xen-blkfront or pvsplit's module
FRONTENDS = ("stock", "pvsplit")
BENCH_BACKENDS = ("pvsplit", "pvsplit-file", "pvsplit-poll", "pvsplit-auto", "pvsplit-nopoll",
                  "pvsplit-nopoll-epoll", "pvsplit-map", "pvsplit-copy", "kernel", "emulated")
BENCH_DEFAULT = ("pvsplit", "pvsplit-file", "kernel", "emulated")
# bench's variants of --backend pvsplit: (backend, xvda's disk, pvsplit-blkback
# options).  pvsplit-file: pvsplit-blkback serving xvda's file itself, attached
# with pvsplit-block-hotplug (no loop device).  pvsplit-poll: pvsplit-blkback
# --poll-us 2000, a fixed window longer than a guest's turnaround at QD1 under
# TCG; pvsplit-auto: --poll-us auto, the adaptive window that pvsplit-blkback
# has by default (pvsplit); pvsplit-nopoll: --poll-us 0, no polling;
# pvsplit-nopoll-epoll: no polling, and the loop sleeping in epoll_wait() with
# the event channel read by a read() of its own (--wait epoll: as before the
# io_uring wait, for comparison).  pvsplit-map: no persistent grants offered,
# so xen-blkfront grants the I/O's own pages and copies nothing; every
# request maps them (--no-persistent --map-min 1); pvsplit-copy: no
# persistent grants, every request grant-copied (--no-persistent).
BENCH_VARIANTS = {"pvsplit-file": ("pvsplit", "file", ""),
                  "pvsplit-poll": ("pvsplit", None, "--poll-us 2000"),
                  "pvsplit-auto": ("pvsplit", None, "--poll-us auto"),
                  "pvsplit-nopoll": ("pvsplit", None, "--poll-us 0"),
                  "pvsplit-nopoll-epoll": ("pvsplit", None, "--poll-us 0 --wait epoll"),
                  "pvsplit-map": ("pvsplit", None, "--no-persistent --map-min 1"),
                  "pvsplit-copy": ("pvsplit", None, "--no-persistent")}
# --backend pvsplit needs these in the build (pvsplit-consoled is used when
# present; until then the guest console is stock xenconsoled, said in a note)
PVSPLIT_DAEMONS = {"pvsplit-blkback": "issue 3"}


class Lab:
    """The paths one invocation works with."""

    def __init__(self, args):
        self.datadir = args.datadir
        self.cache = os.path.abspath(args.cache or images.default_cache())
        self.builddir = os.path.abspath(args.build) if args.build else None
        self.images = images.Images(self.datadir, self.cache)

    def require_build(self):
        if not self.builddir:
            raise LabError("no pvsplit build directory: give --build DIR (a configured build) "
                           "or set PVSPLIT_BUILD")
        return self.builddir

    def build_all(self, hvm=False, perf=False):
        """Boot files and the base images (cached; dom0-hvm too for HVM,
        dom0-perf for --perf);
        returns them as a dict.  One pvsplit-lab at a time builds in a cache
        (a lock file)."""
        t0 = time.monotonic()
        os.makedirs(self.cache, exist_ok=True)
        with open(os.path.join(self.cache, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.images.prefetch()
            out = {"xen": self.images.xen(), "kernel": self.images.vmlinuz(),
                   "dom0": self.images.base("dom0"), "guest": self.images.base("guest")}
            if hvm:
                out["dom0-hvm"] = self.images.base("dom0-hvm")
                out["guest-hvmboot"] = self.images.base("guest-hvmboot")
            if perf:
                out["dom0-perf"] = self.images.base("dom0-perf")
        progress(f"images ready in {time.monotonic() - t0:.1f} s (cache: {self.cache})")
        return out

    def new_rundir(self, label, log_dir):
        root = log_dir or os.path.join(self.builddir or self.cache, "lab-runs")
        d = os.path.join(root, time.strftime("%Y%m%d-%H%M%S-") + label)
        n = 1
        while os.path.exists(d):
            n += 1
            d = f"{d.rsplit('.', 1)[0]}.{n}"
        os.makedirs(d)
        return d


# ---- run ----

def missing_daemons(build_dest, dirs):
    found = set()
    for key in ("bindir", "sbindir"):
        d = build_dest + dirs.get(key, "")
        if os.path.isdir(d):
            found.update(os.listdir(d))
    return {d: why for (d, why) in PVSPLIT_DAEMONS.items() if d not in found}


def prepare_run(lab, args, backend, rundir, host, frontend="stock", bench_disk=None, label=None,
                blkback_args=""):
    """Pack this run's dom0 initrd (on a real dom0 HOST: the overlay alone);
    returns (boot files, initrd path)."""
    hvm = backend == "emulated"
    perf = getattr(args, "perf", False) and not host
    if getattr(args, "perf", False) and host:
        progress("--perf: the lab brings perf into its own dom0 only (QEMU); not on this host")
    boot = lab.build_all(hvm=hvm, perf=perf)
    module = None
    if frontend == "pvsplit":
        module = kmod.build_blkfront(lab.require_build(), lab.images.abi(),
                                     os.path.join(rundir, "kmod"))
    build_dest = os.path.join(rundir, "pvsplit-install")
    dirs = overlay.stage_build(lab.require_build(), lab.cache, build_dest)
    if backend == "pvsplit":
        missing = missing_daemons(build_dest, dirs)
        if missing:
            raise NotRunnable("--backend pvsplit is not yet runnable: the build has no "
                              + ", ".join(f"{d} ({why})" for d, why in missing.items()))
    env = overlay.run_env(backend, dirs, args.fio_secs, args.guest_mem, args.disk_mb,
                          args.script_timeout, frontend, label)
    if bench_disk:
        env += f"LAB_BENCH_DISK={bench_disk}\n"
    if blkback_args:
        env += f"LAB_BLKBACK_ARGS={shlex.quote(blkback_args)}\n"
    if getattr(args, "interactive", False):
        env += "LAB_INTERACTIVE=1\n"
    if getattr(args, "host_mode", False):
        env += "LAB_HOST_MODE=1\n"
    if getattr(args, "pin_dom0", False) and not host:
        env += f"LAB_GUEST_CPUS={shlex.quote(GUEST_CPUS_PIN_DOM0)}\n"
    if getattr(args, "bench", False):
        env += "LAB_BENCH=1\nLAB_T_GUEST_BOOT=600\n"  # an HVM guest boots in ~1 min
    if perf:
        env += "LAB_PERF=1\n"
    guest_initrd = os.path.join(rundir, "guest-initrd.cpio")
    guest_tar = os.path.join(rundir, "guest-root.tar") if hvm else None
    if hvm:
        overlay.pack_small_initrd(guest_initrd, boot["guest-hvmboot"], lab.datadir, "guest-hvmboot")
        overlay.pack_guest_tar(guest_tar, lab.images.stage_root("guest"), lab.datadir, env,
                               args.guest_script)
    else:
        overlay.pack_guest_initrd(guest_initrd, boot["guest"], lab.datadir, env, args.guest_script,
                                  module)
    initrd = os.path.join(rundir, "dom0-initrd.cpio")
    bases = [] if host else ([boot["dom0"]] + ([boot["dom0-hvm"]] if hvm else [])
                             + ([boot["dom0-perf"]] if perf else []))
    overlay.pack_dom0_initrd(initrd, bases, lab.datadir, env, args.dom0_script,
                             build_dest, boot["kernel"], guest_initrd, guest_tar)
    for f in (guest_initrd, guest_tar):
        if f:
            os.unlink(f)
    shutil.rmtree(build_dest)
    if module:
        shutil.rmtree(os.path.dirname(module))
    return boot, initrd


class NotRunnable(LabError):
    """The run cannot happen yet (reported as SKIP, exit 77)."""


def variant_of(name, blkback_args=""):
    """(backend, xvda's disk or None, pvsplit-blkback options) of a backend or
    bench variant NAME, with the user's BLKBACK_ARGS after the variant's own."""
    backend, disk, own = BENCH_VARIANTS.get(name, (name, None, ""))
    return backend, disk, " ".join(a for a in (own, blkback_args) if a)


def on_this_host(args):
    """The run goes to this host (a Xen dom0), not to QEMU."""
    return is_xen_dom0() and not args.qemu and not getattr(args, "host_mode", False)


def run_one(lab, args, backend, frontend="stock"):
    variant = backend
    backend, bench_disk, blkback_args = variant_of(variant, getattr(args, "blkback_args", ""))
    label = variant if frontend == "stock" else f"{variant}-pvsplit-blkfront"
    if getattr(args, "host_mode", False):
        label += "-host-mode"
        prefix = images.configured_dirs(lab.require_build()).get("prefix", "")
        if prefix != "/usr/local" and not prefix.startswith(("/opt/", "/srv/")):
            raise LabError(f"--host-mode moves the build's prefix aside in dom0: it must be "
                           f"/usr/local, /opt/... or /srv/... (the build's: {prefix!r})")
    rundir = lab.new_rundir(label, args.log_dir)
    progress(f"run directory: {rundir}")
    host = on_this_host(args)
    metric_label = variant if variant in BENCH_VARIANTS else None
    boot, initrd = prepare_run(lab, args, backend, rundir, host, frontend, bench_disk,
                               metric_label, blkback_args)
    if host:
        progress("this host is a Xen dom0 (control_d): running the checks here, not in QEMU")
        machine = HostDom0(rundir, initrd)
    else:
        machine = QemuMachine(rundir, boot["xen"], boot["kernel"], initrd,
                              interactive=getattr(args, "interactive", False),
                              cpu=getattr(args, "cpu", "qemu64"),
                              pin_dom0=getattr(args, "pin_dom0", False))
        progress(f"booting Xen + dom0 in QEMU (TCG); serial log: {machine.serial_log}")
    with open(os.path.join(rundir, "run.log"), "w") as log:
        result = Monitor(machine, args.boot_timeout, log).run()
    if not args.keep_initrd and os.path.exists(initrd):
        os.unlink(initrd)
    summary = dict(result.to_json(), backend=backend, frontend=frontend,
                   label=metric_label or overlay.disk_label(backend, frontend), rundir=rundir,
                   machine="this host" if host else "qemu",
                   host_mode=bool(getattr(args, "host_mode", False)),
                   pin_dom0=bool(getattr(args, "pin_dom0", False)) and not host,
                   serial_log=machine.serial_log)
    images.write_json(os.path.join(rundir, "summary.json"), summary)
    return summary


def _fmt_secs(v):
    return f"{v:7.1f} s" if isinstance(v, (int, float)) else "      - "


def print_summary(s, out=sys.stdout):
    counts = {st: sum(1 for x in s["steps"] if x["status"] == st) for st in ("pass", "fail", "skip")}
    verdict = "PASSED" if s["passed"] else "FAILED"
    how = " --host-mode" if s.get("host_mode") else ""
    how += " (on this Xen host)" if s.get("machine") == "this host" else ""
    print(f"\npvsplit-lab run --backend {s['backend']} --frontend {s.get('frontend', 'stock')}{how}: "
          f"{verdict} ({counts['pass']} passed, "
          f"{counts['fail']} failed, {counts['skip']} skipped)", file=out)
    if s.get("error"):
        print(f"  error: {s['error']}", file=out)
    for note in s.get("notes", []):
        print(f"  note: {note}", file=out)
    marks = s["marks"]
    for (label, key) in (("boot to dom0 up", "dom0-up"), ("boot to guest ready", "guest.ready"),
                         ("boot to result", "done")):
        print(f"  {label:24}{_fmt_secs(marks.get(key))}", file=out)
    load = host_load_line(s["metrics"], "run")
    if load:
        print(f"  {'host over the run':24}{load}", file=out)
    print(f"  {'step':40} {'status':6} {'secs':>8}", file=out)
    for st in s["steps"]:
        detail = f"  {st['detail']}" if st.get("detail") else ""
        print(f"  {st['name']:40} {st['status']:6} {st['secs']!s:>8}{detail}", file=out)
    print_metrics([s], out)
    print(f"  serial log: {s['serial_log']}", file=out)
    print(f"  run log:    {os.path.join(s['rundir'], 'run.log')}", file=out)


def host_load_line(metrics, name):
    """The host's load over span NAME in words (hostload), or None."""
    m = lambda k: metrics.get(f"{name}.{k}", {}).get("value")
    parts = []
    if m("host_qemu_cpus") is not None:
        parts.append(f"QEMU {m('host_qemu_cpus')} CPUs, others {m('host_others_pct')}%")
    if m("host_busy_pct") is not None:
        parts.append(f"busy {m('host_busy_pct')}%")
    if m("host_steal_pct") is not None:
        parts.append(f"stolen {m('host_steal_pct')}%")
    return ", ".join(parts) or None


def print_metrics(summaries, out=sys.stdout):
    rows = ("seqread_1m", "seqwrite_1m", "randread_4k_qd1", "randread_4k_qd32", "randwrite_4k_qd32")
    have = [s for s in summaries if any(k.startswith("disk.") for k in s["metrics"])]
    if not have:
        return
    label = lambda s: s.get("label", s["backend"])

    def cell(s, r):
        m = lambda k: s["metrics"].get(f"disk.{label(s)}.{r}.{k}", {}).get("value")
        if m("mib_s") is None:
            return "-"
        p50 = f", p50 {m('clat_p50_us')} us" if m("clat_p50_us") is not None else ""
        idle = f", idle {m('guest_idle_pct')}%" if m("guest_idle_pct") is not None else ""
        dom0 = (f", dom0 {m('dom0_cpu_us_per_io')} us/IO"
                if m("dom0_cpu_us_per_io") is not None else "")
        return f"{m('mib_s')} MiB/s {m('iops')} IOPS{p50}{idle}{dom0}"

    cells = {r: [cell(s, r) for s in have] for r in rows}
    width = max([24] + [len(label(s)) + 2 for s in have] + [len(c) + 2 for r in rows for c in cells[r]])
    print(f"  {'guest fio':24}" + "".join(f"{label(s):>{width}}" for s in have),
          file=out)
    for r in rows:
        print(f"  {r:24}" + "".join(f"{c:>{width}}" for c in cells[r]), file=out)


def cmd_run(lab, args):
    summaries, skipped = [], []
    for backend in args.backend:
        for frontend in args.frontend:
            try:
                summaries.append(run_one(lab, args, backend, frontend))
            except NotRunnable as e:
                progress(f"SKIP {backend}: {e}")
                skipped.append({"backend": backend, "frontend": frontend, "skipped": str(e)})
    if args.json:
        json.dump({"runs": summaries, "skipped": skipped}, sys.stdout, indent=2)
        print()
    else:
        for s in summaries:
            print_summary(s)
        if len(summaries) > 1:
            print()
            print_metrics(summaries)
        for sk in skipped:
            print(f"\npvsplit-lab run --backend {sk['backend']} --frontend {sk['frontend']}: "
                  f"SKIP ({sk['skipped']})")
    if not summaries:
        return EXIT_SKIP
    return EXIT_PASS if all(s["passed"] for s in summaries) else EXIT_FAIL


def cmd_build(lab, args):
    boot = lab.build_all()
    for (k, v) in boot.items():
        print(f"{k:8} {v}")
    if lab.builddir:
        with tempfile.TemporaryDirectory(prefix="pvsplit-lab-") as tmp:
            dest = os.path.join(tmp, "install")
            dirs = overlay.stage_build(lab.builddir, lab.cache, dest)
            print(f"{'pvsplit':8} {lab.builddir} (installed for dom0 under {dirs['prefix']})")
            missing = missing_daemons(dest, dirs)
        if missing:
            print("note: --backend pvsplit is not yet runnable: the build has no "
                  + ", ".join(f"{d} ({w})" for d, w in missing.items()))
    return EXIT_PASS


def print_demo_summary(s, out=sys.stdout):
    """A few lines: what ran, how long it took, what the disks did."""
    m, marks = s["metrics"], s["marks"]
    fig = lambda k: m.get(f"disk.{s.get('label', s['backend'])}.{k}.mib_s", {}).get("value", "-")
    passed = sum(1 for x in s["steps"] if x["status"] == "pass")
    print(f"\npvsplit lab demo ({s['backend']} backend, {s.get('frontend', 'stock')} frontend): "
          f"{'all checks passed' if s['passed'] else 'FAILED: ' + str(s.get('error') or 'a step failed')}"
          f" ({passed}/{len(s['steps'])} steps)", file=out)
    print(f"  Xen 4.17 + dom0 up {marks.get('dom0-up', '-')} s, guest up {marks.get('guest.ready', '-')} s, "
          f"everything done {marks.get('done', '-')} s after QEMU started (TCG, no KVM)", file=out)
    print(f"  guest disk via PV {'pvsplit-' if s.get('frontend') == 'pvsplit' else 'xen-'}blkfront: 1 MiB seq read {fig('seqread_1m')} MiB/s, write "
          f"{fig('seqwrite_1m')} MiB/s; 4 KiB random read {fig('randread_4k_qd32')} MiB/s (qd32)",
          file=out)
    print("  shown: ext4 + fio verify on a file-backed and a block-device disk, xl console in and "
          "out, disk hot-plug, xl destroy clean", file=out)
    for note in s.get("notes", []):
        print(f"  note: {note}", file=out)
    print(f"  serial log: {s['serial_log']}", file=out)


def cmd_demo(lab, args):
    try:
        s = run_one(lab, args, args.demo_backend, args.frontend[0])
    except NotRunnable as e:
        print(f"pvsplit-lab demo: SKIP ({e})")
        return EXIT_SKIP
    print_demo_summary(s)
    return EXIT_PASS if s["passed"] else EXIT_FAIL


def cmd_bench(lab, args):
    """One lab boot per backend, the guest only measuring; see bench.py."""
    args.bench, args.cpu = True, bench.BENCH_CPU
    args.guest_script = args.dom0_script = None
    summaries, skipped = [], []
    for rnd in range(args.rounds):
        for backend in args.backend:
            if any(sk["backend"] in (backend, BENCH_VARIANTS.get(backend, ("",))[0])
                   for sk in skipped):
                continue
            if args.rounds > 1:
                progress(f"round {rnd + 1} of {args.rounds}: {backend}")
            try:
                summaries.append(run_one(lab, args, backend))
            except NotRunnable as e:
                progress(f"SKIP {backend}: {e}")
                skipped.append({"backend": backend, "skipped": str(e)})
    figs = bench.figures(summaries)
    plot = args.plot or os.path.join(os.path.dirname(summaries[0]["rundir"]) if summaries
                                     else lab.cache, time.strftime("bench-%Y%m%d-%H%M%S.svg"))
    with open(plot, "w") as f:
        f.write(bench.svg(figs, "pvsplit-lab bench: guest fio through each disk path"
                          + (" (--pin-dom0)" if args.pin_dom0 else "")))
    if args.json:
        json.dump({"disk": figs, "metrics": bench.flat(figs), "rounds": bench.rounds(summaries),
                   "plot": plot, "skipped": skipped, "pin_dom0": args.pin_dom0,
                   "runs": [{k: s.get(k) for k in ("backend", "label", "passed", "error", "rundir")}
                            for s in summaries]}, sys.stdout, indent=2)
        print()
    else:
        print()
        if args.pin_dom0:
            print("dom0 pinned to physical CPU 0, guests on the other (--pin-dom0)")
        if args.rounds > 1:
            print(f"median of {args.rounds} rounds (every round's figures: --json)")
        bench.table(figs, sys.stdout)
        for s in summaries:
            if not s["passed"]:
                print(f"{s['backend']}: FAILED ({s.get('error') or 'a step failed'}): {s['rundir']}")
        for sk in skipped:
            print(f"{sk['backend']}: SKIP ({sk['skipped']})")
        print(f"plot: {plot}")
    ok = summaries and all(s["passed"] for s in summaries)
    return EXIT_PASS if ok else EXIT_FAIL


# ---- arguments ----

def _common(p):
    p.add_argument("--build", default=os.environ.get("PVSPLIT_BUILD"),
                   help="configured pvsplit build directory (default: $PVSPLIT_BUILD, "
                        "else the checkout's build/)")
    p.add_argument("--cache", help="cache directory (default: $PVSPLIT_LAB_CACHE, else "
                                   "$XDG_CACHE_HOME/pvsplit-lab)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _run_opts(p, scripts=True):
    if scripts:
        p.add_argument("--guest-script", metavar="FILE", help="script run in the guest as root")
        p.add_argument("--dom0-script", metavar="FILE",
                       help="script run in dom0 after the guest's checks")
    p.add_argument("--script-timeout", type=int, default=overlay.TIMEOUTS["LAB_T_GUEST_SCRIPT"],
                   metavar="SECS", help="timeout of the guest script and of the dom0 script (300)")
    p.add_argument("--log-dir", metavar="DIR", help="where run directories go (default: BUILD/lab-runs)")
    p.add_argument("--fio-secs", type=int, default=5, help="seconds per fio throughput job (5)")
    p.add_argument("--guest-mem", type=int, default=512, help="guest memory in MiB (512)")
    p.add_argument("--disk-mb", type=int, default=256, help="size of each test disk in MiB (256)")
    p.add_argument("--boot-timeout", type=int, default=300,
                   help="seconds until dom0's first record (300)")
    p.add_argument("--qemu", action="store_true", help="use QEMU even on a Xen dom0 host")
    p.add_argument("--blkback-args", default="", metavar="ARGS",
                   help="more pvsplit-blkback options for the pvsplit backends, "
                        "e.g. '--poll-us 2000'")
    p.add_argument("--keep-initrd", action="store_true", help="keep the run's dom0 initrd")
    p.add_argument("--perf", action="store_true",
                   help="sample dom0's CPUs with perf during each fio job and print where "
                        "the time went (QEMU only; the figures of such a run are perturbed)")
    p.add_argument("--pin-dom0", action="store_true",
                   help="dom0's vCPU on physical CPU 0 only (Xen's dom0_vcpus_pin) and the "
                        "guests on the other: a dom0 with a CPU of its own (QEMU only)")


def _backend_list(text, allowed):
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names or any(b not in allowed for b in names):
        raise argparse.ArgumentTypeError("backends: a comma separated list of "
                                         + ", ".join(allowed))
    return names


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of at least 1")
    return n


def _backends(text):
    return _backend_list(text, BACKENDS)


def _backends_bench(text):
    return _backend_list(text, BENCH_BACKENDS)


def _frontends(text):
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names or any(f not in FRONTENDS for f in names):
        raise argparse.ArgumentTypeError("frontends: a comma separated list of "
                                         + ", ".join(FRONTENDS))
    return names


def _frontend_opt(p, many):
    p.add_argument("--frontend", type=_frontends, default=["stock"],
                   help="the guest's block frontend: stock (Linux's xen-blkfront, default) or "
                        "pvsplit (pvsplit-blkfront, built for the lab's kernel)"
                        + ("; stock,pvsplit runs both and compares them" if many else ""))


def parser():
    p = argparse.ArgumentParser(prog="pvsplit-lab",
                                description="Xen 4.17 in QEMU (TCG) from Debian packages: "
                                            "pvsplit proven on a real hypervisor")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="fetch packages, build and cache the images")
    _common(b)
    b.set_defaults(func=cmd_build)
    r = sub.add_parser("run", help="boot the lab, run the checks, report")
    _common(r)
    _run_opts(r)
    r.add_argument("--backend", type=_backends, default=["pvsplit"],
                   help="pvsplit (default), kernel, or pvsplit,kernel for both in one run")
    _frontend_opt(r, True)
    r.add_argument("--host-mode", action="store_true",
                   help="in QEMU, the path a real Xen dom0 host takes: dom0 first looks like a "
                        "Debian Xen host (xen-blkback loaded, xenconsoled running, a guest "
                        "of its own...), which --backend pvsplit must refuse, naming each, "
                        "until they are gone")
    r.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("demo", help="boot, show a guest using the disks and console, summarise")
    _common(d)
    _run_opts(d)
    d.add_argument("--interactive", action="store_true",
                   help="leave you in the guest's console (xl console) before the end")
    d.add_argument("--backend", dest="demo_backend", choices=BACKENDS, default="pvsplit",
                   help="pvsplit (default) or kernel")
    _frontend_opt(d, False)
    d.set_defaults(func=cmd_demo)
    be = sub.add_parser("bench", help="disk throughput: pvsplit vs kernel blkback vs HVM "
                                      "emulated IDE (run it alone on the machine)")
    _common(be)
    _run_opts(be, scripts=False)
    be.add_argument("--backend", type=_backends_bench, default=list(BENCH_DEFAULT),
                    help="any of " + ",".join(BENCH_BACKENDS) + " (default: "
                         + ",".join(BENCH_DEFAULT) + "; pvsplit-file: xvda's file served by "
                         "pvsplit-blkback itself, attached with pvsplit-block-hotplug instead "
                         "of a loop device; pvsplit-poll: pvsplit-blkback --poll-us 2000, "
                         "a fixed polling window; pvsplit-auto: --poll-us auto, an adaptive "
                         "one, pvsplit-blkback's default (as pvsplit); pvsplit-nopoll: "
                         "--poll-us 0, no polling; pvsplit-nopoll-epoll: --poll-us 0 --wait "
                         "epoll, no polling and the loop sleeping in epoll_wait())")
    be.add_argument("--rounds", type=_positive, default=1, metavar="N",
                    help="boot each backend N times, interleaved, and report the median (1)")
    be.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    be.add_argument("--plot", metavar="FILE", help="the SVG plot (default: beside the runs)")
    be.set_defaults(func=cmd_bench)
    return p


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(datadir, default_build):
    signal.signal(signal.SIGTERM, _terminate)
    args = parser().parse_args()
    args.datadir = datadir
    if not args.build:
        args.build = default_build
    ui.quiet = args.quiet
    try:
        if getattr(args, "pin_dom0", False) and on_this_host(args):
            raise LabError("--pin-dom0 sets the lab's own Xen command line; this host runs its "
                           "own Xen: pin dom0 there with dom0_vcpus_pin (and guests' cpus=), "
                           "or add --qemu")
        return args.func(Lab(args), args)
    except LabError as e:
        print(f"pvsplit-lab: {e}", file=sys.stderr)
        return EXIT_SKIP if isinstance(e, NotRunnable) else EXIT_USAGE
    except KeyboardInterrupt:
        print("pvsplit-lab: interrupted", file=sys.stderr)
        return 130
