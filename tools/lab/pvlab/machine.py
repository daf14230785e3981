# SPDX-License-Identifier: GPL-2.0-or-later
"""Where dom0's lab script runs: Xen in QEMU (TCG), or this host if it is dom0.

Both start a process and name the file that receives the lab's records (one
JSON object per line): QEMU's virtio-serial port "lab.results" is backed by
that file; on a real dom0 the script appends to it directly.
"""
import os
import shutil
import signal
import subprocess
import tempfile

from . import cpio
from .ui import LabError

XEN_ARGS = "console=com1 com1=115200 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 noreboot"
DOM0_ARGS = "console=hvc0 quiet loglevel=3"
# --pin-dom0: dom0's vCPU stays on physical CPU 0 (guests are kept off it: LAB_GUEST_CPUS)
XEN_ARGS_PIN_DOM0 = "dom0_vcpus_pin"
GUEST_CPUS_PIN_DOM0 = "all,^0"


def xen_args(pin_dom0=False):
    """Xen's command line in the lab's QEMU machine."""
    return XEN_ARGS + (" " + XEN_ARGS_PIN_DOM0 if pin_dom0 else "")


def session_members(sid):
    """Pids of the processes in session SID (from /proc/PID/stat)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the name: state, ppid, pgrp, session
        if len(fields) > 3 and fields[3] == str(sid):
            pids.append(int(name))
    return pids


def _exec_tmpdir():
    """Where the run's programs can be unpacked and run: $TMPDIR, /tmp or
    /var/tmp, whichever is first not mounted noexec."""
    for d in (os.environ.get("TMPDIR"), "/tmp", "/var/tmp"):
        if d and os.path.isdir(d) and not os.statvfs(d).f_flag & os.ST_NOEXEC:
            return d
    raise LabError("no temporary directory allows running programs ($TMPDIR, /tmp and "
                   "/var/tmp are mounted noexec): set TMPDIR")


def is_xen_dom0():
    try:
        with open("/proc/xen/capabilities") as f:
            return "control_d" in f.read()
    except OSError:
        return False


class QemuMachine:
    """Xen + dom0 in qemu-system-x86_64; the serial console goes to serial.log."""

    def __init__(self, rundir, xen, kernel, initrd, interactive=False, cpu="qemu64", mem=2048,
                 pin_dom0=False):
        self.rundir = rundir
        self.serial_log = os.path.join(rundir, "serial.log")
        self.channel = os.path.join(rundir, "channel.jsonl")
        self.interactive = interactive
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            raise LabError("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
        serial = (f"stdio,id=ser,signal=off,logfile={self.serial_log}" if interactive
                  else f"file,id=ser,path={self.serial_log}")
        self.cmd = [
            qemu, "-machine", "pc", "-cpu", cpu, "-m", str(mem), "-smp", "2",
            "-display", "none", "-no-reboot", "-monitor", "none",
            "-chardev", serial, "-serial", "chardev:ser",
            "-device", "virtio-serial-pci",
            "-chardev", f"file,id=lab,path={self.channel}",
            "-device", "virtserialport,chardev=lab,name=lab.results",
            "-kernel", xen, "-append", xen_args(pin_dom0),
            "-initrd", f"{kernel} {DOM0_ARGS},{initrd}",
        ]
        self.proc = None

    def start(self):
        open(self.channel, "w").close()
        with open(os.path.join(self.rundir, "qemu.cmd"), "w") as f:
            f.write(" ".join(self.cmd) + "\n")
        out = None if self.interactive else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.cmd, stdin=None if self.interactive else subprocess.DEVNULL,
                                     stdout=out, stderr=open(os.path.join(self.rundir, "qemu.err"), "w"))

    def poll(self):
        return self.proc.poll()

    def qemu_pid(self):
        """The lab machine's process: its CPU time is the lab's (hostload)."""
        return self.proc.pid if self.proc else None

    def stop(self, wait=60):
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    kill_if_running = kill


class HostDom0:
    """This host is a Xen dom0: run dom0-main.sh here, LAB_MODE=host.

    The run's overlay (packed without the dom0 base image) is unpacked into a
    scratch root: LAB_ROOT=root/lab, the pvsplit build under LAB_DESTDIR=root.
    The host's xenstored and xen-init-dom0 are expected to have run already;
    dom0-main.sh checks what would conflict (host-preflight), the backend
    files start what their backend needs, and host-cleanup stops it again.
    No Xen host is at hand here: `run --host-mode` takes this path inside
    QEMU (images/dom0/root/lab/as-host.sh), and lab-selftest runs this class
    with a stand-in dom0-main.sh.
    """

    def __init__(self, rundir, dom0_initrd_overlay):
        self.rundir = rundir
        self.serial_log = os.path.join(rundir, "dom0.log")
        self.channel = os.path.join(rundir, "channel.jsonl")
        self.overlay = dom0_initrd_overlay
        self.root = tempfile.mkdtemp(prefix="pvsplit-lab-", dir=_exec_tmpdir())
        self.proc = None
        self.out = None

    def start(self):
        open(self.channel, "w").close()
        with open(self.overlay, "rb") as f:
            cpio.extract(f, self.root)
        env = dict(os.environ, LAB_MODE="host", LAB_ROOT=os.path.join(self.root, "lab"),
                   LAB_DESTDIR=self.root, LAB_EMIT_TO=self.channel)
        self.out = open(self.serial_log, "w")
        self.proc = subprocess.Popen(["bash", os.path.join(self.root, "lab", "dom0-main.sh")],
                                     env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def poll(self):
        return self.proc.poll()

    def _end(self):
        """What is left of the script's session (its steps run in process
        groups of their own): SIGKILL; then the scratch root goes."""
        if self.proc:
            for pid in session_members(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.out:
            self.out.close()
            self.out = None
        shutil.rmtree(self.root, ignore_errors=True)

    def stop(self, wait=60):
        QemuMachine.stop(self, wait)
        self._end()

    def kill(self, cleanup_wait=150):
        """SIGTERM: dom0-main.sh cleans up what the run started (the guest,
        daemons, loop devices, disk files) and exits; after CLEANUP_WAIT
        seconds, or at once if it is gone, the rest of its session."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=cleanup_wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._end()

    kill_if_running = kill

