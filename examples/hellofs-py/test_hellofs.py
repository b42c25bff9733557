"""Self-test of hellofs.py: runs it as pfs would (a subprocess with the cookie in its environment)
and speaks the protocol of docs/plugin-protocol.md to it. Needs no pfs, only Python 3.

    python3 -m unittest -v examples/hellofs-py/test_hellofs.py
    cd examples/hellofs-py && python3 -m unittest -v

The framing below is written from the spec, not imported from the plugin, so that a mistake in the
plugin's framing cannot hide behind the same mistake here.
"""
import json
import os
import select
import struct
import subprocess
import sys
import time
import unittest

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hellofs.py")
COOKIE = "d3e5f1c2-pfs-plugin"
TIMEOUT = 10.0  # seconds any single answer or exit may take before the test fails
HELLO = b"Hello, from Python!\n"


def plugin_env(**extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PFS_PLUGIN_MAGIC_COOKIE": COOKIE,
           "PFS_PLUGIN_PROTOCOL": "1"}
    env.update(extra)
    return env


def read_exact(fd, n, deadline):
    """Exactly n bytes from fd, b"" if it ends before the first byte; fails on a timeout or a short
    read after the first byte."""
    out = b""
    while len(out) < n:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            raise AssertionError(f"no answer from the plugin within {TIMEOUT} s")
        chunk = os.read(fd, n - len(out))
        if not chunk:
            if out:
                raise AssertionError(f"stdout ended inside a frame ({len(out)} of {n} bytes)")
            return b""
        out += chunk
    return out


class Plugin:
    """hellofs.py in a subprocess, and the client side of the protocol."""

    def __init__(self, env=None, argv=(sys.executable, PLUGIN)):
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=plugin_env() if env is None else env)
        self.next_id = 0

    def send(self, header, payload=b""):
        head = json.dumps(header).encode()
        self.proc.stdin.write(struct.pack(">II", len(head), len(payload)) + head + payload)
        self.proc.stdin.flush()

    def recv(self):
        """The next frame as (header, payload), or None when stdout has ended."""
        deadline = time.monotonic() + TIMEOUT
        fd = self.proc.stdout.fileno()
        prefix = read_exact(fd, 8, deadline)
        if not prefix:
            return None
        head_len, payload_len = struct.unpack(">II", prefix)
        assert head_len <= 1 << 20 and payload_len <= 16 << 20, (head_len, payload_len)
        header = json.loads(read_exact(fd, head_len, deadline))
        assert isinstance(header, dict), header
        return header, read_exact(fd, payload_len, deadline) if payload_len else b""

    def request(self, op, payload=b"", **args):
        """Sends one request and returns the answer (header, payload), checking its id."""
        self.next_id += 1
        self.send({"id": self.next_id, "op": op, **args}, payload)
        frame = self.recv()
        assert frame is not None, f"the plugin closed stdout instead of answering {op}"
        header, data = frame
        assert header.get("id") == self.next_id, (self.next_id, header)
        assert ("ok" in header) != ("error" in header), header
        return header, data

    def ok(self, op, payload=b"", **args):
        header, data = self.request(op, payload, **args)
        assert "ok" in header, f"{op} {args} failed: {header}"
        return (header["ok"], data) if op == "read" else header["ok"]

    def error(self, op, payload=b"", **args):
        header, _ = self.request(op, payload, **args)
        assert "error" in header, f"{op} {args} should fail: {header}"
        return header["error"]["kind"], header["error"]["message"]

    def close(self):
        """Ends the process; fails when it logged a traceback (a bug answered as `internal`)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        self.proc.stdin.close()
        self.proc.stdout.close()
        with self.proc.stderr:
            log = self.proc.stderr.read().decode(errors="replace")
        assert "Traceback" not in log, log


class HandshakeTest(unittest.TestCase):
    def test_hello_comes_first_with_the_declared_fields(self):
        p = Plugin()
        self.addCleanup(p.close)
        hello, payload = p.recv()
        self.assertEqual(hello["hello"], 1)
        self.assertEqual(hello["cookie"], COOKIE)
        self.assertEqual(hello["name"], "hellofs-py")
        self.assertIn("hellofs-py", hello["readme"])
        self.assertEqual(payload, b"")
        [param] = hello["config_params"]
        self.assertEqual((param["name"], param["type"], param["default"], param["required"]),
                         ("greeting", "string", "Hello", False))

    def test_it_runs_as_a_program_as_pfs_starts_it(self):
        # pfs runs the file itself (no interpreter named), in a cleared environment.
        self.assertTrue(os.access(PLUGIN, os.X_OK), "hellofs.py must be executable (mode 755)")
        p = Plugin(argv=[PLUGIN])
        self.addCleanup(p.close)
        self.assertEqual(p.recv()[0]["name"], "hellofs-py")
        self.assertIsNone(p.ok("ping"))

    def test_run_by_hand_it_refuses_with_one_line_and_no_frame(self):
        for env in (plugin_env(PFS_PLUGIN_MAGIC_COOKIE="wrong"), {"PATH": os.environ.get("PATH", "")}):
            proc = subprocess.run([sys.executable, PLUGIN], input=b"", capture_output=True,
                                  env=env, timeout=TIMEOUT)
            self.assertEqual(proc.returncode, 1)
            self.assertEqual(proc.stdout, b"")
            self.assertIn(b"is a pfs plugin", proc.stderr)
            self.assertEqual(proc.stderr.count(b"\n"), 1, proc.stderr)

    def test_a_server_without_protocol_1_is_refused(self):
        proc = subprocess.run([sys.executable, PLUGIN], input=b"", capture_output=True,
                              env=plugin_env(PFS_PLUGIN_PROTOCOL="2,3"), timeout=TIMEOUT)
        self.assertEqual((proc.returncode, proc.stdout), (1, b""))
        self.assertIn(b"2,3", proc.stderr)


class FsTest(unittest.TestCase):
    """A plugin past its hello and initialized with the default config."""

    def setUp(self):
        self.p = Plugin()
        self.addCleanup(self.p.close)
        self.assertEqual(self.p.recv()[0]["name"], "hellofs-py")
        self.caps = self.p.ok("initialize", config={"mount_path": "/py"})["capabilities"]

    def read(self, path, offset=0, size=1 << 20):
        return self.p.ok("read", path=path, offset=offset, size=size)

    def content(self, path):
        meta, data = self.read(path)
        self.assertTrue(meta["eof"])
        return data

    def write(self, path, data, offset=None, **flags):
        return self.p.ok("write", data, path=path, offset=offset, flags=flags)["written"]

    def test_initialize_offers_every_write_capability(self):
        for cap in ("write", "create", "mkdir", "remove", "rename", "chmod", "truncate"):
            self.assertIs(self.caps.get(cap), True, cap)

    def test_the_root_lists_hello(self):
        [entry] = self.p.ok("read_dir", path="/")
        self.assertEqual((entry["name"], entry["size"], entry["isDir"]), ("hello", len(HELLO), False))
        self.assertRegex(entry["modTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        root = self.p.ok("stat", path="/")
        self.assertTrue(root["isDir"])

    def test_read_whole_and_in_windows(self):
        self.assertEqual(self.content("/hello"), HELLO)
        self.assertEqual(self.read("/hello", offset=7, size=4), ({"eof": False}, b"from"))
        self.assertEqual(self.read("/hello", offset=12, size=100), ({"eof": True}, b"Python!\n"))
        self.assertEqual(self.read("/hello", offset=12, size=8), ({"eof": True}, b"Python!\n"))
        self.assertEqual(self.read("/hello", offset=100, size=10), ({"eof": True}, b""))

    def test_write_replaces_appends_and_writes_in_place(self):
        self.assertEqual(self.write("/hello", b"abc"), 3)
        self.assertEqual(self.content("/hello"), b"abc")
        self.assertEqual(self.write("/hello", b"def", append=True), 3)
        self.assertEqual(self.content("/hello"), b"abcdef")
        self.assertEqual(self.write("/hello", b"XY", offset=1), 2)
        self.assertEqual(self.content("/hello"), b"aXYdef")
        self.write("/hello", b"Z", offset=8)
        self.assertEqual(self.content("/hello"), b"aXYdef\0\0Z")
        self.write("/hello", b"new", offset=0, truncate=True)
        self.assertEqual(self.content("/hello"), b"new")

    def test_write_creates_only_when_the_flags_allow(self):
        self.assertEqual(self.write("/plain", b"x"), 1)  # no flag at all: PUT's default creates
        self.assertEqual(self.content("/plain"), b"x")
        kind, msg = self.p.error("write", b"y", path="/nope", offset=None, flags={"append": True})
        self.assertEqual(kind, "not_found")
        self.assertIn("/nope", msg)
        self.write("/made", b"z", create=True, exclusive=True)
        self.assertEqual(self.content("/made"), b"z")

    def test_a_file_past_the_declared_limit_is_refused_and_nothing_changes(self):
        limit = self.caps["max_file_size"]
        kind, _ = self.p.error("write", b"x", path="/far", offset=limit, flags={})
        self.assertEqual(kind, "payload_too_large")
        self.assertEqual(self.p.error("stat", path="/far")[0], "not_found")
        self.assertEqual(self.p.error("truncate", path="/hello", size=limit + 1)[0], "payload_too_large")
        self.assertEqual(self.content("/hello"), HELLO)

    def test_directories_nest_and_go_with_remove_all(self):
        self.assertIsNone(self.p.ok("mkdir", path="/d", mode=0o750))
        self.assertIsNone(self.p.ok("mkdir", path="/d/e", mode=0o755))
        self.write("/d/e/f", b"deep")
        self.assertEqual(self.content("/d/e/f"), b"deep")
        self.assertEqual([e["name"] for e in self.p.ok("read_dir", path="/d")], ["e"])
        self.assertEqual(self.p.ok("stat", path="/d")["mode"], 0o750)
        self.assertEqual(self.p.error("remove", path="/d")[0], "directory_not_empty")
        self.assertIsNone(self.p.ok("remove_all", path="/d"))
        self.assertEqual(self.p.error("stat", path="/d/e/f")[0], "not_found")
        self.assertEqual([e["name"] for e in self.p.ok("read_dir", path="/")], ["hello"])

    def test_rename_moves_the_content(self):
        self.p.ok("mkdir", path="/d", mode=0o755)
        self.assertIsNone(self.p.ok("rename", **{"from": "/hello", "to": "/d/greeting"}))
        self.assertEqual(self.p.error("stat", path="/hello")[0], "not_found")
        self.assertEqual(self.content("/d/greeting"), HELLO)
        kind, _ = self.p.error("rename", **{"from": "/d", "to": "/d/inside"})
        self.assertEqual(kind, "invalid_argument")

    def test_create_chmod_truncate_touch_remove(self):
        self.assertIsNone(self.p.ok("create", path="/c"))
        self.assertEqual(self.p.ok("stat", path="/c")["size"], 0)
        self.p.ok("chmod", path="/c", mode=0o600)
        self.assertEqual(self.p.ok("stat", path="/c")["mode"], 0o600)
        self.p.ok("truncate", path="/hello", size=5)
        self.assertEqual(self.content("/hello"), b"Hello")
        self.p.ok("touch", path="/t")
        self.assertEqual(self.p.ok("stat", path="/t")["size"], 0)
        self.p.ok("remove", path="/t")
        self.assertEqual(self.p.error("stat", path="/t")[0], "not_found")

    def test_errors_carry_the_spec_kinds(self):
        kind, msg = self.p.error("stat", path="/missing")
        self.assertEqual(kind, "not_found")
        self.assertIn("/missing", msg)
        self.assertEqual(self.p.error("read", path="/missing", offset=0, size=10)[0], "not_found")
        kind, msg = self.p.error("write", b"x", path="/hello", offset=None,
                                 flags={"create": True, "exclusive": True})
        self.assertEqual(kind, "already_exists")
        self.assertIn("/hello", msg)
        self.assertEqual(self.content("/hello"), HELLO)  # the refused write changed nothing
        self.assertEqual(self.p.error("create", path="/hello")[0], "already_exists")
        self.assertEqual(self.p.error("read", path="/", offset=0, size=10)[0], "is_a_directory")
        self.assertEqual(self.p.error("mkdir", path="/hello/x", mode=0o755)[0], "not_a_directory")
        self.assertEqual(self.p.error("read_dir", path="/hello")[0], "not_a_directory")
        self.assertEqual(self.p.error("remove", path="/")[0], "permission_denied")
        self.assertEqual(self.p.error("no_such_op", path="/")[0], "unsupported")
        self.assertEqual(self.p.error("stat")[0], "invalid_argument")  # no path

    def test_reconfigure_rewrites_hello_or_rejects_a_non_string(self):
        old = {"mount_path": "/py"}
        self.assertEqual(self.p.ok("reconfigure", old=old, new={"mount_path": "/py", "greeting": "Hi"}),
                         {"accepted": True})
        self.assertEqual(self.content("/hello"), b"Hi, from Python!\n")
        kind, msg = self.p.error("reconfigure", old={"greeting": "Hi"}, new={"greeting": 5})
        self.assertEqual(kind, "invalid_argument")
        self.assertIn("greeting", msg)
        self.assertEqual(self.content("/hello"), b"Hi, from Python!\n")

    def test_validate_judges_the_greeting(self):
        self.assertIsNone(self.p.ok("validate", config={"greeting": "Yo"}))
        self.assertEqual(self.p.error("validate", config={"greeting": ["Yo"]})[0], "invalid_argument")

    def test_shutdown_answers_then_exits_0(self):
        self.assertIsNone(self.p.ok("ping"))
        self.assertIsNone(self.p.ok("shutdown"))
        self.assertIsNone(self.p.recv())  # nothing after the answer: stdout ends
        self.assertEqual(self.p.proc.wait(timeout=TIMEOUT), 0)

    def test_end_of_stdin_ends_the_process(self):
        self.p.proc.stdin.close()
        self.assertIsNone(self.p.recv())
        self.assertEqual(self.p.proc.wait(timeout=TIMEOUT), 0)


class GreetingTest(unittest.TestCase):
    def test_initialize_takes_the_configured_greeting(self):
        p = Plugin()
        self.addCleanup(p.close)
        p.recv()
        p.ok("initialize", config={"mount_path": "/py", "greeting": "Bonjour"})
        self.assertEqual(p.ok("read", path="/hello", offset=0, size=100),
                         ({"eof": True}, b"Bonjour, from Python!\n"))
        self.assertEqual(p.error("initialize", config={"greeting": 1})[0], "invalid_argument")


if __name__ == "__main__":
    unittest.main()
