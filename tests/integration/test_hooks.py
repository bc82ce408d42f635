"""Hooks through the real binary: a backup hook whose empty artifact is refused (and a
good one that becomes the last good record), a hook that hangs and is killed with its
whole process group after timeout + grace, a reopen stage hook that fails and steps the
gate back, and kill -9 of maintgate while a hook runs: after the restart the run is
reported (log, audit, status, ctl hooks) and not run again.

The admin socket, state file, hook journal and audit log live in a short temp folder per
test (AdminTestCase from test_admin)."""

import json
import os
import re
import signal
import subprocess
import time
import unittest
import urllib.request

from harness import BIN, poll_until, to_toml
from test_admin import AdminTestCase

TOKEN = "hook-it-token-0123456789"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose; only init may still have to reap it.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class HookTestCase(AdminTestCase):
    def sh(self, name, script, **kw):
        h = {"name": name, "argv": ["/bin/sh", "-c", script], "cwd": self.dir}
        h.update(kw)
        return h

    def start_hooks(self, hooks, **kw):
        extra = kw.pop("extra", {}) or {}
        extra["hook"] = hooks
        return self.start(extra=extra, **kw)

    def hook_lines(self):
        return [e for e in self.audit_lines() if e["command"].startswith("hook ")]

    def read_file(self, name):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read().strip()

    def read_pid(self, name, timeout=10):
        poll_until(lambda: self.read_file(name), timeout, what=name)
        return int(self.read_file(name))

    def kill9_while_hook_runs(self, proxy, *words, while_running=None):
        """Runs `ctl WORDS` (which starts a hook that writes slow.pid and hangs), calls
        while_running(hook_pid) if given, then kill -9s maintgate while the hook runs.
        Returns the hook's pid."""
        ctl = subprocess.Popen([BIN, "ctl", "--socket", self.sock_path] + list(words),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: ctl.poll() is None and ctl.kill())
        hook_pid = self.read_pid("slow.pid")
        self.addCleanup(lambda: pid_alive(hook_pid) and os.killpg(hook_pid, signal.SIGKILL))
        if while_running:
            while_running(hook_pid)
        proxy.proc.send_signal(signal.SIGKILL)
        proxy.proc.wait(10)
        proxy.stopped = True
        ctl.communicate(timeout=20)
        return hook_pid


class BackupGate(HookTestCase):
    def backup_hook(self):
        # The file "size" decides how many bytes the artifact gets.
        script = ("n=$(cat size); head -c $n /dev/zero > dump.gz; "
                  "sum=$(sha256sum dump.gz | cut -d' ' -f1); "
                  "printf '{\"artifact\":\"dump.gz\",\"bytes\":%d,\"sha256\":\"%s\"}' $n $sum > result.json; "
                  "echo \"dumped $n bytes with $API_TOKEN\"")
        return self.sh("backup", script, set_env={"API_TOKEN": TOKEN}, timeout="30s",
                       backup={"result_file": os.path.join(self.dir, "result.json"), "min_bytes": 1024,
                               "min_ratio": 0.5, "max_age": "1h"})

    def set_size(self, n):
        with open(os.path.join(self.dir, "size"), "w") as f:
            f.write(str(n))

    def test_empty_backup_is_refused_and_never_replaces_the_last_good(self):
        self.start_hooks([self.backup_hook()], admin={"metrics": "127.0.0.1:0"})
        self.set_size(0)
        code, _, out = self.ctl("hook", "run", "backup")  # a failed reply goes to stderr
        self.assertNotEqual(code, 0, out)
        self.assertIn("error: hook backup: backup refused: artifact is 0 bytes, less than min_bytes 1024", out)
        self.assertIn("dumped 0 bytes with ***", out)  # the token is redacted
        self.assertNotIn(TOKEN, out)
        r = self.ask("hook run backup --json", True)
        self.assertFalse(r["ok"])
        self.assertEqual(r["result"]["outcome"], "refused")
        self.assertEqual(r["result"]["backup"]["bytes"], 0)
        self.assertEqual(self.ask("hooks --json", True)["hooks"][0]["last_good"], {})

        self.set_size(4096)
        r = self.ask("hook run backup --json", True)
        self.assertTrue(r["ok"], r)
        b = r["result"]["backup"]
        self.assertEqual((b["ok"], b["bytes"]), (True, 4096))
        with open(os.path.join(self.dir, "dump.gz"), "rb") as f:
            import hashlib
            self.assertEqual(b["sha256"], hashlib.sha256(f.read()).hexdigest())

        # Smaller than half the last good: refused, the record stays at 4096.
        self.set_size(2000)
        r = self.ask("hook run backup --json", True)
        self.assertIn("0.488 of the last good backup's 4096 (min_ratio 0.5)", r["error"])
        h = self.ask("hooks --json", True)
        self.assertEqual(h["hooks"][0]["last_good"]["bytes"], 4096)
        with open(os.path.join(self.dir, "hooks.json")) as f:
            self.assertEqual(json.load(f)["last_good"]["backup"]["bytes"], 4096)
        text = self.ctl_ok("hooks")
        self.assertRegex(text, r"backup    last good .*dump\.gz, 4096 bytes, sha256 [0-9a-f]{64}")

        outcomes = [e["outcome"] for e in self.hook_lines()]
        self.assertEqual(outcomes, ["refused", "refused", "ok", "refused"])
        self.assertTrue(all(TOKEN not in e["detail"] for e in self.hook_lines()))

        port = self.metrics_port()
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
        self.assertIn('maintgate_hook_runs_total{hook="backup",outcome="refused"} 3', body)
        self.assertIn('maintgate_hook_runs_total{hook="backup",outcome="ok"} 1', body)
        self.assertIn('maintgate_hook_last_good_backup_bytes{hook="backup"} 4096', body)
        self.assertRegex(body, r'maintgate_hook_last_good_backup_age_seconds\{hook="backup"\} \d+\.\d{3}')

    def test_config_errors_in_check(self):
        path = os.path.join(self.dir, "bad.toml")
        cfg = self.config()
        cfg["hook"] = [{"name": "x", "argv": [], "timeout": "0s"}]
        with open(path, "w") as f:
            f.write(to_toml(cfg))
        p = subprocess.run([BIN, "check", "-c", path], capture_output=True, timeout=30)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(out, r"bad\.toml:\d+:\d+: hook\[0\]\.argv: must name a program")
        self.assertRegex(out, r"bad\.toml:\d+:\d+: hook\[0\]\.timeout: must be greater than 0")


class Hang(HookTestCase):
    def test_hang_is_killed_with_its_process_group(self):
        # Both the shell and its child ignore SIGTERM: only the SIGKILL after the grace ends them.
        script = "trap '' TERM; echo $$ > leader; sleep 60 & echo $! > child; wait"
        self.start_hooks([self.sh("hang", script, timeout="1s", kill_grace="1s")])
        t0 = time.monotonic()
        r = self.ask("hook run hang --json", True)
        took = time.monotonic() - t0
        self.assertFalse(r["ok"])
        res = r["result"]
        self.assertEqual((res["timed_out"], res["killed"], res["outcome"]), (True, True, "killed"), res)
        self.assertEqual(res["signal"], signal.SIGKILL)
        self.assertEqual(res["error"], "timed out after 1s; killed (SIGKILL to the process group) after 1s more")
        self.assertGreaterEqual(took, 2.0)
        self.assertLess(took, 8.0)
        for name in ("leader", "child"):
            pid = self.read_pid(name)
            poll_until(lambda: not pid_alive(pid), 5, what="%s %d gone" % (name, pid))
        self.assertEqual(self.hook_lines()[-1]["outcome"], "killed")


class ReopenStageHook(HookTestCase):
    def test_failing_stage_hook_steps_back(self):
        hooks = [self.sh("start-worker", "echo 'worker: cannot connect to the queue'; exit 4"),
                 self.sh("enable-cron", "echo cron on >> cron.log")]
        self.start_hooks(hooks, mode="maintenance",
                         reopen={"hooks": {"writes": ["start-worker"], "open": ["enable-cron"]}})
        r = self.ask("reopen to writes --json", True)
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["stage"], "read-only")
        self.assertIn("stage writes hook start-worker failed: exit 4", r["error"])
        last = r["steps"][-1]
        self.assertEqual((last["stage"], last["advanced"], last["stepped_back"]), ("writes", True, True))
        self.assertEqual(last["hooks"][0]["output"], "worker: cannot connect to the queue\n")
        s = self.status()
        self.assertEqual(s["stage"], "read-only")
        self.assertIn("stepped back to read-only: stage writes hook start-worker failed", s["last_step_back"])
        self.assertEqual(s["set_by"], "hook start-worker")
        text = self.ctl_ok("reopen", "status")
        self.assertIn("hooks       at writes: start-worker", text)
        self.assertIn("FAIL  start-worker (reopen:writes)", text)
        self.assertIn("| worker: cannot connect to the queue", text)

        # The text reply of a reopen shows the hook and its output too.
        code, _, out = self.ctl("reopen")  # a failed reply goes to stderr
        self.assertNotEqual(code, 0)
        self.assertIn("FAIL  start-worker (reopen:writes)", out)
        self.assertIn("| worker: cannot connect to the queue", out)
        self.assertIn("<- stepped back: a stage hook failed", out)

        # Fixed: writes then open run their hooks and stay.
        hooks[0]["argv"] = ["/bin/true"]
        with open(self.proxy.config_path, "w") as f:
            self.cfg["hook"] = hooks
            f.write(to_toml(self.cfg))
        self.ctl_ok("reload")
        r = self.ask("reopen to open --json", True)
        self.assertTrue(r["ok"], r)
        self.assertEqual([st["hooks"][0]["name"] for st in r["steps"]], ["start-worker", "enable-cron"])
        with open(os.path.join(self.dir, "cron.log")) as f:
            self.assertEqual(f.read(), "cron on\n")
        phases = [(e["command"], e["outcome"]) for e in self.hook_lines()]
        self.assertEqual(phases, [("hook start-worker", "failed"), ("hook start-worker", "failed"),
                                  ("hook start-worker", "ok"), ("hook enable-cron", "ok")])


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


class WindowBackupGate(BackupGate):
    """A window whose pre_freeze hook is the backup: its verdict decides the freeze."""

    def windows(self, *ids):
        end = iso(time.time() + 3600)
        return [{"id": i, "end": end, "mode": "read-only", "reason": "db upgrade",
                 "hooks": {"pre_freeze": ["backup"]}} for i in ids]

    def report(self, wid):
        r = self.ask("window report %s --json" % wid, True)
        self.assertTrue(r["ok"], r)
        return r["report"]

    # Inherited from BackupGate, not run again here.
    test_empty_backup_is_refused_and_never_replaces_the_last_good = None
    test_config_errors_in_check = None

    def test_a_refused_backup_stops_the_window_before_the_freeze(self):
        self.start_hooks([self.backup_hook()], extra={"window": self.windows("bad", "good")})
        self.set_size(0)  # an empty dump: the gate refuses it
        r = self.ask("window start bad --json", True)
        self.assertFalse(r["ok"], r)
        self.assertIn("stopped before the freeze: the backup gate failed: hook backup: backup refused: "
                      "artifact is 0 bytes, less than min_bytes 1024", r["error"])
        # Nothing was frozen: the gate is open and the app keeps getting writes.
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("open", False))
        self.forwarded("POST", "/orders", body=b"x")
        st = self.ask("window status --json", True)
        self.assertIsNone(st["current"], st)
        self.assertEqual((st["last_ended"]["id"], st["last_ended"]["phase"]), ("bad", "aborted"), st)
        self.assertIn("backup refused: artifact is 0 bytes", st["last_ended"]["outcome"])
        text = self.ctl_ok("window", "status")
        self.assertIn("last ended bad  aborted", text)
        self.assertIn("    outcome: the backup gate failed (pre_freeze hooks); nothing was frozen: hook backup: "
                      "backup refused: artifact is 0 bytes, less than min_bytes 1024", text)
        rep = self.report("bad")
        self.assertEqual(rep["phase"], "aborted")
        self.assertIn("the backup gate failed (pre_freeze hooks); nothing was frozen: hook backup: "
                      "backup refused: artifact is 0 bytes", rep["outcome"])
        self.assertEqual(rep["write_boundary"], None)
        self.assertEqual([(b["hook"], b["ok"], b["bytes"]) for b in rep["backups"]], [("backup", False, 0)])
        self.assertIn("less than min_bytes 1024", rep["backups"][0]["detail"])
        runs = rep["hook_runs"]
        self.assertEqual([(h["hook"], h["point"], h["outcome"]) for h in runs], [("backup", "pre_freeze", "refused")])
        self.assertEqual(runs[0]["output"], "dumped 0 bytes with ***\n")  # redacted
        self.assertNotIn(TOKEN, json.dumps(rep))
        self.assertIn("hook        FAIL  backup (pre_freeze) refused", self.ctl_ok("window", "report", "bad"))
        self.assertFalse(any(e["command"].startswith("freeze") for e in self.audit_lines()))
        # The refused run is in the hook journal too, with the window's id.
        h = self.ask("hooks --json", True)
        self.assertEqual([(x["window"], x["phase"], x["outcome"]) for x in h["runs"]],
                         [("bad", "pre_freeze", "refused")])

        # A real dump: the window freezes and closes the gate; the report has the sha256.
        self.set_size(4096)
        r = self.ask("window start good --json", True)
        self.assertTrue(r["ok"], r)
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("read-only", True))
        self.refused("POST", "/orders", "read-only", body=b"x")
        rep = self.report("good")
        self.assertEqual(rep["phase"], "active")
        with open(os.path.join(self.dir, "dump.gz"), "rb") as f:
            import hashlib
            digest = hashlib.sha256(f.read()).hexdigest()
        b = rep["backups"][0]
        self.assertEqual((b["hook"], b["ok"], b["bytes"], b["sha256"]), ("backup", True, 4096, digest))
        self.assertTrue(b["artifact"].endswith("dump.gz"), b)
        self.assertEqual([(x["hook"], x["outcome"]) for x in rep["hook_runs"]], [("backup", "ok")])
        self.assertIsNotNone(rep["write_boundary"])
        text = self.ctl_ok("window", "report", "good")
        self.assertIn("sha256 " + digest, text)
        self.assertIn("hook        ok    backup (pre_freeze) ok in ", text)
        md = self.ctl_ok("window", "report", "good", "--markdown")
        self.assertIn("## Hooks", md)
        self.assertIn("`%s`" % digest, md)
        self.assertEqual(self.ask("hooks --json", True)["hooks"][0]["last_good"]["sha256"], digest)
        self.ctl_ok("window", "abort", "good")

    def test_a_window_whose_hook_left_the_config_is_not_started(self):
        # Planned over the socket with its backup hook; then the config loses the [[hook]]
        # (a [[window]] naming it could not load, a ctl window is kept): the kept window
        # cannot pass its backup gate, so start refuses it.
        self.start_hooks([self.backup_hook()])
        self.ctl_ok("window", "plan", "old", "start", "manual", "end", "+1h", "hook", "pre_freeze", "backup")
        cfg = dict(self.cfg)
        del cfg["hook"]
        with open(self.proxy.config_path, "w") as f:
            f.write(to_toml(cfg))
        self.ctl_ok("reload")
        r = self.ask("window start old --json", True)
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"], "window old names hooks that no [[hook]] defines: backup (pre_freeze); "
                                     "add them to the config and reload, or plan the window again")
        self.assertIn(self.report("old")["phase"], ("planned", "announced"))  # the tick announces it
        self.assertEqual(self.status()["mode"], "open")

    def test_unknown_hook_in_a_window_is_a_config_error(self):
        path = os.path.join(self.dir, "bad.toml")
        cfg = self.config()
        cfg["hook"] = [self.backup_hook()]
        cfg["window"] = self.windows("w")
        cfg["window"][0]["hooks"] = {"pre_freeze": ["bakup"]}
        with open(path, "w") as f:
            f.write(to_toml(cfg))
        p = subprocess.run([BIN, "check", "-c", path], capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex((p.stdout + p.stderr).decode(),
                         r"bad\.toml:\d+:\d+: window\[0\]\.hooks\.pre_freeze\[0\]: no \[\[hook\]\] is named "
                         r"\"bakup\"; configured: backup")


class CrashDuringHook(HookTestCase):
    def test_kill9_while_a_hook_runs_is_reported_not_rerun(self):
        script = "echo run >> runs.log; echo $$ > slow.pid; sleep 30"
        hooks = [self.sh("slow", script)]
        p = self.start_hooks(hooks, watched=False)

        def journal_names_it(hook_pid):
            with open(os.path.join(self.dir, "hooks.json")) as f:
                running = json.load(f)["running"]
            self.assertEqual([(e["hook"], e["phase"], e["pid"]) for e in running], [("slow", "manual", hook_pid)])

        hook_pid = self.kill9_while_hook_runs(p, "hook", "run", "slow", while_running=journal_names_it)

        again = self.start_hooks(hooks)
        self.assertIsNotNone(again.wait_log(r"hook slow \(phase manual\) was running when maintgate stopped", 5),
                             again.output())
        s = self.status()
        self.assertIn("1 hook run(s) interrupted by a restart, not re-run: slow (manual, pid %d)" % hook_pid,
                      s["hooks_interrupted"])
        self.assertIn("hooks       1 hook run(s) interrupted", self.ctl_ok("status"))
        h = self.ask("hooks --json", True)
        self.assertEqual(len(h["interrupted"]), 1)
        i = h["interrupted"][0]
        self.assertEqual((i["name"], i["outcome"], i["pid"]), ("slow", "interrupted", hook_pid))
        self.assertIn("pid %d is still alive (not killed, not re-run)" % hook_pid, i["error"])
        self.assertEqual(h["running"], [])
        self.assertIn("interrupted by a restart (reported, not re-run):", self.ctl_ok("hooks"))
        self.assertEqual(self.hook_lines()[-1]["outcome"], "interrupted")
        time.sleep(0.5)
        with open(os.path.join(self.dir, "runs.log")) as f:
            self.assertEqual(f.read(), "run\n")  # not re-run
        # The hook did not keep maintgate's listening socket: the restart bound its port.
        os.killpg(hook_pid, signal.SIGKILL)


class CrashDuringWindowHook(HookTestCase):
    def test_kill9_while_a_windows_backup_runs_is_reported_not_rerun(self):
        script = "echo run >> runs.log; echo $$ > slow.pid; sleep 30"
        hooks = [self.sh("slow", script, timeout="60s")]
        win = [{"id": "k9", "end": iso(time.time() + 3600), "mode": "maintenance",
                "hooks": {"pre_freeze": ["slow"]}}]
        p = self.start_hooks(hooks, watched=False, extra={"window": win})
        hook_pid = self.kill9_while_hook_runs(p, "window", "start", "k9")

        again = self.start_hooks(hooks, extra={"window": win})
        self.assertIsNotNone(again.wait_log(r"hook slow \(phase pre_freeze, window k9\) was running", 5),
                             again.output())
        r = self.ask("window report k9 --json", True)["report"]
        self.assertEqual(r["phase"], "freezing")
        self.assertIn("stopped while the window was freezing", r["interrupted"])
        self.assertEqual([(h["hook"], h["point"], h["outcome"]) for h in r["hook_runs"]],
                         [("slow", "pre_freeze", "interrupted")])
        self.assertIn("hook interrupted", [e["what"] for e in r["timeline"]])
        # The freeze never happened, and nothing ran the hook again.
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("open", False))
        self.assertIn("slow (pre_freeze", s["hooks_interrupted"])
        time.sleep(0.5)
        self.assertEqual(self.read_file("runs.log"), "run")
        self.assertIn("INTERRUPTED", self.ctl_ok("window", "status"))
        # The operator decides: abort goes back to open without running it.
        self.ctl_ok("window", "abort", "k9")
        self.assertEqual(self.read_file("runs.log"), "run")
        os.killpg(hook_pid, signal.SIGKILL)

    def test_kill9_while_the_post_window_backup_runs_is_reported_not_rerun(self):
        # Planned over the socket, naming its hook there: `window plan ... hook POINT NAME`.
        # The first run hangs (and is killed with maintgate); a run after it is quick.
        script = "if [ -e runs.log ]; then echo run >> runs.log; else echo run >> runs.log; echo $$ > slow.pid; sleep 30; fi"
        hooks = [self.sh("slow", script, timeout="60s")]
        self.start_hooks(hooks, watched=False)
        bad = self.ctl("window", "plan", "v9", "start", "manual", "end", "+1h", "hook", "post_reopen", "slw")
        self.assertNotEqual(bad[0], 0)
        self.assertIn("window plan: no [[hook]] is named slw (post_reopen); configured: slow", bad[2])
        planned = self.ctl_ok("window", "plan", "v9", "start", "manual", "end", "+1h", "mode", "read-only",
                              "hook", "post_reopen", "slow")
        self.assertIn("hooks: post_reopen slow", planned)
        self.ctl_ok("window", "start", "v9")
        self.assertEqual(self.status()["mode"], "read-only")
        hook_pid = self.kill9_while_hook_runs(self.proxy, "reopen", "to", "open")

        again = self.start_hooks(hooks)
        self.assertIsNotNone(again.wait_log(r"hook slow \(phase post_reopen, window v9\) was running", 5),
                             again.output())
        r = self.ask("window report v9 --json", True)["report"]
        self.assertEqual(r["phase"], "verifying")
        self.assertIn("the process stopped during the post-reopen hooks: 'window start v9' runs them again",
                      r["interrupted"])
        self.assertEqual([(h["hook"], h["point"], h["outcome"]) for h in r["hook_runs"]],
                         [("slow", "post_reopen", "interrupted")])
        # The gate had reopened before the hook ran, and stays open; nothing ran it again.
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("open", False))
        time.sleep(0.5)
        self.assertEqual(self.read_file("runs.log"), "run")
        # `window start` runs the interrupted phase again: the post-window backup, then done.
        os.killpg(hook_pid, signal.SIGKILL)
        self.ctl_ok("window", "start", "v9")
        poll_until(lambda: self.ask("window report v9 --json", True)["report"]["phase"] == "completed", 40,
                   what="the window completed")
        self.assertEqual(self.read_file("runs.log"), "run\nrun")


if __name__ == "__main__":
    unittest.main()
