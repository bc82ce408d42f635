"""The processes we start (and stop by pid), /proc figures, and plain HTTP checks."""

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import time

from .common import BenchError, START_TIMEOUT, STOP_TIMEOUT, _read, log


_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # Our children get SIGTERM if this driver dies without cleaning up (killed -9), so no
    # server outlives the run. PR_SET_PDEATHSIG = 1.
    _libc.prctl(1, signal.SIGTERM)



def children_of(pid):
    """Direct children of pid, found by PPid in /proc (nginx's workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read("/proc/%s/stat" % entry)
        if not stat:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return sorted(out)


def start_time(pid):
    """The process's start time in ticks since boot (tells a pid from its reuse), or None."""
    stat = _read("/proc/%d/stat" % pid)
    if not stat:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def cpu_ticks(pids):
    """utime + stime of the processes (all their threads), in clock ticks."""
    total = 0
    for pid in pids:
        stat = _read("/proc/%d/stat" % pid)
        if stat:
            fields = stat[stat.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total


def status_kib(pids, field):
    """Sum of a /proc/PID/status field (VmRSS, VmHWM), in KiB."""
    total = 0
    for pid in pids:
        for line in _read("/proc/%d/status" % pid).splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total


def free_port():
    # The kernel picks a free loopback port; the short race until our server binds it is
    # acceptable (a clash makes that server fail to start, which is reported).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A server process we started: its pid, its workers, and a way to stop it."""

    def __init__(self, name, argv, logfile, env=None):
        self.name = name
        self.argv = argv
        self.logfile = logfile
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, preexec_fn=_child_setup, env=env)
        self.pids = [self.proc.pid]

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=20):
        return "\n".join(_read(self.logfile).splitlines()[-lines:])

    def adopt_children(self, expected, timeout=START_TIMEOUT):
        """Records the forked workers (nginx) once `expected` of them exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kids = children_of(self.proc.pid)
            if len(kids) >= expected:
                self.pids = [self.proc.pid] + kids
                self._started = {pid: start_time(pid) for pid in kids}
                return
            if not self.alive():
                break
            time.sleep(0.05)
        raise BenchError("%s: expected %d worker processes; its log:\n%s"
                         % (self.name, expected, self.log_tail()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log("%s did not stop on SIGTERM within %.0f s; killing pid %d"
                    % (self.name, STOP_TIMEOUT, self.proc.pid))
                self.proc.kill()
                self.proc.wait()
        # nginx's workers leave with their master; one still here after that (same pid,
        # same start time: not a reused pid) is ours to end.
        for pid, started in getattr(self, "_started", {}).items():
            if started is not None and start_time(pid) == started:
                log("%s: worker %d outlived its master; killing it" % (self.name, pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


# ---- HTTP checks -----------------------------------------------------------------------

def http_request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, {lower-case name: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def wait_http(service, port, path="/", timeout=START_TIMEOUT, try_timeout=2):
    """Waits until the server answers anything on port; fails if it exits first. A try
    that connects but gets no answer within try_timeout is retried."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not service.alive():
            break
        try:
            http_request(port, "GET", path, timeout=try_timeout)
            return
        except (OSError, http.client.HTTPException) as e:
            last = e
            time.sleep(0.05)
    rc = service.proc.poll()
    if rc is not None:
        why = "killed by signal %d" % -rc if rc < 0 else "exited with status %d" % rc
    else:
        why = "still running; last error: %s" % last
    raise BenchError("%s did not answer on 127.0.0.1:%d (%s); its log:\n%s"
                     % (service.name, port, why, service.log_tail()))


def headers_dict(lines):
    out = {}
    for line in lines:
        name, _, value = line.partition(":")
        out[name.strip()] = value.strip()
    return out
