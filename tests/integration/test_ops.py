"""What operators expect around the binary: the install step, systemd's notify protocol
and watchdog, SIGUSR1 reopening the log files, the man page and the bash completion
generated from the admin command table, and the container files (checked, not run: no
docker engine runs here)."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BIN, LISTENING_RE, ClientConn, ProxyTestCase, poll_until, run_cli

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DIST = os.path.join(REPO, "dist")
BUILD_DIR = os.path.dirname(os.path.abspath(BIN))


@contextlib.contextmanager
def environment(**values):
    """Sets (or, for None, removes) environment variables for processes started inside."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ctl_commands():
    """The admin commands' words as `maintgate ctl --help` lists them (generated from the
    command table): the leading plain words of each usage."""
    code, out, err = run_cli(["ctl", "--help"])
    assert code == 0, err
    commands = []
    for line in out.splitlines():
        if line.startswith("* changes state"):  # the legend after the command lines
            break
        m = re.match(r"^[* ] ([a-z].*?)(?:\s{2,}|$)", line)
        if not m:
            continue
        words = []
        for w in m.group(1).split():
            if not re.fullmatch(r"[a-z][a-z-]*", w):
                break
            words.append(w)
        if words:
            commands.append(" ".join(words))
    return commands


# ---- systemd: sd_notify and the watchdog ------------------------------------------------

class NotifySocket:
    """The service manager's end of NOTIFY_SOCKET: a unix datagram socket collecting
    each message as a dict of its assignments."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def close(self):
        self.sock.close()

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append(msg)
        return msg

    def wait_for(self, key, value=None, timeout=10.0):
        """Reads messages until one has key (= value); returns it, or fails."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s=%s within %.0fs; got %r" % (key, value or "*", timeout, self.messages))
            msg = self.receive(left)
            if msg is not None and key in msg and (value is None or msg[key] == value):
                return msg


class NotifyTest(ProxyTestCase):
    start_default = False

    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory(prefix="maintgate-notify-")
        self.addCleanup(self.dir.cleanup)
        self.notify = NotifySocket(self.dir.name)
        self.addCleanup(self.notify.close)
        self.up = self.start_upstream()
        self.admin = os.path.join(self.dir.name, "admin.sock")

    def start(self, **env):
        with environment(NOTIFY_SOCKET=self.notify.path, **env):
            return self.start_proxy(self.up.port, {"admin": {"socket": self.admin}})

    def test_ready_watchdog_reload_status_and_stopping(self):
        # 1 s: a ping every 500 ms.
        proxy = self.start(WATCHDOG_USEC="1000000", WATCHDOG_PID=None)
        ready = self.notify.wait_for("READY", "1")
        self.assertEqual(ready.get("STATUS"), "mode open, stage open", ready)
        # READY=1 means it serves: a request right away succeeds.
        self.assertEqual(ClientConn(proxy.port).request("GET", "/echo/ready").status, 200)

        start = time.monotonic()
        self.notify.wait_for("WATCHDOG", "1", timeout=5)
        self.notify.wait_for("WATCHDOG", "1", timeout=5)
        self.notify.wait_for("WATCHDOG", "1", timeout=5)
        # Three pings at half a second each (the first at READY): well within 5 s even
        # on a loaded machine, and not a flood either.
        self.assertLess(time.monotonic() - start, 5.0)
        self.assertGreater(time.monotonic() - start, 0.4)

        proxy.send_signal(signal.SIGHUP)
        reloading = self.notify.wait_for("RELOADING", "1")
        self.assertIn("MONOTONIC_USEC", reloading)
        self.assertTrue(proxy.wait_log(r"reload", timeout=10), proxy.output())
        again = self.notify.wait_for("READY", "1")
        self.assertEqual(again.get("STATUS"), "mode open, stage open", again)

        # A mode change shows in STATUS= within the second.
        code, out, err = run_cli(["ctl", "--socket", self.admin, "set", "mode", "read-only",
                                  "reason", "schema migration"])
        self.assertEqual(code, 0, out + err)
        status = self.notify.wait_for("STATUS", "mode read-only, stage read-only: schema migration",
                                      timeout=10)
        self.assertNotIn("READY", status)

        proxy.send_signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING", "1")
        self.assertEqual(proxy.stop(), 0, proxy.output())

    def test_watchdog_meant_for_another_process_is_not_pinged(self):
        # WATCHDOG_PID names another process (as when the variables leak to a child).
        self.start(WATCHDOG_USEC="200000", WATCHDOG_PID="1")
        self.notify.wait_for("READY", "1")
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            msg = self.notify.receive(max(0.01, deadline - time.monotonic()))
            if msg is not None:
                self.assertNotIn("WATCHDOG", msg, self.notify.messages)

    def test_no_watchdog_without_watchdog_usec(self):
        proxy = self.start(WATCHDOG_USEC=None, WATCHDOG_PID=None)
        self.notify.wait_for("READY", "1")
        self.assertIsNone(proxy.wait_log(r"systemd watchdog", timeout=0.5), proxy.output())
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            msg = self.notify.receive(max(0.01, deadline - time.monotonic()))
            if msg is not None:
                self.assertNotIn("WATCHDOG", msg, self.notify.messages)


# ---- SIGUSR1: reopening the log files ------------------------------------------------

def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


class AccessLogReopenTest(ProxyTestCase):
    start_default = False

    def test_sigusr1_reopens_the_access_log_after_a_rename(self):
        d = tempfile.TemporaryDirectory(prefix="maintgate-logs-")
        self.addCleanup(d.cleanup)
        log = os.path.join(d.name, "access.log")
        up = self.start_upstream()
        proxy = self.start_proxy(up.port, {"log": {"access": log}})
        c = self.connect(proxy)
        self.assertEqual(c.request("GET", "/echo/before").status, 200)
        poll_until(lambda: any("/echo/before" in l for l in read_lines(log)), 10, what="the first line")

        os.rename(log, log + ".1")  # what logrotate does before postrotate
        proxy.send_signal(signal.SIGUSR1)
        self.assertTrue(proxy.wait_log(r"SIGUSR1: log files reopened", timeout=10), proxy.output())
        # The fresh file exists at once, before any line, so logrotate's checks see it.
        self.assertTrue(os.path.exists(log))

        self.assertEqual(c.request("GET", "/echo/after").status, 200)  # same keep-alive connection
        poll_until(lambda: any("/echo/after" in l for l in read_lines(log)), 10, what="the line in the new file")
        self.assertFalse(any("/echo/before" in l for l in read_lines(log)), read_lines(log))
        self.assertFalse(any("/echo/after" in l for l in read_lines(log + ".1")), read_lines(log + ".1"))
        # Twice in a row is fine too.
        proxy.send_signal(signal.SIGUSR1)
        self.assertEqual(c.request("GET", "/echo/again").status, 200)
        poll_until(lambda: any("/echo/again" in l for l in read_lines(log)), 10, what="a line after a second reopen")


class ErrorLogReopenTest(unittest.TestCase):
    """The error log as a file: the harness cannot watch stderr, so this test starts the
    process itself and reads the file."""

    def test_sigusr1_reopens_the_error_log(self):
        d = tempfile.TemporaryDirectory(prefix="maintgate-logs-")
        self.addCleanup(d.cleanup)
        error_log = os.path.join(d.name, "error.log")
        config = os.path.join(d.name, "maintgate.toml")
        with open(config, "w") as f:
            f.write('workers = 1\n[[listener]]\naddress = "127.0.0.1:0"\n'
                    '[upstream]\nurl = "http://127.0.0.1:9"\n'
                    '[log]\nerror = "%s"\n' % error_log)
        proc = subprocess.Popen([BIN, "run", "-c", config], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait(10)))
        poll_until(lambda: any(LISTENING_RE.search(l) for l in read_lines(error_log)), 20,
                   what="'listening on' in the error log")
        os.rename(error_log, error_log + ".1")
        proc.send_signal(signal.SIGUSR1)
        poll_until(lambda: any("log files reopened" in l for l in read_lines(error_log)), 10,
                   what="the reopen logged in the new error log")
        self.assertFalse(any("log files reopened" in l for l in read_lines(error_log + ".1")))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0)
        self.assertTrue(any("stopped" in l for l in read_lines(error_log)), read_lines(error_log))


# ---- the man page and the bash completion --------------------------------------------

def complete(script_path, words):
    """Runs the completion function in bash for the command line `words` (the last one
    being completed) and returns COMPREPLY."""
    quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
    program = ('source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; _maintgate; '
               'printf "%%s\\n" "${COMPREPLY[@]}"' % (quoted, len(words) - 1))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", program, "bash", script_path],
                       capture_output=True, timeout=30, cwd=tempfile.gettempdir())
    assert p.returncode == 0, p.stderr
    return sorted(w for w in p.stdout.decode().splitlines() if w)


class GeneratedDocsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.commands = ctl_commands()
        code, cls.man, err = run_cli(["man"])
        assert code == 0, err
        code, cls.completion, err = run_cli(["completion", "bash"])
        assert code == 0, err
        cls.tmp = tempfile.TemporaryDirectory(prefix="maintgate-docs-")
        cls.script = os.path.join(cls.tmp.name, "maintgate.bash")
        with open(cls.script, "w") as f:
            f.write(cls.completion)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_table_has_every_command(self):
        # The list this module checks against comes from the table itself (ctl --help).
        for c in ("help", "status", "set mode", "freeze", "reopen", "reopen status", "check",
                  "history", "reload"):
            self.assertIn(c, self.commands)

    def test_every_command_is_in_the_man_page(self):
        text = self.man.replace("\\-", "-").replace("\\e", "\\")
        code, usage, err = run_cli(["ctl", "--help"])
        for line in usage.splitlines():
            if line.startswith("* changes state"):
                break
            m = re.match(r"^[* ] ([a-z]\S*(?: \S+)*?)(?:\s{2,}|$)", line)
            if m:
                self.assertIn(".B " + m.group(1) + "\n", text, "usage %r missing from the man page" % m.group(1))
        for c in self.commands:
            self.assertRegex(text, r"(?m)^\.B %s\b" % re.escape(c))
        # The notes of `help` on the arguments' forms come along.
        for note in ("TIME", "DURATION", "STAGE"):
            self.assertRegex(text, r"(?m)^%s  " % note)

    def test_man_page_formats_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff is not installed")
        p = subprocess.run(["groff", "-man", "-ww", "-z"], input=self.man.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr.decode()), (0, ""))
        p = subprocess.run(["groff", "-man", "-Tutf8"], input=self.man.encode(), capture_output=True, timeout=30)
        rendered = re.sub(r".\x08", "", p.stdout.decode())
        for section in ("NAME", "SYNOPSIS", "ADMIN COMMANDS", "SIGNALS", "SIGUSR1", "NOTIFY_SOCKET"):
            self.assertIn(section, rendered)

    def test_every_command_is_in_the_completion(self):
        table = re.search(r"_maintgate_ctl_table='(.*?)'", self.completion, re.S).group(1)
        listed = [line.split("\t")[0] for line in table.splitlines() if line]
        self.assertEqual(sorted(listed), sorted(self.commands))
        # And bash offers them: each first word after `ctl`, then each following word.
        firsts = complete(self.script, ["maintgate", "ctl", ""])
        for c in self.commands:
            words = c.split()
            self.assertIn(words[0], firsts)
            for i in range(1, len(words)):
                self.assertIn(words[i], complete(self.script, ["maintgate", "ctl"] + words[:i] + [""]), c)

    def test_completion_script_is_valid_bash(self):
        p = subprocess.run(["bash", "-n", self.script], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        if shutil.which("shellcheck"):
            p = subprocess.run(["shellcheck", "-s", "bash", self.script], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_completion_behaviour(self):
        s = self.script
        self.assertEqual(complete(s, ["maintgate", "r"]), ["run"])
        self.assertIn("ctl", complete(s, ["maintgate", ""]))
        self.assertIn("completion", complete(s, ["maintgate", ""]))
        self.assertEqual(complete(s, ["maintgate", "ctl", "--so"]), ["--socket"])
        self.assertEqual(complete(s, ["maintgate", "ctl", "--socket", "/x", "rel"]), ["reload"])
        self.assertEqual(complete(s, ["maintgate", "-c", "f.toml", "ctl", "st"]), ["status"])
        self.assertEqual(complete(s, ["maintgate", "ctl", "set", "mode", "re"]), ["read-only", "reason"])
        # A keyword takes a value only in its own command: `mode` does after `window plan`.
        self.assertEqual(complete(s, ["maintgate", "ctl", "window", "plan", "mode", ""]), [])
        self.assertIn("announce", complete(s, ["maintgate", "ctl", "window", "plan", ""]))
        self.assertEqual(complete(s, ["maintgate", "ctl", "reopen", "to", "w"]), ["writes"])
        self.assertIn("--force", complete(s, ["maintgate", "ctl", "reopen", ""]))
        self.assertIn("status", complete(s, ["maintgate", "ctl", "reopen", ""]))
        self.assertEqual(complete(s, ["maintgate", "ctl", "freeze", "timeout", ""]), [])
        self.assertEqual(complete(s, ["maintgate", "completion", ""]), ["bash"])
        # File names after -c, whole even with a space in them.
        d = tempfile.TemporaryDirectory(prefix="maintgate-comp-")
        self.addCleanup(d.cleanup)
        target = os.path.join(d.name, "my config.toml")
        open(target, "w").close()
        self.assertEqual(complete(s, ["maintgate", "check", "-c", os.path.join(d.name, "my")]), [target])
        self.assertEqual(complete(s, ["maintgate", "ctl", "--socket", os.path.join(d.name, "my")]), [target])

    def test_completion_needs_bash(self):
        code, out, err = run_cli(["completion", "zsh"])
        self.assertEqual(code, 2)
        self.assertIn("completion bash", err)


# ---- cmake --install ------------------------------------------------------------------

class InstallTest(unittest.TestCase):
    """Installs the build into a temporary prefix and runs what was installed."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(BUILD_DIR, "cmake_install.cmake")):
            raise unittest.SkipTest("MAINTGATE_BIN is not in a CMake build folder: %s" % BUILD_DIR)
        cls.tmp = tempfile.TemporaryDirectory(prefix="maintgate-install-")
        cls.prefix = os.path.join(cls.tmp.name, "usr", "local")
        # The docs are built with `all`; a build of the maintgate target alone lacks them.
        subprocess.run(["cmake", "--build", BUILD_DIR, "--target", "maintgate_docs"], check=True,
                       capture_output=True, timeout=600)
        p = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix],
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        cls.bin = os.path.join(cls.prefix, "bin", "maintgate")
        cls.doc = os.path.join(cls.prefix, "share", "doc", "maintgate")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_installed(self, *args, timeout=30):
        p = subprocess.run([self.bin] + list(args), capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_installs_every_piece(self):
        for rel in ("bin/maintgate", "share/man/man1/maintgate.1",
                    "share/bash-completion/completions/maintgate",
                    "lib/systemd/system/maintgate.service", "lib/sysusers.d/maintgate.conf",
                    "share/doc/maintgate/maintgate.example.toml", "share/doc/maintgate/maintgate.toml",
                    "share/doc/maintgate/maintgate", "share/doc/maintgate/README.md"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, rel)), rel)
        self.assertTrue(os.access(self.bin, os.X_OK))

    def test_installed_docs_match_the_binary(self):
        code, man, _ = self.run_installed("man")
        with open(os.path.join(self.prefix, "share/man/man1/maintgate.1")) as f:
            self.assertEqual(f.read(), man)
        code, completion, _ = self.run_installed("completion", "bash")
        with open(os.path.join(self.prefix, "share/bash-completion/completions/maintgate")) as f:
            self.assertEqual(f.read(), completion)

    def test_unit_names_the_installed_binary(self):
        with open(os.path.join(self.prefix, "lib/systemd/system/maintgate.service")) as f:
            unit = f.read()
        self.assertNotRegex(unit, r"@[A-Z_]+@")  # every @VAR@ filled in
        self.assertIn("ExecStart=%s run -c /etc/maintgate/maintgate.toml\n" % self.bin, unit)
        self.assertIn("ExecStartPre=%s check -c /etc/maintgate/maintgate.toml\n" % self.bin, unit)
        for line in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                     "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=maintgate",
                     "RuntimeDirectory=maintgate", "LogsDirectory=maintgate"):
            self.assertRegex(unit, r"(?m)^%s" % re.escape(line))

    def test_systemd_accepts_the_unit(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        unit = os.path.join(self.prefix, "lib/systemd/system/maintgate.service")
        # Documentation=man:maintgate(1) is looked up with man: point it at the prefix.
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, timeout=120,
                           env=dict(os.environ, MANPATH=os.path.join(self.prefix, "share", "man")))
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_readme_commands_work_with_the_installed_binary(self):
        code, out, err = self.run_installed("--version")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^maintgate \d+\.\d+\.\d+\n$")
        code, out, err = self.run_installed("check", "-c", os.path.join(self.doc, "maintgate.example.toml"))
        self.assertEqual(code, 0, out + err)
        # The systemd configuration names only the unit's own directories.
        with open(os.path.join(self.doc, "maintgate.toml")) as f:
            cfg = f.read()
        for path in re.findall(r'^(?:access|socket|state_file|audit_log) = "(/[^"]+)"', cfg, re.M):
            self.assertRegex(path, r"^/(run|var/lib|var/log)/maintgate/", path)

        # `maintgate ctl ... status` against the installed binary, running.
        d = tempfile.TemporaryDirectory(prefix="maintgate-installed-")
        self.addCleanup(d.cleanup)
        sock = os.path.join(d.name, "admin.sock")
        config = os.path.join(d.name, "maintgate.toml")
        with open(config, "w") as f:
            f.write('workers = 1\n[[listener]]\naddress = "127.0.0.1:0"\n[upstream]\nurl = "http://127.0.0.1:9"\n'
                    '[admin]\nsocket = "%s"\n' % sock)
        proc = subprocess.Popen([self.bin, "run", "-c", config], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait(10)))
        poll_until(lambda: os.path.exists(sock), 20, what="the admin socket")
        code, out, err = self.run_installed("ctl", "-c", config, "status")
        self.assertEqual(code, 0, out + err)
        self.assertIn("open", out)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0)

    def test_man_finds_the_installed_page(self):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        p = subprocess.run(["man", "-M", os.path.join(self.prefix, "share", "man"), "-P", "cat", "maintgate"],
                           capture_output=True, timeout=60, env=dict(os.environ, MANWIDTH="100"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ADMIN COMMANDS", re.sub(r".\x08", "", p.stdout.decode()))


# ---- files checked without running them ----------------------------------------------

def dockerfile_instructions(path):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            pending = ""
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


class DistFilesTest(unittest.TestCase):
    """No docker engine runs here, so the image is never built by these tests: they check
    what can be checked without one."""

    docker = os.path.join(DIST, "docker")

    def test_dockerfile_copy_sources_exist(self):
        instructions = dockerfile_instructions(os.path.join(self.docker, "Dockerfile"))
        froms = [args for word, args in instructions if word == "FROM"]
        self.assertTrue(froms and all(a.startswith("debian:12") for a in froms), froms)
        self.assertGreaterEqual(len(froms), 2, "multi-stage")
        copies = [args.split() for word, args in instructions if word == "COPY"]
        self.assertTrue(copies)
        for args in copies:
            if any(a.startswith("--from") for a in args):
                continue
            for src in args[:-1]:
                self.assertTrue(os.path.exists(os.path.join(REPO, src)), "COPY source %s" % src)
        runs = " ".join(args for word, args in instructions if word == "RUN")
        self.assertIn("scripts/install-deps.sh build", runs)
        self.assertIn("scripts/build.sh", runs)
        words = {w for w, _ in instructions}
        self.assertLessEqual(words, {"FROM", "WORKDIR", "COPY", "RUN", "USER", "VOLUME", "EXPOSE",
                                     "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD"}, words)
        with open(os.path.join(self.docker, "Dockerfile.dockerignore")) as f:
            self.assertRegex(f.read(), r"(?m)^build$")

    def test_container_config_is_valid(self):
        code, out, err = run_cli(["check", "-c", os.path.join(self.docker, "maintgate.toml")])
        self.assertEqual(code, 0, out + err)
        self.assertIn("/run/maintgate/admin.sock", out)
        self.assertIn("/var/lib/maintgate/state.json", out)

    def test_compose_file(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        with open(os.path.join(self.docker, "compose.yaml")) as f:
            doc = yaml.safe_load(f)
        gate, app = doc["services"]["gate"], doc["services"]["app"]
        context = os.path.normpath(os.path.join(self.docker, gate["build"]["context"]))
        self.assertEqual(context, REPO)
        self.assertTrue(os.path.isfile(os.path.join(context, gate["build"]["dockerfile"])))
        mounts = {v.split(":")[1]: v.split(":")[0] for v in gate["volumes"]}
        self.assertIn("/run/maintgate", mounts)       # the admin socket's folder
        self.assertIn("/var/lib/maintgate", mounts)   # the state file's
        for name in mounts.values():
            self.assertIn(name, doc["volumes"])
        for port in gate["ports"]:
            self.assertTrue(port.startswith("127.0.0.1:"), port)
        self.assertIn("app", gate["depends_on"])
        src = app["volumes"][0].split(":")[0]
        self.assertTrue(os.path.isfile(os.path.normpath(os.path.join(self.docker, src))), src)
        self.assertIn("demo_app.py", " ".join(app["command"]))
        # The upstream in the container's config is this service.
        with open(os.path.join(self.docker, "maintgate.toml")) as f:
            self.assertIn('url = "http://app:3000"', f.read())

    def test_logrotate_snippet_signals_usr1(self):
        with open(os.path.join(DIST, "logrotate", "maintgate")) as f:
            text = f.read()
        self.assertIn("/var/log/maintgate/access.log", text)
        self.assertRegex(text, r"postrotate\s+systemctl kill --signal=SIGUSR1 --kill-whom=main maintgate.service")
        self.assertEqual(text.count("{"), text.count("}"))
        if shutil.which("logrotate"):
            p = subprocess.run(["logrotate", "-d", os.path.join(DIST, "logrotate", "maintgate")],
                               capture_output=True, timeout=30)
            self.assertNotIn("error", p.stderr.decode().lower())


if __name__ == "__main__":
    unittest.main()
