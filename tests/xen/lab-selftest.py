#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's own pieces without Xen or QEMU (part of make check, ~1 s):
cpio writer/reader round trip, ELF reading on a host program, the recipes,
the records the shell library writes, the images' shell syntax, and how
the guest's frontend module is found and named."""
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("PVSPLIT_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
LAB = os.path.join(os.path.abspath(SRC), "tools", "lab")
sys.dont_write_bytecode = True
sys.path.insert(0, LAB)

from pvlab import bench, cli, cpio, elf, hostload, images, kmod, overlay  # noqa: E402
from pvlab.ui import LabError  # noqa: E402


class Cpio(unittest.TestCase):
    def test_round_trip_of_concatenated_archives(self):
        buf = io.BytesIO()
        for files in ({"a/b": b"one", "c": b""}, {"a/b": b"two"}):
            w = cpio.CpioWriter(buf)
            w.add_dir("a")
            for (name, data) in files.items():
                w.add_file(name, data, 0o750)
            w.add_symlink("l", "a/b")
            w.close()
        buf.seek(0)
        with tempfile.TemporaryDirectory() as d:
            cpio.extract(buf, d)
            with open(os.path.join(d, "a", "b"), "rb") as f:
                self.assertEqual(f.read(), b"two")  # the later archive wins
            self.assertEqual(os.readlink(os.path.join(d, "l")), "a/b")
            self.assertEqual(os.stat(os.path.join(d, "c")).st_mode & 0o777, 0o750)


class Elf(unittest.TestCase):
    def test_host_bash(self):
        e = elf.Elf("/bin/bash")
        self.assertIn("libc.so.6", e.needed())
        self.assertTrue(e.interpreter().startswith("/lib"))


class Recipes(unittest.TestCase):
    def test_recipes_parse(self):
        for image in ("dom0", "guest"):
            r = images.Recipe(os.path.join(LAB, "images", image, "recipe"))
            names = [p for (p, _o) in r.pkgs]
            self.assertIn("busybox-static", names)
            self.assertTrue(r.modules)


class Shell(unittest.TestCase):
    def test_syntax(self):
        for (root, _d, files) in os.walk(os.path.join(LAB, "images")):
            for f in files:
                if f != "recipe":
                    subprocess.run(["bash", "-n", os.path.join(root, f)], check=True)

    def test_installed_with_the_build(self):
        """Every file of the images and of pvlab is in tools/lab/local.mk (an
        installed pvsplit-lab, and a real host's overlay, would lack it)."""
        with open(os.path.join(LAB, "local.mk")) as f:
            listed = set(f.read().split())
        for sub in ("images", "pvlab"):
            for (root, _d, files) in os.walk(os.path.join(LAB, sub)):
                for f in files:
                    if f.endswith(".pyc"):
                        continue
                    rel = os.path.relpath(os.path.join(root, f), os.path.abspath(SRC))
                    self.assertTrue(rel in listed, f"{rel} is not installed by tools/lab/local.mk")

    def test_records_are_json(self):
        script = (f". {LAB}/images/common/root/lab/lab-lib.sh\n"
                  "lab_emit out src 'a\"b\\c' line \"$(printf 'x\\001y\\tz')\" n 1.5 v 01\n"
                  "lab_metric m 12 MiB/s\n")
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run(["bash", "-c", script], env=dict(os.environ, LAB_EMIT_TO=out.name),
                           check=True)
            recs = [json.loads(line) for line in out]
        self.assertEqual(recs[0]["src"], 'a"b\\c')
        self.assertEqual(recs[0]["line"], "xy z")
        self.assertEqual((recs[0]["n"], recs[0]["v"]), (1.5, "01"))
        self.assertEqual(recs[1]["value"], 12)


    def test_waits_start_no_process(self):
        """lab_wait_for_line and lab_sleep run in the shell, no grep, date or
        sleep process per look (they still work with PATH empty), and see a
        line written in two pieces."""
        with tempfile.TemporaryDirectory() as d:
            ev = os.path.join(d, "events")
            script = (f". {LAB}/images/common/root/lab/lab-lib.sh\n"
                      f": >{ev}\n"
                      f"( lab_sleep 0.3; printf '{{\"ev\":\"mark\",\"na' >>{ev}; lab_sleep 0.3;"
                      f" printf 'me\":\"x\"}}\\n' >>{ev} ) &\n"
                      "PATH=/nonexistent\n"
                      f"lab_wait_for_line {ev} '\"ev\":\"mark\",[^}}]*\"name\":\"x\"' 10 || exit 3\n"
                      f"t=$SECONDS; lab_wait_for_line {ev} '\"name\":\"y\"' 1 && exit 4\n"
                      "[ $((SECONDS - t)) -le 3 ] || exit 5\n")
            r = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)


    def test_step_in_a_trap_handler_ends_with_its_command(self):
        """A step run from a signal's trap (host_abort's cleanup) returns the
        command's status as soon as it ends: bash reaps no child there, so
        the wait must not take a zombie for a running command."""
        script = (f". {LAB}/images/common/root/lab/lab-lib.sh\n"
                  "work() { sleep 30; }\n"
                  "cleanup() { return 3; }\n"
                  "on_term() { trap '' TERM; kill -KILL -- -$LAB_STEP_PID; t=$SECONDS;"
                  " lab_with_timeout 8 cleanup; echo \"inner $? $((SECONDS - t))\"; exit 0; }\n"
                  "trap on_term TERM\n"
                  "lab_with_timeout 60 work\n")
        p = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        rc, secs = out.split()[1:3]
        self.assertEqual(rc, "3", out)
        self.assertLessEqual(int(secs), 3, out)


class HostLoad(unittest.TestCase):
    STAT = ("cpu  {0} 0 {1} {2} 5 1 1 {3} 0 0\n"
            "cpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\nintr 1 2 3\n")

    def sample(self, d, user, system, idle, steal, qemu=None):
        """hostload.sample() of a /proc in D with these counters (and, with
        QEMU, a process 42 whose utime + stime is QEMU)."""
        with open(os.path.join(d, "stat"), "w") as f:
            f.write(self.STAT.format(user, system, idle, steal))
        if qemu is None:
            return hostload.sample(None, root=d)
        os.makedirs(os.path.join(d, "42"), exist_ok=True)
        with open(os.path.join(d, "42", "stat"), "w") as f:
            # a name with spaces and parentheses; utime, stime are fields 14, 15
            f.write(f"42 (qemu (x) y) S 1 42 42 0 -1 4194560 1 0 0 0 {qemu - 7} 7 0 0 20 0 3 0\n")
        return hostload.sample(42, root=d)

    def test_the_labs_share_others_and_stolen(self):
        """Over a span of 200 ticks on 2 CPUs (100 each): QEMU used 150
        ticks (1.5 CPUs), the host was busy 170 (so others 10%), 20 were
        stolen (10%)."""
        with tempfile.TemporaryDirectory() as d:
            a = self.sample(d, 100, 50, 1000, 3, qemu=500)
            self.assertEqual(a.ncpu, 2)
            b = self.sample(d, 250, 70, 1010, 23, qemu=650)
            self.assertEqual(hostload.span(a, b), {"host_qemu_cpus": (1.5, "CPUs"),
                                                   "host_others_pct": (10, "%"),
                                                   "host_steal_pct": (10, "%")})
            # without the process (gone, or none): the host's busy share only
            a.proc_ticks = None
            self.assertEqual(hostload.span(a, b), {"host_busy_pct": (85, "%"),
                                                   "host_steal_pct": (10, "%")})
            self.assertEqual(hostload.span(b, b), {})  # no time passed

    def test_a_process_that_is_gone(self):
        with tempfile.TemporaryDirectory() as d:
            self.sample(d, 1, 1, 1, 0)
            self.assertIsNone(hostload.sample(7, root=d).proc_ticks)
            with open(os.path.join(d, "stat"), "w") as f:
                f.write("intr 1\n")
            self.assertRaises(ValueError, hostload.sample, None, d)

    def test_dom0_span(self):
        """dom0's counters at a span's edges (user nice system idle iowait irq
        softirq steal): 100 ticks on one vCPU, 60 busy, 10 stolen; 2 vCPUs
        double the CPUs; per_io divides by IOPS; rounded() as shown."""
        a = [100, 0, 50, 1000, 0, 5, 5, 3]
        b = [140, 0, 60, 1030, 0, 10, 10, 13]
        self.assertEqual(hostload.dom0_span(a, b, 1), {"dom0_cpus": (0.6, "CPUs"),
                                                       "dom0_steal_pct": (10, "%")})
        self.assertEqual(hostload.dom0_span(a, b, 2)["dom0_cpus"], (1.2, "CPUs"))
        self.assertEqual(hostload.dom0_span(a, a, 1), {})  # no time passed
        self.assertEqual(hostload.dom0_span(b, a, 1), {})  # counters went back
        self.assertEqual(hostload.dom0_span(a, b[:5], 1), {})  # a short line
        # the backend's threads: 30 ticks of 100
        self.assertEqual(hostload.dom0_span(a, b, 1, (70, 100))["dom0_backend_cpus"], (0.3, "CPUs"))
        for bad in ((100, 70), (None, 5), None):
            self.assertNotIn("dom0_backend_cpus", hostload.dom0_span(a, b, 1, bad))
        # with the uptime: 2 s at 100 Hz on 1 vCPU = 200 ticks, 30 idle and
        # 10 stolen, so 160 busy (the sampled counters said 60)
        got = hostload.dom0_span(a, b, 1, (0, 40), (10.5, 12.5), 100)
        self.assertEqual(got, {"dom0_cpus": (0.8, "CPUs"), "dom0_steal_pct": (5, "%"),
                               "dom0_backend_cpus": (0.2, "CPUs")})
        # 2 vCPUs, 1 s at 250 Hz: 500 ticks, 40 not busy
        self.assertEqual(hostload.dom0_span(a, b, 2, None, (1, 2), 250)["dom0_cpus"][0], 1.84)
        # an uptime that went back: the sampled counters
        self.assertEqual(hostload.dom0_span(a, b, 1, None, (12.5, 10.5))["dom0_cpus"], (0.6, "CPUs"))
        self.assertEqual(hostload.rounded({"dom0_cpus": (0.6666, "CPUs"), "x": (12.6, "%")}),
                         {"dom0_cpus": (0.67, "CPUs"), "x": (13, "%")})
        self.assertEqual(hostload.per_io(0.6, 2000), (300, "us"))
        self.assertIsNone(hostload.per_io(0.6, 0))
        self.assertIsNone(hostload.per_io(None, 100))

    def test_monitor_turns_relayed_dom0_counters_into_metrics(self):
        """A guest span relayed with dom0's counters at both edges, then the
        job's IOPS: dom0_cpus, dom0_steal_pct, then dom0_cpu_us_per_io; a span
        without them (an older image) or an edge without a begin adds none."""
        from pvlab.monitor import Monitor
        mon = Monitor(object(), 30, io.StringIO())
        rec = lambda **k: json.dumps(dict(k, **{"from": "guest"}))

        def job(name, begin, end, iops):
            """A fio job NAME relayed with dom0's counters BEGIN and END
            (dicts of a record's dom0_* fields, or None: not relayed), then
            its IOPS: the job's dom0_* metrics."""
            for (edge, extra) in (("begin", begin), ("end", end)):
                if extra is not None:
                    mon._record(rec(ev="span", name=name, edge=edge, **extra))
            mon._record(rec(ev="metric", name=f"{name}.iops", value=iops, unit="IOPS"))
            return {k[len(name) + 1:]: v["value"] for (k, v) in mon.result.metrics.items()
                    if k.startswith(f"{name}.dom0_")}

        self.assertEqual(job("disk.p.qd1",
                             dict(dom0_cpu=[100, 0, 50, 1000, 0, 5, 5, 3], dom0_ncpu=1,
                                  dom0_backend_ticks=500),
                             dict(dom0_cpu=[140, 0, 60, 1030, 0, 10, 10, 13], dom0_ncpu=1,
                                  dom0_backend_ticks=520), 2000),
                         {"dom0_cpus": 0.6, "dom0_steal_pct": 10, "dom0_cpu_us_per_io": 300,
                          "dom0_backend_cpus": 0.2, "dom0_backend_us_per_io": 100})
        # spans without the counters (an older image), an end without a begin
        self.assertEqual(job("disk.p.old", {}, {}, 2000), {})
        self.assertEqual(job("disk.p.lone", None,
                             dict(dom0_cpu=[140, 0, 60, 1030, 0, 10, 10, 13], dom0_ncpu=1), 2000), {})
        # per I/O from the figures before rounding: 3 ticks of 600 (0.005
        # CPUs, shown as 0.01) over 2400 IOPS is 2 us, not 4; with the
        # uptime, 6 s at 100 Hz less 300 idle and stolen: 0.5 CPUs
        self.assertEqual(job("disk.p.qd32",
                             dict(dom0_cpu=[0] * 8, dom0_ncpu=1, dom0_hz=100, dom0_up=100.0,
                                  dom0_backend_ticks=0),
                             dict(dom0_cpu=[2, 0, 1, 290, 0, 0, 0, 10], dom0_ncpu=1, dom0_hz=100,
                                  dom0_up=106.0, dom0_backend_ticks=3), 2400),
                         {"dom0_cpus": 0.5, "dom0_steal_pct": 2, "dom0_cpu_us_per_io": 208,
                          "dom0_backend_cpus": 0.01, "dom0_backend_us_per_io": 2})

    def test_dom0_relay_adds_its_counters_to_span_edges(self):
        """dom0-main.sh's with_dom0_cpu: a span record gets dom0's first
        /proc/stat line (steal 0 when the kernel has no such field), the
        uptime, the vCPU count, the clock's ticks per second and the
        backend's ticks, still one JSON object; any other record, or a stat
        file without numbers, passes unchanged."""
        lab = os.path.join(LAB, "images", "dom0", "root", "lab", "dom0-main.sh")
        span = '{"ev":"span","t":1.5,"name":"disk.p.qd1","edge":"end"}'
        with tempfile.TemporaryDirectory() as d:
            for (name, text) in (("full", "cpu  7 1 2 90 3 4 5 6 0 0\ncpu0 7 1 2 90 3 4 5 6 0 0\n"),
                                 ("nosteal", "cpu  7 1 2 90 3 4 5\n"),
                                 ("junk", "cpu  7 x 2 90 3 4 5 6\n")):
                os.makedirs(os.path.join(d, name))  # a /proc of its own
                with open(os.path.join(d, name, "stat"), "w") as f:
                    f.write(text)
                with open(os.path.join(d, name, "uptime"), "w") as f:
                    f.write("123.45 200.00\n")
            got = subprocess.run(
                ["bash", "-c", f"eval \"$(sed -n '/^with_dom0_cpu() {{/,/^}}/p;"
                 f"/^backend_ticks() {{/,/^}}/p' {lab})\"; "
                 f"for f in full nosteal junk; do with_dom0_cpu '{span}' 2 250 {d}/$f; "
                 "echo \"$RELAY_REC\"; done; "
                 f"with_dom0_cpu '{{\"ev\":\"metric\"}}' 2 250 {d}/full; echo \"$RELAY_REC\""],
                capture_output=True, text=True, check=True).stdout.splitlines()
        recs = [json.loads(x) for x in got]
        self.assertEqual(recs[0]["dom0_cpu"], [7, 1, 2, 90, 3, 4, 5, 6])
        self.assertEqual(recs[0]["dom0_backend_ticks"], 0)
        self.assertEqual(recs[0]["dom0_ncpu"], 2)
        self.assertEqual(recs[0]["dom0_hz"], 250)
        self.assertEqual(recs[0]["dom0_up"], 123.45)
        self.assertEqual(recs[0]["name"], "disk.p.qd1")
        self.assertEqual(recs[1]["dom0_cpu"], [7, 1, 2, 90, 3, 4, 5, 0])
        self.assertEqual(got[2], span)
        self.assertEqual(recs[3], {"ev": "metric"})

    def test_backend_ticks_sum_the_backends_threads(self):
        """dom0-main.sh's backend_ticks: utime + stime of pvsplit-blkback
        processes and xen-blkback's threads (1.xvda-0, or blkback.* in older
        kernels), nothing else, names
        with spaces and parentheses parsed from the last ')'."""
        lab = os.path.join(LAB, "images", "dom0", "root", "lab", "dom0-main.sh")
        procs = {"10": "pvsplit-blkback", "11": "1.xvda-0", "12": "blkback.1.xvdb",
                 "13": "loop0", "14": "pvsplit-consoled", "15": "x) pvsplit-blkback (y",
                 "16": "kworker/0:1-events"}
        with tempfile.TemporaryDirectory() as d:
            for (i, (pid, comm)) in enumerate(sorted(procs.items())):
                os.makedirs(os.path.join(d, pid))
                with open(os.path.join(d, pid, "stat"), "w") as f:
                    f.write(f"{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 {100 * (i + 1)} {i + 1} 0 0\n")
            got = subprocess.run(
                ["bash", "-c", f"eval \"$(sed -n '/^backend_ticks() {{/,/^}}/p' {lab})\"; "
                 f"backend_ticks {d}; echo $BACKEND_TICKS"],
                capture_output=True, text=True, check=True).stdout
        self.assertEqual(got, f"{101 + 202 + 303}\n")

    def test_perf_span_samples_each_job(self):
        """dom0-main.sh's perf_span (--perf): a span's begin starts perf
        record on every CPU into LAB_DIR/perf/NAME.data, its end stops that
        perf with SIGINT, sent again until perf has its handler, and waits
        for it; other records, a name with odd characters and an end without
        a begin start nothing."""
        lab = os.path.join(LAB, "images", "dom0", "root", "lab", "dom0-main.sh")
        with tempfile.TemporaryDirectory() as d:
            fake = os.path.join(d, "bin", "perf")
            os.makedirs(os.path.dirname(fake))
            with open(fake, "w") as f:
                # records its arguments, writes -o's file on SIGINT, exits (not
                # a shell script: bash starts background jobs with SIGINT
                # ignored, and a shell cannot trap what it was started ignoring)
                # records its arguments, then (as a perf slow to start) sets
                # its handler only after 0.5 s: a SIGINT before then is lost
                f.write(f"#!{sys.executable}\n"
                        "import os, signal, sys, time\n"
                        "log = os.path.join(os.environ['LAB_DIR'], 'calls')\n"
                        "open(log, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                        "def stop(*_):\n"
                        "    open(sys.argv[-1], 'w').write('data\\n')\n"
                        "    open(log, 'a').write('int\\n')\n"
                        "    sys.exit(0)\n"
                        "time.sleep(0.5)\n"
                        "signal.signal(signal.SIGINT, stop)\n"
                        "while True:\n"
                        "    time.sleep(0.05)\n")
            os.chmod(fake, 0o755)
            span = lambda name, edge: json.dumps({"ev": "span", "name": name, "edge": edge})
            script = (f"eval \"$(sed -n '/^declare -A PERF_PIDS/p;/^perf_span() {{/,/^}}/p' {lab})\"; "
                      f"perf_span '{span('disk.p.qd1', 'begin')}'; "
                      # a job lasts seconds: perf is running (not yet
                      # handling SIGINT) when its end comes
                      "for i in {1..100}; do [ -s \"$LAB_DIR/calls\" ] && break; sleep 0.05; done; "
                      f"perf_span '{span('disk.p.qd1', 'end')}'; "
                      f"perf_span '{json.dumps({'ev': 'metric', 'name': 'x'})}'; "
                      f"perf_span '{span('a/b', 'begin')}'; "
                      f"perf_span '{span('disk.p.lone', 'end')}'; "
                      "echo \"left: ${#PERF_PIDS[@]}\"")
            got = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                                 env=dict(os.environ, LAB_DIR=d,
                                          PATH=os.path.dirname(fake) + ":" + os.environ["PATH"]))
            self.assertEqual(got.stdout, "left: 0\n", got.stderr)
            with open(os.path.join(d, "calls")) as f:
                calls = f.read().splitlines()
            self.assertEqual(calls, [f"record -e cpu-clock -F 1000 -a -q -o {d}/perf/disk.p.qd1.data",
                                     "int"])
            with open(os.path.join(d, "perf", "disk.p.qd1.data")) as f:
                self.assertEqual(f.read(), "data\n")

    def test_perf_option(self):
        """--perf is an option of run and bench (off by default)."""
        for cmd in ("run", "bench"):
            self.assertTrue(cli.parser().parse_args([cmd, "--perf"]).perf)
            self.assertFalse(cli.parser().parse_args([cmd]).perf)

    def test_run_summary_names_the_hosts_load(self):
        out = io.StringIO()
        cli.print_summary({"backend": "pvsplit", "passed": True, "steps": [], "marks": {},
                           "metrics": {"run.host_qemu_cpus": {"value": 1.8},
                                       "run.host_others_pct": {"value": 4},
                                       "run.host_steal_pct": {"value": 0}},
                           "serial_log": "s", "rundir": "r"}, out)
        self.assertIn("host over the run       QEMU 1.8 CPUs, others 4%, stolen 0%", out.getvalue())


class HostDom0(unittest.TestCase):
    """A real dom0 host's plumbing: the overlay unpacked into a scratch root,
    dom0-main.sh run there with LAB_MODE=host and records in a file."""

    @staticmethod
    def overlay(d, main, files=None):
        """An overlay in D: lab/dom0-main.sh = MAIN, FILES {path: (data, mode)}."""
        ovl = os.path.join(d, "overlay.cpio")
        files = dict(files or {}, **{"lab/dom0-main.sh": (main.encode(), 0o755)})
        with open(ovl, "wb") as f:
            w = cpio.CpioWriter(f)
            parents = set()
            for path in files:
                parts = path.split("/")[:-1]
                parents.update("/".join(parts[:i + 1]) for i in range(len(parts)))
            for name in sorted(parents):
                w.add_dir(name)
            for (path, (data, mode)) in files.items():
                w.add_file(path, data, mode)
            w.close()
        return ovl

    def test_overlay_runs_with_host_settings(self):
        from pvlab.machine import HostDom0
        from pvlab.monitor import Monitor
        main = ("set -u\n. \"$LAB_ROOT/lab-lib.sh\"\n"
                "[ \"$LAB_MODE\" = host ] && [ \"$LAB_ROOT\" = \"$LAB_DESTDIR/lab\" ] || exit 3\n"
                "lab_mark dom0-up\n"
                "lab_step payload 10 test -x \"$LAB_DESTDIR/usr/local/bin/tool\"\n"
                "echo said-on-stdout\n"
                "lab_emit span name work edge begin\n"
                "sleep 0.6\n"
                "lab_emit span name work edge end\n"
                "lab_emit done status pass failed 0\n")
        with open(os.path.join(LAB, "images", "common", "root", "lab", "lab-lib.sh"), "rb") as f:
            lib = f.read()
        with tempfile.TemporaryDirectory() as d:
            ovl = self.overlay(d, main, {"lab/lab-lib.sh": (lib, 0o644),
                                         "usr/local/bin/tool": (b"#!/bin/sh\n", 0o755)})
            m = HostDom0(d, ovl)
            with open(os.path.join(d, "run.log"), "w") as log:
                result = Monitor(m, 30, log).run()
            self.assertTrue(result.passed(), result.to_json())
            self.assertEqual([s["name"] for s in result.steps], ["payload"])
            self.assertIn("dom0-up", result.marks)
            # the host's load over a span and over the whole run (no QEMU here)
            for span in ("work", "run"):
                for k in ("host_busy_pct", "host_steal_pct"):
                    self.assertIn(f"{span}.{k}", result.metrics)
                self.assertNotIn(f"{span}.host_qemu_cpus", result.metrics)
            with open(m.serial_log) as f:
                self.assertIn("said-on-stdout", f.read())
            self.assertFalse(os.path.exists(m.root), "the scratch root is left behind")

    def test_kill_lets_the_script_clean_up_then_ends_its_session(self):
        """A run stopped on a real host (a timeout, Ctrl-C): SIGTERM first, so
        that dom0-main.sh cleans up; then every process of its session, also
        those in process groups of their own (as lab_step's are)."""
        from pvlab.machine import HostDom0
        # the trap before bg.pid: the test sends SIGTERM as soon as bg.pid is there
        main = ("trap 'echo cleaned >\"$LAB_DESTDIR/../cleaned\"; exit 1' TERM\n"
                "set -m\nsleep 300 &\necho $! >\"$LAB_DESTDIR/../bg.pid\"\nset +m\n"
                "while :; do sleep 0.1; done\n")
        with tempfile.TemporaryDirectory() as d:
            m = HostDom0(d, self.overlay(d, main))
            os.rmdir(m.root)
            m.root = tempfile.mkdtemp(dir=d)  # LAB_DESTDIR/.. is then d
            m.start()
            bg = os.path.join(d, "bg.pid")
            for _ in range(100):
                if os.path.exists(bg) and os.path.getsize(bg):
                    break
                time.sleep(0.05)
            with open(bg) as f:
                pid = int(f.read())
            self.assertNotEqual(os.getpgid(pid), m.proc.pid)  # killpg would miss it
            m.kill(cleanup_wait=10)
            self.assertTrue(os.path.exists(os.path.join(d, "cleaned")), "no SIGTERM first")
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                self.fail("a process of the run's session survived")
            self.assertFalse(os.path.exists(m.root))


class Frontend(unittest.TestCase):
    def test_module_sources_from_the_build(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "Makefile"), "w") as f:
                f.write(f"srcdir = x\nabs_top_srcdir = {os.path.abspath(SRC)}\n")
            src = kmod.source_dir(d)
            self.assertTrue(os.path.isfile(os.path.join(src, "blkfront", "main.c")))
            os.unlink(os.path.join(d, "Makefile"))
            with self.assertRaisesRegex(LabError, "not a configured pvsplit build"):
                kmod.source_dir(d)

    def test_missing_headers_name_the_package(self):
        old = os.environ.pop("PVSPLIT_LAB_KDIR", None)
        try:
            with self.assertRaisesRegex(LabError, "apt-get install linux-headers-0.0.0-lab-amd64"):
                kmod.kernel_headers("0.0.0-lab-amd64")
        finally:
            if old is not None:
                os.environ["PVSPLIT_LAB_KDIR"] = old

    def test_metrics_and_run_env_name_the_frontend(self):
        self.assertEqual(overlay.disk_label("kernel", "stock"), "kernel")
        self.assertEqual(overlay.disk_label("pvsplit", "pvsplit"), "pvsplit+pvsplit-blkfront")
        env = overlay.run_env("kernel", {}, 5, 512, 256, 300, "pvsplit")
        self.assertIn("LAB_FRONTEND=pvsplit\n", env)
        self.assertIn("LAB_DISK_LABEL=kernel+pvsplit-blkfront\n", env)



class PinDom0(unittest.TestCase):
    def test_xen_pins_dom0_and_guests_keep_off_its_cpu(self):
        from pvlab.machine import xen_args
        self.assertNotIn("dom0_vcpus_pin", xen_args().split())
        self.assertIn("dom0_vcpus_pin", xen_args(pin_dom0=True).split())
        self.assertIn("dom0_max_vcpus=1", xen_args(pin_dom0=True).split())
        # the guests' side: dom0-main.sh's cpus= line, from LAB_GUEST_CPUS
        lab = os.path.join(LAB, "images", "dom0", "root", "lab", "dom0-main.sh")
        fn = subprocess.run(["bash", "-c", f"eval \"$(sed -n '/^guest_cpus_cfg() {{/,/^}}/p' {lab})\"; "
                             "guest_cpus_cfg; echo .; LAB_GUEST_CPUS=all,^0 guest_cpus_cfg"],
                            capture_output=True, text=True, check=True).stdout
        self.assertEqual(fn, '.\ncpus = "all,^0"\n')

    def test_refused_on_a_xen_host_unless_in_qemu(self):
        """A real Xen host has its own Xen command line: --pin-dom0 is refused
        there before anything runs, and goes on with --qemu."""
        import contextlib
        from unittest import mock

        def main(*argv):
            err = io.StringIO()
            with mock.patch.object(cli, "is_xen_dom0", return_value=True), \
                 mock.patch.object(cli, "Lab", side_effect=LabError("reached the run")), \
                 mock.patch.object(sys, "argv", ["pvsplit-lab", *argv]), \
                 contextlib.redirect_stderr(err):
                return cli.main(LAB, "/nonexistent"), err.getvalue()

        for sub in ("run", "bench", "demo"):
            rc, err = main(sub, "--pin-dom0")
            self.assertEqual(rc, cli.EXIT_USAGE, sub)
            self.assertIn("--pin-dom0 sets the lab's own Xen command line", err)
            self.assertNotIn("reached the run", err)
            rc, err = main(sub, "--pin-dom0", "--qemu")
            self.assertIn("reached the run", err, sub)
            rc, err = main(sub)  # the host's own run: not refused
            self.assertIn("reached the run", err, sub)


class Bench(unittest.TestCase):
    @staticmethod
    def run_of(backend, mib, iops):
        return {"backend": backend, "metrics": {
            f"disk.{backend}.seqread_1m.mib_s": {"value": mib},
            f"disk.{backend}.seqread_1m.iops": {"value": iops}}}

    @classmethod
    def run_with(cls, backend, mib, **extra):
        """run_of(BACKEND, MIB, MIB) with seqread_1m's EXTRA metrics (none: as run_of)."""
        r = cls.run_of(backend, mib, int(mib))
        for (k, v) in extra.items():
            r["metrics"][f"disk.{backend}.seqread_1m.{k}"] = {"value": v}
        return r

    def test_rounds_report_the_median(self):
        runs = [self.run_of("pvsplit", 100.0, 100), self.run_of("kernel", 50.0, 50),
                self.run_of("pvsplit", 300.0, 300), self.run_of("kernel", 70.0, 70),
                self.run_of("pvsplit", 200.0, 200), self.run_of("kernel", 10.0, 10),
                {"backend": "kernel", "metrics": {}},  # a run without figures adds nothing
                dict(self.run_of("kernel", 999.0, 999), passed=False)]  # nor does a failed one
        figs = bench.figures(runs)
        self.assertEqual(figs["pvsplit"]["seqread_1m"], {"mib_s": 200.0, "iops": 200})
        self.assertEqual(figs["kernel"]["seqread_1m"], {"mib_s": 50.0, "iops": 50})
        self.assertEqual(bench.rounds(runs)["pvsplit"]["seqread_1m"]["mib_s"], [100.0, 300.0, 200.0])
        self.assertEqual(bench.flat(figs)["disk.kernel.seqread_1m.mib_s"], 50.0)
        out = io.StringIO()
        bench.table(figs, out)
        self.assertIn("seqread_1m 4.00x", out.getvalue())

    def keys_table_case(self, values, title, cell):
        """Three pvsplit rounds with extra metrics VALUES (one dict per round)
        and a kernel run without them: the medians, the flat keys, the table
        (TITLE, the backends, seqread_1m's CELL, "-" for the kernel), no
        table without them; returns the runs."""
        runs = [self.run_with("pvsplit", mib, **v) for (mib, v) in zip((100.0, 90.0, 95.0), values)]
        runs.append(self.run_with("kernel", 50.0))
        figs = bench.figures(runs)
        want = {k: statistics.median(v[k] for v in values) for k in values[0]}
        self.assertEqual(figs["pvsplit"]["seqread_1m"], dict(mib_s=95.0, iops=95, **want))
        self.assertEqual(figs["kernel"]["seqread_1m"], {"mib_s": 50.0, "iops": 50})
        for (k, v) in want.items():
            self.assertEqual(bench.flat(figs)[f"disk.pvsplit.seqread_1m.{k}"], v)
        out = io.StringIO()
        bench.table(figs, out)
        self.assertRegex(out.getvalue(), re.escape(title) + r"\n +pvsplit +kernel\n")
        self.assertRegex(out.getvalue(), r"\nseqread_1m +" + re.escape(cell) + r" +-\n")
        out = io.StringIO()
        bench.table(bench.figures(runs[3:]), out)  # no run has them: no such table
        self.assertNotIn(title, out.getvalue())
        return runs

    def test_latency_percentiles_where_the_runs_have_them(self):
        self.keys_table_case([{"clat_p50_us": 300, "clat_p99_us": 900},
                              {"clat_p50_us": 280, "clat_p99_us": 5000},
                              {"clat_p50_us": 260, "clat_p99_us": 700}],
                             "fio's completion latency in the guest, us: p50/p99", "280/900")

    def test_run_summary_shows_the_median_latency_in_aligned_columns(self):
        s = self.run_of("pvsplit", 6.0, 1532)
        s["metrics"]["disk.pvsplit.seqread_1m.clat_p50_us"] = {"value": 269}
        k = self.run_of("kernel", 8.6, 2208)
        out = io.StringIO()
        cli.print_metrics([s, k], out)
        lines = out.getvalue().splitlines()
        self.assertRegex(lines[1], r"^  seqread_1m +6.0 MiB/s 1532 IOPS, p50 269 us +8.6 MiB/s 2208 IOPS$")
        self.assertEqual(len({len(line) for line in lines}), 1)  # every line as wide

    def test_guest_reads_latency_percentiles_from_fio_terse_output(self):
        """guest-main.sh's terse_pct on a terse v3 line: fields 18-37 hold the
        read completion latency percentiles, 59-78 the write ones."""
        pct = ["1.000000%=10", "10.000000%=98", "50.000000%=114", "90.000000%=255",
               "99.000000%=1663", "99.900000%=6259"] + ["0%=0"] * 14
        fields = ["3", "fio-3.33", "j", "0", "0"] + ["1"] * 12 + pct + ["2"] * 21 + \
            [p.replace("=", "=9") if p != "0%=0" else p for p in pct]
        self.assertEqual(fields[17], pct[0])
        self.assertEqual(fields[58], "1.000000%=910")
        lab = os.path.join(LAB, "images", "guest", "root", "lab", "guest-main.sh")
        line = ";".join(fields)
        got = subprocess.run(["bash", "-c", f"eval \"$(sed -n '/^terse_pct() {{/,/^}}/p' {lab})\"; "
                              f"for a in '18 50' '18 99' '59 50' '59 99' '18 42'; do "
                              f"echo \"[$(terse_pct '{line}' $a)]\"; done"],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(got, "[114]\n[1663]\n[9114]\n[91663]\n[]\n")

    def test_guest_cpu_from_proc_stat(self):
        """guest-main.sh's cpu_ticks sums /proc/stat's cpu line into busy, idle
        and steal ticks; guest_cpu turns two of them and fio's IOPS into the
        idle share, the busy microseconds per I/O and the stolen share
        (nothing when no time passed or no I/O was done)."""
        lab = os.path.join(LAB, "images", "guest", "root", "lab", "guest-main.sh")
        with tempfile.NamedTemporaryFile("w", suffix=".stat") as stat:
            stat.write("cpu  10 1 20 300 4 5 6 7 0 0\ncpu0 10 1 20 300 4 5 6 7 0 0\n")
            stat.flush()
            got = subprocess.run(
                ["bash", "-c", f"eval \"$(sed -n '/^cpu_ticks() {{/,/^}}/p;/^guest_cpu() {{/,/^}}/p' {lab})\"; "
                 f"cpu_ticks {stat.name}; "
                 "guest_cpu '100 50 10' '400 150 10' 500 1; "
                 "guest_cpu '0 0 0' '300 100 100' 1000 2; "
                 "echo \"[$(guest_cpu '5 5 5' '5 5 5' 100 1)][$(guest_cpu '0 0 0' '9 1 0' 0 1)]\""],
                capture_output=True, text=True, check=True).stdout
        self.assertEqual(got, "42 304 7\n25 1500 0\n20 1200 20\n[][]\n")

    def test_host_load_where_the_runs_have_it(self):
        self.keys_table_case([{"host_qemu_cpus": 1.9, "host_others_pct": 3, "host_steal_pct": 0},
                              {"host_qemu_cpus": 2.0, "host_others_pct": 30, "host_steal_pct": 5},
                              {"host_qemu_cpus": 1.2, "host_others_pct": 1, "host_steal_pct": 1}],
                             "the host under the lab: QEMU's CPUs / others' share / stolen", "1.9/3%/1%")

    def test_dom0_load_where_the_runs_have_it(self):
        self.keys_table_case([{"dom0_cpus": 0.9, "dom0_steal_pct": 3, "dom0_cpu_us_per_io": 310},
                              {"dom0_cpus": 1.0, "dom0_steal_pct": 9, "dom0_cpu_us_per_io": 400},
                              {"dom0_cpus": 0.5, "dom0_steal_pct": 1, "dom0_cpu_us_per_io": 200}],
                             "dom0 over each fio job: busy CPUs / stolen / busy us per I/O",
                             "0.9/3%/310")

    def test_backend_cpu_where_the_runs_have_it(self):
        self.keys_table_case([{"dom0_backend_us_per_io": 90}, {"dom0_backend_us_per_io": 80},
                              {"dom0_backend_us_per_io": 70}],
                             "the backend's own threads in dom0: busy us per I/O (not loop workers, writeback)",
                             "80")

    def test_steal_where_the_runs_have_it(self):
        self.keys_table_case([{"guest_steal_pct": 0}, {"guest_steal_pct": 31},
                              {"guest_steal_pct": 2}],
                             "guest vCPU time stolen (dom0's vCPU had its CPU)", "2%")

    def test_irqs_per_io_where_the_runs_have_it(self):
        self.keys_table_case([{"guest_irqs_per_io": 0.93}, {"guest_irqs_per_io": 2.0},
                              {"guest_irqs_per_io": 1.0}],
                             "disk interrupts in the guest per I/O", "1.0")

    def test_blkif_irqs_counts_the_disk_events_of_every_cpu(self):
        """guest-main.sh's blkif_irqs sums every blkif line's per-CPU counts
        (not the irq number, not other devices); irqs_per_io divides a
        difference by fio's I/Os (IOPS x runtime), nothing without I/O."""
        lab = os.path.join(LAB, "images", "guest", "root", "lab", "guest-main.sh")
        with tempfile.NamedTemporaryFile("w", suffix=".irq") as f:
            f.write("           CPU0       CPU1\n"
                    "  7:        100         20  xen-dyn-lateeoi    -event     blkif\n"
                    "  8:          3          0  xen-dyn-lateeoi    -event     blkif-q1\n"
                    "  9:       5000       5000  xen-dyn    -event     xenbus\n"
                    "NMI:          0          0   Non-maskable interrupts\n")
            f.flush()
            got = subprocess.run(
                ["bash", "-c", f"eval \"$(sed -n '/^blkif_irqs() {{/,/^}}/p;/^irqs_per_io() {{/,/^}}/p' {lab})\"; "
                 f"blkif_irqs {f.name}; "
                 "irqs_per_io 100 2100 400 5000; "
                 "echo \"[$(irqs_per_io 5 5 0 5000)]\""],
                capture_output=True, text=True, check=True).stdout
        self.assertEqual(got, "123\n1.00\n[]\n")

    def test_guest_cpu_where_the_runs_have_it(self):
        runs = self.keys_table_case([{"guest_idle_pct": 26, "guest_cpu_us_per_io": 550},
                                     {"guest_idle_pct": 23, "guest_cpu_us_per_io": 630},
                                     {"guest_idle_pct": 20, "guest_cpu_us_per_io": 600}],
                                    "guest CPU over each fio job: idle share / busy us per I/O",
                                    "23%/600")
        figs = bench.figures(runs)
        figs["pvsplit-a-long-variant-name"] = figs.pop("kernel")  # columns widen for long names
        out = io.StringIO()
        bench.table(figs, out)
        self.assertRegex(out.getvalue(), r"\n +pvsplit +pvsplit-a-long-variant-name\n")
        self.assertRegex(out.getvalue(), r"\nseqread_1m +23%/600 +-\n")
        out = io.StringIO()
        cli.print_metrics([runs[0], runs[3]], out)
        self.assertIn("100.0 MiB/s 100 IOPS, idle 26%", out.getvalue())

    def test_variant_is_named_by_its_label(self):
        run = dict(self.run_of("pvsplit-file", 80.0, 80), backend="pvsplit", label="pvsplit-file")
        figs = bench.figures([run, self.run_of("kernel", 40.0, 40)])
        self.assertEqual(figs["pvsplit-file"]["seqread_1m"]["mib_s"], 80.0)
        self.assertNotIn("pvsplit", figs)
        out = io.StringIO()
        bench.table(figs, out)
        self.assertIn("pvsplit-file / kernel: seqread_1m 2.00x", out.getvalue())
        env = overlay.run_env("pvsplit", {}, 5, 512, 256, 300, "stock", "pvsplit-file")
        self.assertIn("LAB_DISK_LABEL=pvsplit-file\n", env)
        self.assertIn("LAB_BACKEND=pvsplit\n", env)

    def test_variants_and_blkback_options(self):
        self.assertEqual(cli.variant_of("kernel"), ("kernel", None, ""))
        self.assertEqual(cli.variant_of("pvsplit-file"), ("pvsplit", "file", ""))
        self.assertEqual(cli.variant_of("pvsplit-poll", "-v"),
                         ("pvsplit", None, "--poll-us 2000 -v"))
        self.assertEqual(cli.variant_of("pvsplit", "--poll-us 50"), ("pvsplit", None, "--poll-us 50"))
        self.assertEqual(cli.variant_of("pvsplit-nopoll"), ("pvsplit", None, "--poll-us 0"))
        self.assertEqual(cli.variant_of("pvsplit-nopoll-epoll"),
                         ("pvsplit", None, "--poll-us 0 --wait epoll"))
        self.assertEqual(cli.variant_of("pvsplit-map"),
                         ("pvsplit", None, "--no-persistent --map-min 1"))
        self.assertEqual(cli.variant_of("pvsplit-copy"), ("pvsplit", None, "--no-persistent"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
