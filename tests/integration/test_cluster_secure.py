"""[cluster] against a real etcd that wants TLS (with client certificates) or a password.

One etcd per test class, started in setUpClass:
- ClusterTlsTest: etcd on https:// with --client-cert-auth and --trusted-ca-file; the
  certificates are made here with the openssl command (a CA, a server certificate for
  IP:127.0.0.1, a client certificate, and a second CA that signed none of them). Two
  replicas with tls_ca_file, tls_cert and tls_key share the gate; a replica trusting
  the wrong CA, or one without a client certificate, fences itself and says why in its
  log and its status; `check` names the TLS and auth setup and refuses TLS keys with
  only http:// URLs and a password file it cannot read.
- ClusterTlsAuthTest: both; etcd 3.4's gateway then refuses client certificates that
  have a CommonName, and the replica says so.
- ClusterAuthTest: etcd with a root user, authentication enabled and JWT tokens that
  expire after 2 s. Two replicas with user and password_file share the gate and keep
  their leases across several token expiries (etcd answers "invalid auth token" and
  they authenticate again), and across an etcd restart (the watch opened again is
  cancelled for its stale token, and the next one authenticates first); a wrong
  password fences the replica with etcd's answer.
Skipped, with the reason, only when etcd is not installed.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Proxy, run_cli, to_toml
from test_cluster import ETCD, ETCDCTL, KEEPALIVE, TTL, free_port
from upstream import Upstream

SKIP = "etcd is not installed (Debian: apt-get install etcd-server etcd-client; " \
       "scripts/install-deps.sh test installs them)"


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode("utf-8", "replace")))


class Pki:
    """A CA, etcd's server certificate (IP:127.0.0.1), a client certificate, and a CA
    that signed none of them."""

    def __init__(self, d):
        self.dir = d
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2", "-subj", "/CN=maintgate " + ca,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        # etcd's JSON gateway dials etcd itself with the server certificate, so under
        # --client-cert-auth that certificate must be good for client auth too.
        self.server = self.issue("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth,clientAuth\n")
        self.client = self.issue("client", "maintgate", "extendedKeyUsage=clientAuth\n")
        # etcd 3.4 with auth enabled refuses gateway requests whose client certificate has
        # a CommonName: the one to use there has none.
        self.client_no_cn = self.issue("client-no-cn", None, "extendedKeyUsage=clientAuth\n")
        self.ca = self.path("ca.pem")
        self.other_ca = self.path("other-ca.pem")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, extensions):
        with open(self.path(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" + extensions)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn if cn else "/O=maintgate",
                cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-sha256", "-extfile", name + ".ext", "-out", name + ".pem", cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")


class SecureEtcd:
    """etcd on loopback with extra flags; etcdctl is handed the matching credentials."""

    def __init__(self, d, scheme="http", flags=(), ctl_flags=()):
        self.dir = d
        self.client = free_port()
        self.peer = free_port()
        self.url = "%s://127.0.0.1:%d" % (scheme, self.client)
        self.flags = list(flags)
        self.ctl_flags = list(ctl_flags)
        self.log = open(os.path.join(d, "etcd.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-cluster", "t=http://127.0.0.1:%d" % self.peer,
             "--log-level", "error"] + self.flags,
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("etcd exited with %s; see %s" % (self.proc.returncode, self.log.name))
            if self.ctl("endpoint", "health", check=False)[0] == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("etcd did not become healthy within 20 s")

    def ctl(self, *args, check=True, extra=()):
        p = subprocess.run([ETCDCTL, "--endpoints", self.url] + self.ctl_flags + list(extra) + list(args),
                           capture_output=True, timeout=20, env=dict(os.environ, ETCDCTL_API="3"),
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), p.stderr.decode()))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class SecureClusterCase(unittest.TestCase):
    """Replicas against the class's etcd, each test under its own key prefix."""

    etcd = None
    tmp = None

    @classmethod
    def tearDownClass(cls):
        if cls.etcd:
            cls.etcd.stop()
        if cls.tmp:
            shutil.rmtree(cls.tmp, True)

    def setUp(self):
        self.upstream = Upstream().start()
        self.addCleanup(self.upstream.stop)
        self.dir = tempfile.mkdtemp(prefix="r-", dir=self.tmp)
        self.prefix = "/mg-" + self._testMethodName[-40:].replace("_", "-")
        self.replicas = {}

    def start_replica(self, name, **cluster):
        c = {"etcd": [self.etcd.url], "prefix": self.prefix, "replica_id": name,
             "lease_ttl": TTL, "keepalive": KEEPALIVE}
        c.update(cluster)
        cfg = {"gate": {"state_file": os.path.join(self.dir, name + ".state"),
                        "audit_log": os.path.join(self.dir, name + ".audit")},
               "admin": {"socket": os.path.join(self.dir, name + ".sock"), "metrics": "127.0.0.1:0"},
               "reopen": {"freeze_timeout": "5s"},
               "cluster": c}
        p = Proxy(self.upstream.port, cfg)
        self.addCleanup(p.cleanup)
        p.start()
        self.replicas[name] = p
        return p

    def ctl(self, name, *words, timeout=30):
        return run_cli(["ctl", "--socket", os.path.join(self.dir, name + ".sock")] + list(words), timeout=timeout)

    def status(self, name):
        code, out, err = self.ctl(name, "--json", "status")
        self.assertEqual(code, 0, out + err)
        return json.loads(out)

    def wait_for(self, what, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (AssertionError, ValueError, OSError) as e:
                last = e
            time.sleep(0.1)
        self.fail("%s: not within %.0f s (last: %r)\n%s" % (what, timeout, last,
                  "\n".join(p.output(30) for p in self.replicas.values())))

    def wait_connected(self, names, mode=None):
        def ok():
            st = [self.status(n) for n in names]
            revs = {s["cluster"]["applied_revision"] for s in st}
            good = (len(revs) == 1 and 0 not in revs and all(s["cluster"]["connected"] for s in st)
                    and (mode is None or {s["mode"] for s in st} == {mode}))
            return st if good else None
        return self.wait_for("%s connected at one revision" % ", ".join(names), ok)

    def wait_fenced(self, name):
        return self.wait_for(name + " fences itself",
                             lambda: (lambda s: s if s["cluster"]["self_fenced"] else None)(self.status(name)))

    def shared_mode_round_trip(self, a, b):
        """A change asked on a reaches b through etcd, and back."""
        code, out, err = self.ctl(a, "set", "mode", "maintenance", "reason", "secure etcd")
        self.assertEqual(code, 0, out + err)
        st = self.wait_connected([a, b], mode="maintenance")
        self.assertEqual(st[1]["reason"], "secure etcd")
        code, out, err = self.ctl(b, "set", "mode", "open")
        self.assertEqual(code, 0, out + err)
        self.wait_connected([a, b], mode="open")


@unittest.skipUnless(ETCD and ETCDCTL, SKIP)
class ClusterTlsTest(SecureClusterCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maintgate-etcd-tls-")
        cls.pki = Pki(cls.tmp)
        server, server_key = cls.pki.server
        client, client_key = cls.pki.client
        cls.etcd = SecureEtcd(cls.tmp, "https",
                              flags=["--cert-file", server, "--key-file", server_key,
                                     "--client-cert-auth", "--trusted-ca-file", cls.pki.ca],
                              ctl_flags=["--cacert", cls.pki.ca, "--cert", client, "--key", client_key])
        try:
            cls.etcd.start()
        except BaseException:
            cls.tearDownClass()
            raise

    def tls_keys(self, ca=None, client=True):
        keys = {"tls_ca_file": ca or self.pki.ca}
        if client:
            keys["tls_cert"], keys["tls_key"] = self.pki.client
        return keys

    def test_replicas_share_the_gate_over_mutual_tls(self):
        self.start_replica("t1", **self.tls_keys())
        self.start_replica("t2", **self.tls_keys())
        self.wait_connected(["t1", "t2"])
        self.shared_mode_round_trip("t1", "t2")
        # What the replicas wrote is in etcd, read back through the same TLS.
        _, out, _ = self.etcd.ctl("get", self.prefix + "/replicas/", "--prefix", "--keys-only")
        self.assertIn(self.prefix + "/replicas/t1", out)
        self.assertIn(self.prefix + "/replicas/t2", out)
        self.assertFalse(self.status("t1")["cluster"]["self_fenced"])

    def test_check_names_the_tls_setup_and_refuses_what_run_could_not_use(self):
        cert, key = self.pki.client
        cfg = {"listener": [{"address": "127.0.0.1:0"}], "upstream": {"url": "http://127.0.0.1:3000"},
               "cluster": {"etcd": [self.etcd.url], "replica_id": "c1", "tls_ca_file": self.pki.ca,
                           "tls_cert": cert, "tls_key": key, "user": "mg",
                           "password_file": os.path.join(self.dir, "gone.pw")}}
        path = os.path.join(self.dir, "check.toml")

        def check(c):
            with open(path, "w") as f:
                f.write(to_toml(c))
            return run_cli(["check", "-c", path], timeout=20)
        code, out, err = check(cfg)
        self.assertEqual(code, 1, out + err)
        self.assertIn("cluster.password_file: cannot read %s: No such file or directory"
                      % cfg["cluster"]["password_file"], out + err)
        with open(cfg["cluster"]["password_file"], "w") as f:
            f.write("pw\n")
        code, out, err = check(cfg)
        self.assertEqual(code, 0, out + err)
        self.assertIn("  cluster   etcd %s, prefix /maintgate, replica c1" % self.etcd.url, out)
        self.assertIn("  cluster   TLS: etcd's certificate verified against %s; client certificate %s"
                      % (self.pki.ca, cert), out)
        self.assertIn("  cluster   auth: user mg, password from %s" % cfg["cluster"]["password_file"], out)
        cfg["cluster"]["etcd"] = [self.etcd.url.replace("https://", "http://")]
        code, out, err = check(cfg)
        self.assertEqual(code, 1, out + err)
        self.assertRegex(out + err, r"check\.toml:\d+:\d+: cluster\.tls_ca_file: set, but every cluster\.etcd URL "
                                    r"is http://; give https:// URLs for TLS to etcd")

    def test_a_wrong_ca_fences_the_replica_and_says_why(self):
        p = self.start_replica("wrong-ca", **self.tls_keys(ca=self.pki.other_ca))
        st = self.wait_fenced("wrong-ca")
        self.assertEqual(st["mode"], "read-only")
        reason = st["cluster"]["fence_reason"]
        self.assertIn("etcd unreachable at start-up", reason)
        self.assertIn("certificate verify failed", reason)
        self.assertIn("unable to get local issuer certificate (tls_ca_file %s)" % self.pki.other_ca, reason)
        self.assertIn("certificate verify failed", st["cluster"]["last_error"])
        self.assertTrue(p.wait_log(r"TLS handshake with https://127\.0\.0\.1:\d+: certificate verify failed", 5),
                        p.output())
        code, out, _ = self.ctl("wrong-ca", "status")
        self.assertIn("FENCED ITSELF", out)
        self.assertIn("certificate verify failed", out)
        # It keeps trying, and keeps saying why.
        time.sleep(1.5)
        self.assertTrue(self.status("wrong-ca")["cluster"]["self_fenced"])

    def test_a_replica_without_a_client_certificate_is_refused_and_fences(self):
        p = self.start_replica("no-cert", **self.tls_keys(client=False))
        st = self.wait_fenced("no-cert")
        self.assertEqual(st["mode"], "read-only")
        # etcd ends the handshake (or the first read) for want of a certificate.
        self.assertRegex(st["cluster"]["fence_reason"], r"etcd unreachable at start-up \((TLS handshake with|"
                         r"read from|send to) https://127\.0\.0\.1:\d+: ")
        self.assertTrue(p.wait_log(r"fences itself", 5), p.output())


@unittest.skipUnless(ETCD and ETCDCTL, SKIP)
class ClusterAuthTest(SecureClusterCase):
    TOKEN_TTL = 2  # seconds: JWT tokens expire on etcd's side, used or not

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maintgate-etcd-auth-")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "jwt.key",
                cwd=cls.tmp)
        openssl("pkey", "-in", "jwt.key", "-pubout", "-out", "jwt.pub", cwd=cls.tmp)
        jwt = "jwt,pub-key=%s,priv-key=%s,sign-method=ES256,ttl=%ds" % (
            os.path.join(cls.tmp, "jwt.pub"), os.path.join(cls.tmp, "jwt.key"), cls.TOKEN_TTL)
        cls.etcd = SecureEtcd(cls.tmp, flags=["--auth-token", jwt])
        try:
            cls.etcd.start()
            cls.etcd.ctl("user", "add", "root:rootpw")
            cls.etcd.ctl("auth", "enable")
            cls.etcd.ctl_flags = ["--user", "root:rootpw"]
            cls.etcd.ctl("user", "add", "mg:s3cret-pw")
            cls.etcd.ctl("role", "add", "maintgate")
            cls.etcd.ctl("role", "grant-permission", "maintgate", "--prefix=true", "readwrite", "/mg-")
            cls.etcd.ctl("user", "grant-role", "mg", "maintgate")
        except BaseException:
            cls.tearDownClass()
            raise
        cls.good_pw = os.path.join(cls.tmp, "mg.pw")
        cls.bad_pw = os.path.join(cls.tmp, "bad.pw")
        with open(cls.good_pw, "w") as f:
            f.write("s3cret-pw\n")
        with open(cls.bad_pw, "w") as f:
            f.write("not-the-password\n")

    def test_replicas_authenticate_and_outlive_token_expiry(self):
        self.start_replica("a1", user="mg", password_file=self.good_pw)
        self.start_replica("a2", user="mg", password_file=self.good_pw)
        self.wait_connected(["a1", "a2"])
        self.shared_mode_round_trip("a1", "a2")
        # Several token lifetimes pass; every keep-alive, ack and watch goes on under a
        # new token, and no replica fences (it would, 3 s after its last keep-alive).
        time.sleep(3 * self.TOKEN_TTL + 1)
        for name in ("a1", "a2"):
            c = self.status(name)["cluster"]
            self.assertFalse(c["self_fenced"], c)
            self.assertTrue(c["connected"], c)
        self.shared_mode_round_trip("a2", "a1")
        self.assertTrue(self.replicas["a1"].wait_log(r"cluster: etcd token refused \(.*token.*\); authenticating "
                                                     r"again", 2), self.replicas["a1"].output())
        for name in ("a1", "a2"):
            self.assertNotIn("fences itself", self.replicas[name].output(200))
        # etcd restarted: every stream is cut, and the watch a1 opens again must carry a
        # fresh token (the one it held has long expired), or a2's change never reaches it.
        self.etcd.stop()
        self.etcd.log = open(self.etcd.log.name, "ab")
        self.etcd.start()
        self.wait_connected(["a1", "a2"])
        code, out, err = self.ctl("a2", "set", "mode", "read-only", "reason", "after the restart")
        self.assertEqual(code, 0, out + err)
        st = self.wait_connected(["a1", "a2"], mode="read-only")
        self.assertEqual(st[0]["reason"], "after the restart")
        self.assertTrue(self.replicas["a1"].wait_log(r"etcd cancelled the watch from revision \d+ \(.*invalid auth "
                                                     r"token\); watching again", 2), self.replicas["a1"].output())
        self.assertTrue(self.replicas["a1"].wait_log(r"token refused for the watch", 2))

    def test_a_wrong_password_fences_the_replica_with_etcds_answer(self):
        p = self.start_replica("bad-pw", user="mg", password_file=self.bad_pw)
        st = self.wait_fenced("bad-pw")
        self.assertEqual(st["mode"], "read-only")
        reason = st["cluster"]["fence_reason"]
        self.assertIn("etcd unreachable at start-up", reason)
        self.assertIn("authentication failed", reason)
        self.assertIn("as user mg", reason)
        self.assertTrue(p.wait_log(r"authentication failed.*fences itself", 5), p.output())
        code, out, _ = self.ctl("bad-pw", "status")
        self.assertIn("FENCED ITSELF", out)
        self.assertIn("authentication failed", out)
        # A change cannot be made from it.
        code, out, err = self.ctl("bad-pw", "set", "mode", "open")
        self.assertEqual(code, 1, out + err)
        self.assertIn("has no etcd", out + err)


@unittest.skipUnless(ETCD and ETCDCTL, SKIP)
class ClusterTlsAuthTest(SecureClusterCase):
    """Both at once, as the README says they can be used: mutual TLS and a password."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="maintgate-etcd-tls-auth-")
        cls.pki = Pki(cls.tmp)
        server, server_key = cls.pki.server
        client, client_key = cls.pki.client
        cls.etcd = SecureEtcd(cls.tmp, "https",
                              flags=["--cert-file", server, "--key-file", server_key,
                                     "--client-cert-auth", "--trusted-ca-file", cls.pki.ca],
                              ctl_flags=["--cacert", cls.pki.ca, "--cert", client, "--key", client_key])
        try:
            cls.etcd.start()
            cls.etcd.ctl("user", "add", "root:rootpw")
            cls.etcd.ctl("auth", "enable")
            cls.etcd.ctl_flags += ["--user", "root:rootpw"]
            cls.etcd.ctl("user", "add", "mg:tls-and-pw")
            cls.etcd.ctl("role", "add", "maintgate")
            cls.etcd.ctl("role", "grant-permission", "maintgate", "--prefix=true", "readwrite", "/mg-")
            cls.etcd.ctl("user", "grant-role", "mg", "maintgate")
        except BaseException:
            cls.tearDownClass()
            raise
        cls.pw = os.path.join(cls.tmp, "mg.pw")
        with open(cls.pw, "w") as f:
            f.write("tls-and-pw\n")

    def test_replicas_share_the_gate_over_tls_with_a_password(self):
        cert, key = self.pki.client_no_cn
        for name in ("b1", "b2"):
            self.start_replica(name, tls_ca_file=self.pki.ca, tls_cert=cert, tls_key=key, user="mg",
                               password_file=self.pw)
        self.wait_connected(["b1", "b2"])
        self.shared_mode_round_trip("b1", "b2")
        _, out, _ = self.etcd.ctl("get", self.prefix + "/acks/", "--prefix", "--keys-only")
        self.assertIn(self.prefix + "/acks/b2", out)

    def test_a_client_certificate_with_a_common_name_is_refused_and_says_what_to_change(self):
        cert, key = self.pki.client
        self.start_replica("cn", tls_ca_file=self.pki.ca, tls_cert=cert, tls_key=key, user="mg",
                           password_file=self.pw)
        reason = self.wait_fenced("cn")["cluster"]["fence_reason"]
        self.assertIn("etcd authentication as user mg failed: etcd: CommonName of client sending a request "
                      "against gateway will be ignored and not used as expected (HTTP 400); with auth enabled, "
                      "etcd's gateway takes only client certificates without a CommonName (tls_cert)", reason)


if __name__ == "__main__":
    unittest.main()
