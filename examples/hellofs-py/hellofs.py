#!/usr/bin/env python3
"""hellofs-py: a pfs plugin written in Python, standard library only.

It speaks the pfs plugin protocol, version 1, on stdin/stdout: see docs/plugin-protocol.md, which
is the contract this file follows (frames, handshake, calls, error kinds). pfs starts it as an
executable plugin (isolation `process`), one process per mount.

It serves a small writable tree held in memory. At initialize the tree holds `/hello`, whose
content is "<greeting>, from Python!\\n"; `greeting` is the one config key (default "Hello"), and a
reconfigure with another greeting rewrites `/hello` in place. Everything is lost when the process
ends.

Only frames go to stdout; log lines go to stderr (pfs logs each one). The plugin answers requests
one by one and exits when stdin ends or after answering `shutdown`.
"""
import json
import os
import struct
import sys
import time
import traceback
from datetime import datetime, timezone

NAME = "hellofs-py"
COOKIE = "d3e5f1c2-pfs-plugin"
PROTOCOL = 1
MAX_HEADER, MAX_PAYLOAD = 1 << 20, 16 << 20
MAX_FILE_SIZE = 64 << 20  # an in-memory file never grows past this (payload_too_large)
CAPABILITIES = {"write": True, "create": True, "mkdir": True, "remove": True, "rename": True,
                "chmod": True, "truncate": True, "max_file_size": MAX_FILE_SIZE}
README = """# hellofs-py

An example plugin in Python, run in a process of its own. `/hello` says `<greeting>, from Python!`;
the tree is writable and kept in memory. `greeting` changes in place and rewrites `/hello`.
"""
CONFIG_PARAMS = [{"name": "greeting", "type": "string", "required": False, "default": "Hello",
                  "description": "what /hello says"}]
WORDS = {"not_found": "not found (no such file or directory)", "already_exists": "already exists",
         "not_a_directory": "not a directory", "is_a_directory": "is a directory",
         "directory_not_empty": "directory not empty", "permission_denied": "permission denied"}


class FsError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def fail(kind, path, words=None):
    """Raises an error about `path` worded as the Rust plugins word it: "<path>: <words>"."""
    raise FsError(kind, f"{path}: {words or WORDS[kind]}")


# ---- frames -------------------------------------------------------------------------------------

def read_exact(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def read_frame(stream):
    """The next (header dict, payload bytes), or None at end of input."""
    try:
        head_len, payload_len = struct.unpack(">II", read_exact(stream, 8))
    except EOFError:
        return None
    if head_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
        raise ValueError(f"frame too large: header {head_len}, payload {payload_len} bytes")
    header = json.loads(read_exact(stream, head_len))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header, read_exact(stream, payload_len)


def write_frame(stream, header, payload=b""):
    head = json.dumps(header, separators=(",", ":")).encode()
    stream.write(struct.pack(">II", len(head), len(payload)) + head + payload)
    stream.flush()


# ---- the tree -----------------------------------------------------------------------------------

class Node:
    def __init__(self, is_dir, mode, data=b""):
        self.is_dir, self.mode, self.mtime = is_dir, mode & 0o7777, time.time()
        self.children = {} if is_dir else None
        self.data = None if is_dir else bytearray(data)

    def info(self, name):
        return {"name": name, "size": 0 if self.is_dir else len(self.data), "mode": self.mode,
                "modTime": datetime.fromtimestamp(self.mtime, timezone.utc).isoformat().replace("+00:00", "Z"),
                "isDir": self.is_dir, "meta": {"Name": NAME, "Type": "dir" if self.is_dir else "file"}}


def split(path):
    parent, _, name = path.rpartition("/")
    return parent or "/", name


def check_size(path, size):
    if size > MAX_FILE_SIZE:
        raise FsError("payload_too_large", f"{path}: the file would reach {size} bytes, "
                                           f"over this mount's limit of {MAX_FILE_SIZE} bytes per file")


def greeting_of(config):
    if not isinstance(config, dict):
        raise FsError("invalid_argument", "invalid config: not a JSON object")
    greeting = config.get("greeting", "Hello")
    if not isinstance(greeting, str):
        raise FsError("invalid_argument", f"invalid config: greeting must be a string, got {json.dumps(greeting)}")
    return greeting


class HelloFs:
    def __init__(self, greeting):
        self.root = Node(True, 0o755)
        self.set_greeting(greeting)

    def set_greeting(self, greeting):
        self.greeting = greeting
        self.root.children["hello"] = Node(False, 0o644, f"{greeting}, from Python!\n".encode())

    def lookup(self, path):
        node = self.root
        for comp in filter(None, path.split("/")):
            if not node.is_dir:
                fail("not_a_directory", path)
            node = node.children.get(comp) or fail("not_found", path)
        return node

    def parent_dir(self, path):
        """The children of the directory that holds `path`, and the name in it."""
        parent, name = split(path)
        try:
            node = self.lookup(parent)
        except FsError as e:
            fail(e.kind, path)
        if not node.is_dir:
            fail("not_a_directory", path)
        return node.children, name

    def stat(self, path):
        return self.lookup(path).info(split(path)[1] or "/")

    def read_dir(self, path):
        node = self.lookup(path)
        if not node.is_dir:
            fail("not_a_directory", path)
        return [child.info(name) for name, child in sorted(node.children.items())]

    def read(self, path, offset, size):
        node = self.lookup(path)
        if node.is_dir:
            fail("is_a_directory", path)
        data = bytes(node.data[offset:offset + min(size, MAX_PAYLOAD)])
        return {"eof": offset + len(data) >= len(node.data)}, data

    def write(self, path, offset, flags, data):
        """PUT /api/v1/files semantics (fs-core's WritePlan): no flag at all creates a missing file,
        no offset and no append replaces the content, append writes at the end."""
        flag = {k: bool(flags.get(k)) for k in ("append", "create", "exclusive", "truncate")}
        if path == "/":
            fail("is_a_directory", path)
        children, name = self.parent_dir(path)
        node = children.get(name)
        if node is not None and node.is_dir:
            fail("is_a_directory", path)
        if node is None and not (flag["create"] or not any(flag.values())):
            fail("not_found", path)
        if node is not None and flag["create"] and flag["exclusive"]:
            fail("already_exists", path)
        current = len(node.data) if node else 0
        keep = 0 if flag["truncate"] or (offset is None and not flag["append"]) else current
        at = keep if flag["append"] else (offset or 0)
        check_size(path, at + len(data))
        # Checked: from here on nothing fails. Keep the first `keep` bytes, zero-fill up to `at`.
        if node is None:
            node = children[name] = Node(False, 0o644)
        del node.data[keep:]
        if data:
            node.data.extend(bytes(max(0, at - keep)))
            node.data[at:at + len(data)] = data
        node.mtime = time.time()
        return {"written": len(data)}

    def create(self, path, node=None):
        if path == "/":
            fail("already_exists", path)
        children, name = self.parent_dir(path)
        if name in children:
            fail("already_exists", path)
        children[name] = node or Node(False, 0o644)

    def mkdir(self, path, mode):
        self.create(path, Node(True, mode))

    def remove(self, path, recursive=False):
        if path == "/":
            if not recursive:
                fail("permission_denied", "/", "permission denied (cannot remove the mount root)")
            self.root.children.clear()
            return
        children, name = self.parent_dir(path)
        node = children.get(name) or fail("not_found", path)
        if node.is_dir and node.children and not recursive:
            fail("directory_not_empty", path)
        del children[name]

    def rename(self, src, dst):
        if src == "/" or dst == "/":
            fail("invalid_argument", src, "cannot rename the mount root")
        if dst.startswith(src + "/"):
            fail("invalid_argument", src, f"cannot move {src} into its own subtree ({dst})")
        node = self.lookup(src)
        if src == dst:
            return
        siblings, name = self.parent_dir(dst)
        target = siblings.get(name)
        if target is not None:
            if target.is_dir and not node.is_dir:
                fail("is_a_directory", dst)
            if node.is_dir and not target.is_dir:
                fail("not_a_directory", dst)
            if target.is_dir and target.children:
                fail("directory_not_empty", dst)
        children, old_name = self.parent_dir(src)
        siblings[name] = children.pop(old_name)
        node.mtime = time.time()

    def chmod(self, path, mode):
        self.lookup(path).mode = mode & 0o7777

    def truncate(self, path, size):
        check_size(path, size)
        node = self.lookup(path)
        if node.is_dir:
            fail("is_a_directory", path)
        del node.data[size:]
        node.data.extend(bytes(size - len(node.data)))
        node.mtime = time.time()

    def touch(self, path):
        if path != "/":
            children, name = self.parent_dir(path)
            if name not in children:
                children[name] = Node(False, 0o644)
                return
        self.lookup(path).mtime = time.time()

    def reconfigure(self, new):
        greeting = greeting_of(new)
        if greeting != self.greeting:
            self.set_greeting(greeting)
        return {"accepted": True}


# ---- calls --------------------------------------------------------------------------------------

def arg(req, key, kind=str):
    value = req.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
        raise FsError("invalid_argument", f"the request has no valid '{key}'")
    return value


def call(fs, req, payload):
    """The `ok` value and payload of one request; raises FsError for an `error` answer."""
    op = req.get("op")
    if op == "validate":
        greeting_of(req.get("config"))
        return None
    if op in ("ping", "shutdown"):
        return None
    if fs is None:
        raise FsError("unavailable", f"{op}: the plugin is not initialized")
    path = lambda: arg(req, "path")
    ops = {
        "stat": lambda: fs.stat(path()),
        "read_dir": lambda: fs.read_dir(path()),
        "read": lambda: fs.read(path(), arg(req, "offset", int), arg(req, "size", int)),
        "write": lambda: fs.write(path(), None if req.get("offset") is None else arg(req, "offset", int),
                                  req.get("flags") or {}, payload),
        "create": lambda: fs.create(path()),
        "mkdir": lambda: fs.mkdir(path(), arg(req, "mode", int)),
        "remove": lambda: fs.remove(path()),
        "remove_all": lambda: fs.remove(path(), recursive=True),
        "rename": lambda: fs.rename(arg(req, "from"), arg(req, "to")),
        "chmod": lambda: fs.chmod(path(), arg(req, "mode", int)),
        "truncate": lambda: fs.truncate(path(), arg(req, "size", int)),
        "touch": lambda: fs.touch(path()),
        "reconfigure": lambda: fs.reconfigure(req.get("new")),
    }
    if op not in ops:
        raise FsError("unsupported", f"operation not supported: '{op}'")
    return ops[op]()


def main():
    if os.environ.get("PFS_PLUGIN_MAGIC_COOKIE") != COOKIE:
        print(f"{NAME} is a pfs plugin: pfs-server starts it (mount it through external_plugins); "
              "it is not meant to be run by hand", file=sys.stderr)
        return 1
    if str(PROTOCOL) not in os.environ.get("PFS_PLUGIN_PROTOCOL", str(PROTOCOL)).split(","):
        print(f"{NAME} speaks protocol version {PROTOCOL}; the server speaks "
              f"{os.environ['PFS_PLUGIN_PROTOCOL']}", file=sys.stderr)
        return 1
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the channel
    write_frame(stdout, {"hello": PROTOCOL, "cookie": COOKIE, "name": NAME, "readme": README,
                         "config_params": CONFIG_PARAMS})
    fs = None
    while True:
        try:
            frame = read_frame(stdin)
        except (ValueError, EOFError) as e:  # a broken frame: nothing sensible can follow
            print(f"bad frame from the server: {e or 'truncated'}", file=sys.stderr)
            return 2
        if frame is None:
            return 0
        req, payload = frame
        answer, data = {"id": req.get("id")}, b""
        try:
            if req.get("op") == "initialize":
                fs = HelloFs(greeting_of(req.get("config")))
                answer["ok"] = {"capabilities": CAPABILITIES}
            else:
                ok = call(fs, req, payload)
                if isinstance(ok, tuple):
                    ok, data = ok
                answer["ok"] = ok
        except FsError as e:
            answer["error"] = {"kind": e.kind, "message": str(e)}
        except Exception as e:  # a bug here must cost one request, not the mount
            traceback.print_exc()
            answer["error"] = {"kind": "internal", "message": f"{req.get('op')}: {e!r}"}
        write_frame(stdout, answer, data)
        if req.get("op") == "shutdown":
            return 0


if __name__ == "__main__":
    sys.exit(main())
