"""Run a node of an Orrery simulation as a Python child process.

Orrery's world spawns the node's command and talks to it in lockstep over stdin and
stdout: it sends one event, the child answers with its effects and ``done``, and nothing
else happens in the world meanwhile (docs/SUBPROCESS_PROTOCOL.md is the specification).
This module is the child side, with the standard library only: subclass ``Process``,
act through the ``Node`` passed to every callback, and call ``run``::

    import orrery_child

    class Echo(orrery_child.Process):
        def on_message(self, node, sender, message):
            node.send(sender, message)            # message bytes, as the codec made them

    if __name__ == "__main__":
        orrery_child.run(lambda identity: Echo())

and in the scenario: ``- {name: s0, role: server, command: [python3, echo.py]}``.

Determinism is the child's part of the bargain: take randomness from ``node.rng`` (seeded
from the run's seed, the node and its incarnation), time from ``node.now``, and nothing
from the environment. ``print`` goes to stderr, which the world records in its trace.
"""

import os
import random
import struct
import sys

__all__ = [
    "DiskError",
    "Node",
    "NodeRef",
    "Process",
    "ProtocolError",
    "QueueFull",
    "decode_cbor",
    "encode_cbor",
    "ms",
    "run",
    "seconds",
]

# The longest frame accepted from the world.
FRAME_MAX_BYTES = 1 << 30
# The exit code of a child that received something that is not the protocol (EX_SOFTWARE).
EXIT_PROTOCOL_ERROR = 70
DEPTH_MAX = 32


def ms(count):
    """``count`` milliseconds in nanoseconds, the protocol's unit of time."""
    return int(count * 1_000_000)


def seconds(count):
    """``count`` seconds in nanoseconds."""
    return int(count * 1_000_000_000)


class ProtocolError(Exception):
    """Something on the pipe that is not the protocol."""


class QueueFull(Exception):
    """``try_send`` found the link's queue full."""


class DiskError(Exception):
    """A failed disk operation, as the simulated disk reports it.

    ``kind`` is one of ``not_found``, ``already_exists``, ``io``, ``no_space``,
    ``queue_full``, ``crashed``; ``path`` and ``operation`` are set when the kind has them.
    """

    def __init__(self, kind, path=None, operation=None):
        super().__init__(kind if path is None else f"{kind}: {path}")
        self.kind = kind
        self.path = path
        self.operation = operation


class NodeRef(int):
    """A node id as a record or observation field (traced as ``n3``, not ``3``)."""


# ---------------------------------------------------------------------------------------
# CBOR: the subset of RFC 8949 the protocol uses (integers, byte and text strings, arrays,
# maps with distinct text keys, false, true, null; definite lengths only).


def _head(out, major, argument):
    if argument < 24:
        out.append((major << 5) | argument)
    elif argument < 0x100:
        out += bytes(((major << 5) | 24, argument))
    elif argument < 0x10000:
        out.append((major << 5) | 25)
        out += struct.pack(">H", argument)
    elif argument < 0x100000000:
        out.append((major << 5) | 26)
        out += struct.pack(">I", argument)
    elif argument < 0x10000000000000000:
        out.append((major << 5) | 27)
        out += struct.pack(">Q", argument)
    else:
        raise ValueError(f"integer too large for CBOR: {argument}")


def _encode(out, value):
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, NodeRef):
        _encode(out, {"node": int(value)})
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _head(out, 2, len(data))
        out += data
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _head(out, 3, len(data))
        out += data
    elif isinstance(value, (list, tuple)):
        _head(out, 4, len(value))
        for item in value:
            _encode(out, item)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"a map key must be text, not {type(key).__name__}")
            _encode(out, key)
            _encode(out, item)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def encode_cbor(value):
    """The canonical encoding of ``value`` (None, bool, int, bytes, str, list, dict)."""
    out = bytearray()
    _encode(out, value)
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, count):
        if count > len(self.data) - self.at:
            raise ProtocolError(f"CBOR item ends early, at byte {len(self.data)}")
        start = self.at
        self.at += count
        return self.data[start:self.at]

    def head(self):
        at = self.at
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, initial, info
        widths = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in widths:
            raise ProtocolError(f"unsupported CBOR item 0x{initial:02x} at byte {at}")
        return major, initial, int.from_bytes(self.take(widths[info]), "big")

    def text(self, length, at):
        try:
            return bytes(self.take(length)).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"CBOR text that is not UTF-8 at byte {at}") from None

    def item(self, depth):
        at = self.at
        major, initial, argument = self.head()
        if major == 0:
            return argument
        if major == 1:
            if argument >= 1 << 63:
                raise ProtocolError(f"a negative integer below i64 at byte {at}")
            return -1 - argument
        if major == 2:
            return bytes(self.take(argument))
        if major == 3:
            return self.text(argument, at)
        if major in (4, 5) and depth >= DEPTH_MAX:
            raise ProtocolError(f"CBOR nesting deeper than {DEPTH_MAX} at byte {at}")
        if major == 4:
            if argument > len(self.data) - self.at:
                raise ProtocolError(f"CBOR item ends early, at byte {len(self.data)}")
            return [self.item(depth + 1) for _ in range(argument)]
        if major == 5:
            if argument * 2 > len(self.data) - self.at:
                raise ProtocolError(f"CBOR item ends early, at byte {len(self.data)}")
            result = {}
            for _ in range(argument):
                key_at = self.at
                key_major, _, key_length = self.head()
                if key_major != 3:
                    raise ProtocolError(f"a CBOR map key that is not text at byte {key_at}")
                key = self.text(key_length, key_at)
                if key in result:
                    raise ProtocolError(f"a CBOR map key repeated at byte {key_at}")
                result[key] = self.item(depth + 1)
            return result
        if initial == 0xF4:
            return False
        if initial == 0xF5:
            return True
        if initial == 0xF6:
            return None
        raise ProtocolError(f"unsupported CBOR item 0x{initial:02x} at byte {at}")


def decode_cbor(data):
    """Exactly one item of the subset filling ``data``."""
    reader = _Reader(memoryview(data))
    item = reader.item(0)
    if reader.at != len(data):
        raise ProtocolError(f"{len(data) - reader.at} bytes follow the CBOR item")
    return item


# ---------------------------------------------------------------------------------------
# Frames: a 4-byte big-endian length, then one CBOR map.


class _Pipes:
    """stdin and a private copy of stdout; fd 1 becomes stderr so prints cannot corrupt
    the protocol."""

    def __init__(self):
        sys.stdout.flush()
        self.output = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.input = 0
        self.buffer = bytearray()
        self.pending = bytearray()

    def push(self, message):
        payload = encode_cbor(message)
        self.pending += struct.pack(">I", len(payload)) + payload

    def flush(self):
        data = memoryview(bytes(self.pending))
        self.pending.clear()
        while data:
            written = os.write(self.output, data)
            data = data[written:]

    def receive(self):
        """The next message, or None at the end of stdin."""
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if length > FRAME_MAX_BYTES:
                    raise ProtocolError(f"a frame of {length} bytes exceeds the maximum")
                if len(self.buffer) >= 4 + length:
                    payload = bytes(self.buffer[4 : 4 + length])
                    del self.buffer[: 4 + length]
                    message = decode_cbor(payload)
                    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                        raise ProtocolError("a message must be a map with a `type`")
                    return message
            chunk = os.read(self.input, 65536)
            if not chunk:
                if self.buffer:
                    raise ProtocolError("stdin ended inside a frame")
                return None
            self.buffer += chunk


# ---------------------------------------------------------------------------------------
# The node authority and the process.


class Node:
    """What a process acts through: its own node, clock, randomness, disk and trace.

    Times are integers in nanoseconds (``ms`` and ``seconds`` make them). Effects are sent
    in the order made; calls that return something (``try_send`` and the disk operations)
    wait for the world's answer.
    """

    def __init__(self, pipes, init):
        self._pipes = pipes
        self.id = init["node"]
        self.n_nodes = init["n_nodes"]
        self.name = init["name"]
        self.role = init["role"]
        self.seed = init["seed"]
        self.incarnation = init["incarnation"]
        # Seeded by text: Python hashes it with SHA-512, the same in every process.
        self.rng = random.Random(f"orrery:{self.seed}:{self.id}:{self.incarnation}")
        self.ended = None
        self._begin(init)

    def _begin(self, event):
        self.now = event["now"]
        self.true_now = event["true_now"]
        self._timer_next = event["timer_next"]

    def _call(self, message):
        self._pipes.push(message)
        self._pipes.flush()
        reply = self._pipes.receive()
        if reply is None:
            sys.exit(0)
        if reply["type"] != "reply":
            raise ProtocolError(f"expected a reply, got `{reply['type']}`")
        return reply

    # Messages and timers.

    def send(self, to, message):
        """Sends ``message`` (bytes) to node ``to``; drops are silent, as on a network."""
        self._pipes.push({"type": "send", "to": to, "message": bytes(message)})

    def try_send(self, to, message):
        """Like ``send``; raises ``QueueFull`` if the link refuses when full."""
        reply = self._call({"type": "try_send", "to": to, "message": bytes(message)})
        if "error" in reply:
            raise QueueFull(to)

    def set_timer(self, after, tag=0):
        """A timer firing after ``after`` ns of this node's clock; returns its id."""
        timer = self._timer_next
        self._timer_next += 1
        self._pipes.push({"type": "set_timer", "after": int(after), "tag": int(tag)})
        return timer

    def cancel_timer(self, timer):
        self._pipes.push({"type": "cancel_timer", "timer": timer})

    # The trace.

    def record(self, kind, fields=None):
        """A trace event of this node; ``fields`` maps names to int, bool, str or NodeRef."""
        self._pipes.push({"type": "record", "kind": kind, "fields": dict(fields or {})})

    def observe(self, kind, fields=None):
        """An observation: what the protocol claims happened, for the checks."""
        self._pipes.push({"type": "observe", "kind": kind, "fields": dict(fields or {})})

    def sometimes(self, condition, label):
        """A point some run should reach."""
        self._pipes.push({"type": "sometimes", "label": label, "condition": bool(condition)})

    def hold_role(self, role, held=True):
        """Announces that this node holds ``role`` now (or no longer)."""
        self._pipes.push({"type": "hold_role", "role": role, "held": bool(held)})

    # Ending.

    def exit(self, code=0):
        """Ends the node cleanly with ``code``; nothing more of this callback takes effect."""
        self._pipes.push({"type": "exit", "code": int(code)})
        if self.ended is None:
            self.ended = int(code) & 0xFF

    def abort(self, reason):
        """Aborts the node, as a server does on an unrecoverable error."""
        self._pipes.push({"type": "abort", "reason": str(reason)})
        if self.ended is None:
            self.ended = 1

    # The disk: immediate operations return their result or raise DiskError.

    def _disk(self, op):
        reply = self._call({"type": "disk", "op": op})
        if "error" in reply:
            raise _disk_error(reply["error"])
        ((_, value),) = reply["ok"].items()
        return value

    def create(self, path):
        self._disk({"op": "create", "path": path})

    def exists(self, path):
        return self._disk({"op": "exists", "path": path})

    def write(self, path, offset_bytes, data):
        self._disk({"op": "write", "path": path, "offset_bytes": offset_bytes, "data": bytes(data)})

    def append(self, path, data):
        """Appends and returns the offset the data starts at."""
        return self._disk({"op": "append", "path": path, "data": bytes(data)})

    def read(self, path, offset_bytes, length_bytes):
        return self._disk(
            {"op": "read", "path": path, "offset_bytes": offset_bytes, "length_bytes": length_bytes}
        )

    def length_bytes(self, path):
        return self._disk({"op": "length", "path": path})

    def truncate(self, path, length_bytes):
        self._disk({"op": "truncate", "path": path, "length_bytes": length_bytes})

    def delete(self, path):
        self._disk({"op": "delete", "path": path})

    def rename(self, source, target):
        self._disk({"op": "rename", "from": source, "to": target})

    def list(self, prefix=""):
        return self._disk({"op": "list", "prefix": prefix})

    def sync(self, path):
        self._disk({"op": "sync", "path": path})

    def sync_directory(self):
        self._disk({"op": "sync_directory"})

    def submit(self, op):
        """Submits a disk operation (a map such as ``{"op": "sync", "path": "wal"}``); it
        completes later in ``Process.on_disk`` with the returned ticket."""
        reply = self._call({"type": "submit", "op": op})
        if "error" in reply:
            raise _disk_error(reply["error"])
        return reply["ok"]["ticket"]


def _disk_error(error):
    return DiskError(error["kind"], error.get("path"), error.get("operation"))


class Process:
    """A node's logic: override the callbacks it needs."""

    def on_start(self, node):
        """The node booted (or rebooted: ``node.incarnation`` counts)."""

    def on_message(self, node, sender, message):
        """``message`` (bytes) arrived from node ``sender``."""

    def on_timer(self, node, timer, tag):
        """A timer set with ``node.set_timer`` fired."""

    def on_disk(self, node, ticket, result):
        """A submitted disk operation completed: ``result`` is its output (a one-entry
        dict such as ``{"done": None}``) or a ``DiskError``."""


def run(factory):
    """Runs the process ``factory(init)`` builds (``init``: the init message as a dict)
    until the world is done with it; exits the interpreter with the node's code."""
    pipes = _Pipes()
    try:
        sys.exit(_serve(pipes, factory))
    except ProtocolError as error:
        print(f"orrery child: protocol error: {error}", file=sys.stderr)
        sys.exit(EXIT_PROTOCOL_ERROR)


def _serve(pipes, factory):
    init = pipes.receive()
    if init is None or init["type"] == "shutdown":
        return 0
    if init["type"] != "init":
        raise ProtocolError(f"expected init, got `{init['type']}`")
    node = Node(pipes, init)
    process = factory(init)
    process.on_start(node)
    while True:
        sys.stderr.flush()
        pipes.push({"type": "done"})
        pipes.flush()
        if node.ended is not None:
            return node.ended
        event = pipes.receive()
        if event is None or event["type"] == "shutdown":
            return 0
        kind = event["type"]
        if kind == "deliver":
            node._begin(event)
            process.on_message(node, event["from"], event["message"])
        elif kind == "timer":
            node._begin(event)
            process.on_timer(node, event["timer"], event["tag"])
        elif kind == "disk_done":
            node._begin(event)
            result = event["result"]
            outcome = _disk_error(result["error"]) if "error" in result else result["ok"]
            process.on_disk(node, event["ticket"], outcome)
        else:
            raise ProtocolError(f"expected an event, got `{kind}`")
