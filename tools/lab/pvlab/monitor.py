# SPDX-License-Identifier: GPL-2.0-or-later
"""Follow one run: read the records, show progress, enforce every timeout.

Records are JSON lines (see images/common/root/lab/lab-lib.sh).  A dom0 step
announces its own timeout in its "begin" record; the host gives it that
much plus GRACE before it kills the machine and names the step.  Until dom0's
first record the boot timeout applies.  A panic seen in the serial log ends
the run at once.
"""
import json
import os
import re
import time

from . import hostload
from .ui import progress

GRACE = 60
FATAL_RE = re.compile(r"Kernel panic|\(XEN\) Panic on CPU|\(XEN\) \*\*\*\* Panic|"
                      r"\(XEN\) Xen BUG at|Failed to execute /init|No working init found")


class Result:
    """What a run found: steps, metrics, output lines, the end status."""

    def __init__(self):
        self.steps = []       # {"name", "status", "secs", "detail", "src"}
        self.metrics = {}     # name -> {"value", "unit"}
        self.marks = {}       # name -> host seconds since machine start
        self.outputs = []     # {"src", "line"}
        self.notes = []       # things the person should know (ev=note)
        self.done = None      # the "done" record
        self.error = None     # why the run stopped early, if it did
        self.host_secs = 0.0

    def passed(self):
        return (self.error is None and self.done is not None
                and self.done.get("status") == "pass"
                and all(s["status"] != "fail" for s in self.steps))

    def to_json(self):
        return {"passed": self.passed(), "error": self.error, "steps": self.steps,
                "metrics": self.metrics, "marks": self.marks, "notes": self.notes,
                "host_secs": round(self.host_secs, 2), "outputs": self.outputs}


class ChannelReader:
    """New complete lines from a file that another process appends to."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [c.decode("utf-8", "replace").strip("\r\0 ") for c in complete]


class Monitor:
    def __init__(self, machine, boot_timeout, log, echo_outputs=True):
        self.m = machine
        self.boot_timeout = boot_timeout
        self.log = log  # the run's own log file (what the person saw)
        self.echo_outputs = echo_outputs
        self.result = Result()
        self.t0 = None
        self.deadline = None
        self.waiting_for = "boot: Xen and dom0 up to dom0's first record"
        self.serial_pos = 0
        self.spans = {}  # name -> the hostload.Sample at its begin record
        self.dom0_spans = {}  # name -> dom0's counters at its begin record
        self.dom0_exact = {}  # name -> its dom0_span figures, not rounded

    def say(self, msg):
        progress(msg)
        self.log.write(f"[{self.now():7.1f}s] {msg}\n")
        self.log.flush()

    def now(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    def run(self):
        self.t0 = time.monotonic()
        self.deadline = self.boot_timeout
        self.m.start()
        self._ev_span({"name": "run", "edge": "begin"}, False)
        try:
            self._follow(ChannelReader(self.m.channel))
        except KeyboardInterrupt as e:
            self.result.error = f"interrupted ({e or 'Ctrl-C'}) while waiting for {self.waiting_for}"
            self.say(f"FAILED: {self.result.error}")
        finally:
            self.result.host_secs = self.now()
            self.m.kill_if_running()
        return self.result

    def _follow(self, reader):
        while self.result.done is None and self.result.error is None:
            for line in reader.lines():
                self._record(line)
            self._check_machine()
            time.sleep(0.2)
        if self.result.error:
            self.say(f"FAILED: {self.result.error}")
            self.m.kill()
        else:
            self.m.stop(wait=60)

    def _check_machine(self):
        if self.result.done is not None:
            return
        code = self.m.poll()
        if code is not None:
            self.result.error = (f"the machine exited (status {code}) before the run finished, "
                                 f"while waiting for {self.waiting_for}")
        elif self.now() > self.deadline:
            self.result.error = (f"timed out after {self.now():.0f} s waiting for "
                                 f"{self.waiting_for}")
        else:
            panic = self._serial_panic()
            if panic:
                self.result.error = f"panic in the serial log: {panic}"

    def _serial_panic(self):
        try:
            with open(self.m.serial_log, "rb") as f:
                f.seek(max(0, self.serial_pos - 200))
                data = f.read()
        except FileNotFoundError:
            return None
        self.serial_pos += len(data)
        m = FATAL_RE.search(data.decode("utf-8", "replace"))
        return m.group(0) if m else None

    def _record(self, line):
        try:
            rec = json.loads(line)
        except ValueError:
            self.say(f"(unparsable record) {line}")
            return
        handler = getattr(self, "_ev_" + str(rec.get("ev")), None)
        if handler:
            handler(rec, rec.get("from") == "guest")

    def _ev_begin(self, rec, guest):
        if not guest:
            self.waiting_for = f"step '{rec.get('name')}' (its timeout: {rec.get('timeout')} s)"
            self.deadline = self.now() + float(rec.get("timeout", 60)) + GRACE

    def _ev_step(self, rec, guest):
        step = {k: rec.get(k) for k in ("name", "status", "secs", "detail")}
        step["src"] = "guest" if guest else "dom0"
        self.result.steps.append(step)
        detail = f": {step['detail']}" if step.get("detail") else ""
        self.say(f"{step['status'].upper():4} {step['name']} ({step['secs']} s){detail}")
        if not guest:
            self.waiting_for = f"the step after '{step['name']}'"
            self.deadline = self.now() + GRACE * 3

    def _ev_metric(self, rec, guest):
        self._metric(rec["name"], rec.get("value"), rec.get("unit"))
        # a job's IOPS come after its span: dom0's busy time per I/O now
        name = str(rec["name"])
        if name.endswith(".iops"):
            job = name[:-len(".iops")]
            exact = self.dom0_exact.pop(job, {})
            for (cpus, per_io) in (("dom0_cpus", "dom0_cpu_us_per_io"),
                                   ("dom0_backend_cpus", "dom0_backend_us_per_io")):
                busy = exact.get(cpus, (None,))[0]
                try:
                    v = hostload.per_io(busy, float(rec.get("value")))
                except (TypeError, ValueError):
                    v = None
                if v:
                    self._metric(f"{job}.{per_io}", *v)

    def _metric(self, name, value, unit):
        self.result.metrics[name] = {"value": value, "unit": unit}
        self.say(f"     {name} = {value} {unit or ''}")

    def _ev_mark(self, rec, guest):
        name = ("guest." if guest else "") + str(rec.get("name"))
        self.result.marks[name] = round(self.now(), 2)
        self.say(f"---- {name}")

    def _ev_span(self, rec, guest):
        """A span of work (a fio job): the host's load over it becomes
        metrics NAME.host_* (hostload)."""
        name = str(rec.get("name"))
        self._dom0_span(name, rec)
        try:
            now = hostload.sample(getattr(self.m, "qemu_pid", lambda: None)())
        except (OSError, ValueError) as e:
            self.say(f"(no host load for {name}: {e})")
            return
        if rec.get("edge") == "begin":
            self.spans[name] = now
        elif name in self.spans:
            for (k, (v, unit)) in hostload.span(self.spans.pop(name), now).items():
                self.result.metrics[f"{name}.{k}"] = {"value": v, "unit": unit}

    def _dom0_span(self, name, rec):
        """dom0's load over span NAME from the counters dom0's relay added
        to its edges: metrics NAME.dom0_* (hostload.dom0_span)."""
        cpu = rec.get("dom0_cpu")
        if not isinstance(cpu, list) or not all(isinstance(x, int) for x in cpu):
            return
        edge = (cpu, rec.get("dom0_backend_ticks"), rec.get("dom0_up"))
        if rec.get("edge") == "begin":
            self.dom0_spans[name] = edge
        elif name in self.dom0_spans:
            begin = self.dom0_spans.pop(name)
            num = lambda k, dflt: rec.get(k) if isinstance(rec.get(k), int) and rec.get(k) > 0 else dflt
            exact = hostload.dom0_span(begin[0], cpu, num("dom0_ncpu", 1), (begin[1], edge[1]),
                                       (begin[2], edge[2]), num("dom0_hz", 100))
            self.dom0_exact[name] = exact
            for (k, (v, unit)) in hostload.rounded(exact).items():
                self.result.metrics[f"{name}.{k}"] = {"value": v, "unit": unit}

    def _ev_out(self, rec, guest):
        self.result.outputs.append({"src": rec.get("src"), "line": rec.get("line")})
        if self.echo_outputs:
            self.say(f"     {rec.get('src')}| {rec.get('line')}")

    def _ev_note(self, rec, guest):
        self.result.notes.append(rec.get("text"))
        self.say(f"NOTE {rec.get('text')}")

    def _ev_done(self, rec, guest):
        self.result.done = rec
        self.result.marks["done"] = round(self.now(), 2)
        self._ev_span({"name": "run", "edge": "end"}, False)
        self.say(f"---- done: {rec.get('status')}")


def result_paths(rundir):
    return {name: os.path.join(rundir, name)
            for name in ("serial.log", "channel.jsonl", "run.log", "summary.json")}
