# SPDX-License-Identifier: GPL-2.0-or-later
"""pvsplit-lab's command line: build, run, demo, bench (see pvsplit-lab(1))."""
import argparse
import json
import os
import sys
import time

from . import images, overlay, ui
from .machine import HostDom0, QemuMachine, is_xen_dom0
from .monitor import Monitor
from .ui import LabError, progress

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_SKIP = 0, 1, 2, 77
BACKENDS = ("pvsplit", "kernel")
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

    def build_all(self):
        """Boot files and both base images (cached); returns them as a dict."""
        t0 = time.monotonic()
        self.images.prefetch()
        out = {"xen": self.images.xen(), "kernel": self.images.vmlinuz(),
               "dom0": self.images.base("dom0"), "guest": self.images.base("guest")}
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


def prepare_run(lab, args, backend, rundir):
    """Pack this run's dom0 initrd; returns (boot files, initrd path)."""
    boot = lab.build_all()
    build_dest, dirs = overlay.stage_build(lab.require_build(), lab.cache)
    if backend == "pvsplit":
        missing = missing_daemons(build_dest, dirs)
        if missing:
            raise NotRunnable("--backend pvsplit is not yet runnable: the build has no "
                              + ", ".join(f"{d} ({why})" for d, why in missing.items()))
    env = overlay.run_env(backend, dirs, args.fio_secs, args.guest_mem, args.disk_mb)
    if getattr(args, "interactive", False):
        env += "LAB_INTERACTIVE=1\n"
    guest_initrd = os.path.join(rundir, "guest-initrd.cpio")
    overlay.pack_guest_initrd(guest_initrd, boot["guest"], lab.datadir, env, args.guest_script)
    initrd = os.path.join(rundir, "dom0-initrd.cpio")
    overlay.pack_dom0_initrd(initrd, boot["dom0"], lab.datadir, env, args.dom0_script,
                             build_dest, boot["kernel"], guest_initrd)
    os.unlink(guest_initrd)
    return boot, initrd


class NotRunnable(LabError):
    """The run cannot happen yet (reported as SKIP, exit 77)."""


def run_one(lab, args, backend):
    rundir = lab.new_rundir(backend, args.log_dir)
    progress(f"run directory: {rundir}")
    boot, initrd = prepare_run(lab, args, backend, rundir)
    if is_xen_dom0() and not args.qemu:
        progress("this host is a Xen dom0 (control_d): running the checks here, not in QEMU")
        machine = HostDom0(rundir, initrd)
    else:
        machine = QemuMachine(rundir, boot["xen"], boot["kernel"], initrd,
                              interactive=getattr(args, "interactive", False))
        progress(f"booting Xen + dom0 in QEMU (TCG); serial log: {machine.serial_log}")
    with open(os.path.join(rundir, "run.log"), "w") as log:
        result = Monitor(machine, args.boot_timeout, log).run()
    if not args.keep_initrd and os.path.exists(initrd):
        os.unlink(initrd)
    summary = dict(result.to_json(), backend=backend, rundir=rundir,
                   serial_log=machine.serial_log)
    images.write_json(os.path.join(rundir, "summary.json"), summary)
    return summary


def _fmt_secs(v):
    return f"{v:7.1f} s" if isinstance(v, (int, float)) else "      - "


def print_summary(s, out=sys.stdout):
    counts = {st: sum(1 for x in s["steps"] if x["status"] == st) for st in ("pass", "fail", "skip")}
    verdict = "PASSED" if s["passed"] else "FAILED"
    print(f"\npvsplit-lab run --backend {s['backend']}: {verdict} ({counts['pass']} passed, "
          f"{counts['fail']} failed, {counts['skip']} skipped)", file=out)
    if s.get("error"):
        print(f"  error: {s['error']}", file=out)
    for note in s.get("notes", []):
        print(f"  note: {note}", file=out)
    marks = s["marks"]
    for (label, key) in (("boot to dom0 up", "dom0-up"), ("boot to guest ready", "guest.ready"),
                         ("boot to result", "done")):
        print(f"  {label:24}{_fmt_secs(marks.get(key))}", file=out)
    print(f"  {'step':40} {'status':6} {'secs':>8}", file=out)
    for st in s["steps"]:
        detail = f"  {st['detail']}" if st.get("detail") else ""
        print(f"  {st['name']:40} {st['status']:6} {st['secs']!s:>8}{detail}", file=out)
    print_metrics([s], out)
    print(f"  serial log: {s['serial_log']}", file=out)
    print(f"  run log:    {os.path.join(s['rundir'], 'run.log')}", file=out)


def print_metrics(summaries, out=sys.stdout):
    rows = ("seqread_1m", "seqwrite_1m", "randread_4k_qd1", "randread_4k_qd32", "randwrite_4k_qd32")
    have = [s for s in summaries if any(k.startswith("disk.") for k in s["metrics"])]
    if not have:
        return
    print(f"  {'guest fio (MiB/s, IOPS)':24}" + "".join(f"{s['backend']:>24}" for s in have), file=out)
    for r in rows:
        cells = []
        for s in have:
            bw = s["metrics"].get(f"disk.{s['backend']}.{r}.mib_s", {}).get("value")
            iops = s["metrics"].get(f"disk.{s['backend']}.{r}.iops", {}).get("value")
            cells.append(f"{bw} MiB/s {iops} IOPS" if bw is not None else "-")
        print(f"  {r:24}" + "".join(f"{c:>24}" for c in cells), file=out)


def cmd_run(lab, args):
    summaries, skipped = [], []
    for backend in args.backend:
        try:
            summaries.append(run_one(lab, args, backend))
        except NotRunnable as e:
            progress(f"SKIP {backend}: {e}")
            skipped.append({"backend": backend, "skipped": str(e)})
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
            print(f"\npvsplit-lab run --backend {sk['backend']}: SKIP ({sk['skipped']})")
    if not summaries:
        return EXIT_SKIP
    return EXIT_PASS if all(s["passed"] for s in summaries) else EXIT_FAIL


def cmd_build(lab, args):
    boot = lab.build_all()
    for (k, v) in boot.items():
        print(f"{k:8} {v}")
    if lab.builddir:
        dest, dirs = overlay.stage_build(lab.builddir, lab.cache)
        print(f"{'pvsplit':8} {lab.builddir} (installed for dom0 under {dirs['prefix']})")
        missing = missing_daemons(dest, dirs)
        if missing:
            print("note: --backend pvsplit is not yet runnable: the build has no "
                  + ", ".join(f"{d} ({w})" for d, w in missing.items()))
    return EXIT_PASS


def cmd_demo(lab, args):
    args.backend = [args.demo_backend]
    args.json = False
    rc = cmd_run(lab, args)
    return rc


def cmd_bench(lab, args):
    raise LabError("pvsplit-lab bench is not implemented yet (PV vs HVM emulated IDE; issue 5, "
                   "lower priority)")


# ---- arguments ----

def _common(p):
    p.add_argument("--build", default=os.environ.get("PVSPLIT_BUILD"),
                   help="configured pvsplit build directory (default: $PVSPLIT_BUILD, "
                        "else the checkout's build/)")
    p.add_argument("--cache", help="cache directory (default: $PVSPLIT_LAB_CACHE, else "
                                   "$XDG_CACHE_HOME/pvsplit-lab)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _run_opts(p):
    p.add_argument("--guest-script", metavar="FILE", help="script run in the guest as root")
    p.add_argument("--dom0-script", metavar="FILE", help="script run in dom0 after the guest's checks")
    p.add_argument("--log-dir", metavar="DIR", help="where run directories go (default: BUILD/lab-runs)")
    p.add_argument("--fio-secs", type=int, default=5, help="seconds per fio throughput job (5)")
    p.add_argument("--guest-mem", type=int, default=512, help="guest memory in MiB (512)")
    p.add_argument("--disk-mb", type=int, default=256, help="size of each test disk in MiB (256)")
    p.add_argument("--boot-timeout", type=int, default=300,
                   help="seconds until dom0's first record (300)")
    p.add_argument("--qemu", action="store_true", help="use QEMU even on a Xen dom0 host")
    p.add_argument("--keep-initrd", action="store_true", help="keep the run's dom0 initrd")


def _backends(text):
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names or any(b not in BACKENDS for b in names):
        raise argparse.ArgumentTypeError(f"backend must be pvsplit, kernel or both (comma separated)")
    return names


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
    r.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("demo", help="boot, show a guest using the disks and console, summarise")
    _common(d)
    _run_opts(d)
    d.add_argument("--interactive", action="store_true",
                   help="leave you in the guest's console (xl console) before the end")
    d.add_argument("--backend", dest="demo_backend", choices=BACKENDS, default="kernel")
    d.set_defaults(func=cmd_demo)
    be = sub.add_parser("bench", help="PV vs HVM emulated disk throughput (not yet)")
    _common(be)
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=cmd_bench)
    return p


def main(datadir, default_build):
    args = parser().parse_args()
    args.datadir = datadir
    if not args.build:
        args.build = default_build
    ui.quiet = args.quiet
    try:
        return args.func(Lab(args), args)
    except LabError as e:
        print(f"pvsplit-lab: {e}", file=sys.stderr)
        return EXIT_SKIP if isinstance(e, NotRunnable) else EXIT_USAGE
    except KeyboardInterrupt:
        print("pvsplit-lab: interrupted", file=sys.stderr)
        return 130
