"""A client of Orrery's control protocol (docs/CONTROL_PROTOCOL.md), standard library only.

    from orrery_ctl import Client
    with Client.connect("127.0.0.1:7000") as client:
        client.call("start")
        status = client.call("step", events=1000)
        print(status["events"], hex(status["fingerprint"]))
        for item in client.stream("status-stream", every_nanos=10_000_000, items_max=3):
            print(item["time_nanos"])

Replies are dicts with the protocol's field names; an error reply raises ControlError with
its code and message. Fields this client does not know (from a newer server) are skipped;
appended fields an older server lacks take their defaults, as the protocol says.
"""

import socket
import struct

PROTOCOL_VERSION = 1
FRAME_BYTES_MAX = 1 << 20
HEADER_BYTES = 10
ALL_NODES = 0xFFFFFFFF

RESPONSE, ERROR, STREAM_ITEM, STREAM_END, CANCEL = 0x0100, 0x0200, 0x0400, 0x0800, 0x1000
OP_MASK = 0x00FF

# The registry (sim/src/control/ops.rs): name -> (code, request fields, reply kind).
# Request fields are (name, type) in wire order; a trailing default marks an appended field.
OPS = {
    "hello": (0x01, [("protocol", "u32"), ("token", "str")], "hello"),
    "ping": (0x02, [], "ping"),
    "version": (0x03, [], "version"),
    "start": (0x04, [], "status"),
    "stop": (0x05, [], "stop"),
    "health": (0x06, [], "health"),
    "wait-healthy": (0x07, [("budget_nanos", "u64")], "health"),
    "status": (0x08, [], "status"),
    "status-stream": (0x09, [("every_events", "u64", 0), ("every_nanos", "u64", 0),
                             ("items_max", "u64", 0)], "status"),
    "pause": (0x0A, [("node", "u32")], "status"),
    "resume": (0x0B, [("node", "u32")], "status"),
    "restart": (0x0C, [("node", "u32")], "status"),
    "add-node": (0x0D, [("node", "u32")], "status"),
    "remove-node": (0x0E, [("node", "u32")], "status"),
    "step": (0x10, [("events", "u64")], "status"),
    "run-until": (0x11, [("time_nanos", "u64"), ("check", "opt_str", None)], "status"),
    "partition": (0x12, [("groups", "groups"), ("duration_nanos", "u64", 0)], "status"),
    "heal": (0x13, [], "status"),
    "set-link": (0x14, [("from", "u32"), ("to", "u32"), ("latency_nanos", "u64"),
                        ("loss_probability", "f64", 0.0)], "status"),
    "clock-jump": (0x15, [("node", "u32"), ("offset_nanos", "i64"), ("drift_ppm", "i64", 0)],
                   "status"),
    "disk-fault": (0x16, [("node", "u32"), ("read_error_probability", "f64", 0.0),
                          ("write_error_probability", "f64", 0.0),
                          ("read_corruption_probability", "f64", 0.0),
                          ("crash_at_operation", "u64", 0)], "status"),
    "snapshot-save": (0x20, [("name", "str")], "snapshot"),
    "snapshot-load": (0x21, [("name", "str")], "status"),
    "snapshot-remove": (0x22, [("name", "str")], "snapshot"),
    "snapshot-list": (0x23, [], "snapshots"),
    "shutdown": (0x30, [], "done"),
}

ERROR_CODES = {1: "bad_frame", 2: "unknown_op", 3: "bad_request", 4: "unsupported",
               5: "invalid_state", 6: "not_found", 7: "cancelled", 8: "unauthorized",
               9: "failed"}


class ControlError(Exception):
    """An error reply: `code` (a number), `name` (`not_found`...) and `message`."""

    def __init__(self, code, message):
        self.code = code
        self.name = ERROR_CODES.get(code, "other")
        self.message = message
        super().__init__(f"{self.name}: {message}")


class WireError(Exception):
    """A reply that does not decode."""


class Writer:
    def __init__(self):
        self.parts = []

    def put(self, kind, value):
        if kind == "u8":
            self.parts.append(struct.pack("<B", value))
        elif kind == "u16":
            self.parts.append(struct.pack("<H", value))
        elif kind == "u32":
            self.parts.append(struct.pack("<I", value))
        elif kind == "u64":
            self.parts.append(struct.pack("<Q", value))
        elif kind == "i64":
            self.parts.append(struct.pack("<q", value))
        elif kind == "f64":
            self.parts.append(struct.pack("<d", float(value)))
        elif kind == "str":
            data = value.encode("utf-8")
            self.parts.append(struct.pack("<I", len(data)) + data)
        elif kind == "opt_str":
            if value is None:
                self.put("u8", 0)
            else:
                self.put("u8", 1)
                self.put("str", value)
        elif kind == "groups":
            self.put("u32", len(value))
            for group in value:
                self.put("u32", len(group))
                for node in group:
                    self.put("u32", node)
        else:
            raise ValueError(f"unknown field type {kind}")

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def at_end(self):
        return self.at >= len(self.data)

    def take(self, n):
        if len(self.data) - self.at < n:
            raise WireError(f"expected {n} bytes at byte {self.at}, "
                            f"only {len(self.data) - self.at} remain")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def get(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def u16(self):
        return self.get("<H")

    def u32(self):
        return self.get("<I")

    def u64(self):
        return self.get("<Q")

    def bool(self):
        value = self.get("<B")
        if value > 1:
            raise WireError(f"expected a boolean, found {value}")
        return value == 1

    def str(self):
        return self.take(self.u32()).decode("utf-8")

    def count(self, item_bytes_min):
        count = self.u32()
        if count * item_bytes_min > len(self.data) - self.at:
            raise WireError(f"a list claims {count} items but only "
                            f"{len(self.data) - self.at} bytes remain")
        return count

    def list(self, item_bytes_min, item):
        return [item(self) for _ in range(self.count(item_bytes_min))]

    def record(self):
        return Reader(self.take(self.u32()))

    def map_u64(self):
        result = {}
        for _ in range(self.count(12)):
            key = self.str()
            result[key] = self.u64()
        if list(result) != sorted(result):
            raise WireError("map keys out of order")
        return result


def read_node(r):
    r = r.record()
    return {"id": r.u32(), "name": r.str(), "status": r.str()}


def read_verdict(r):
    r = r.record()
    return {"check": r.str(), "kind": r.str(), "verdict": r.str(), "message": r.str()}


def read_status(r):
    status = {"state": r.str(), "time_nanos": r.u64(), "events": r.u64(),
              "fingerprint": r.u64(), "outcome": r.str(), "nodes": r.list(4, read_node)}
    status["counters"] = {} if r.at_end() else r.map_u64()
    return status


def read_snapshot(r):
    return {"name": r.str(), "events": r.u64(), "time_nanos": r.u64(),
            "fingerprint": r.u64(), "operations": r.u64()}


def decode_reply(kind, body):
    r = Reader(body)
    if kind == "hello":
        return {"protocol": r.u32()}
    if kind == "ping":
        return {"pid": r.u32(), "world_id": r.str(), "seed": r.u64(), "time_nanos": r.u64()}
    if kind == "version":
        return {"protocol": r.u32(), "protocol_min": r.u32(), "software": r.str(),
                "backend": r.str(), "ops": r.list(2, lambda r: r.u16())}
    if kind == "status":
        return read_status(r)
    if kind == "stop":
        return {"status": read_status(r.record()), "verdicts": r.list(4, read_verdict)}
    if kind == "health":
        return {"healthy": r.bool(), "time_nanos": r.u64(), "nodes": r.list(4, read_node),
                "failing": r.list(4, read_verdict)}
    if kind == "snapshot":
        return read_snapshot(r)
    if kind == "snapshots":
        return r.list(4, lambda r: read_snapshot(r.record()))
    if kind == "done":
        return {}
    raise WireError(f"unknown reply kind {kind}")


def encode_request(op, fields):
    if op not in OPS:
        raise ValueError(f"unknown operation `{op}` (known: {', '.join(OPS)})")
    _, spec, _ = OPS[op]
    w = Writer()
    for field in spec:
        name, kind = field[0], field[1]
        if name in fields:
            value = fields[name]
        elif len(field) == 3:
            value = field[2]
        else:
            raise ValueError(f"{op} needs `{name}`")
        w.put(kind, value)
    unknown = set(fields) - {field[0] for field in spec}
    if unknown:
        raise ValueError(f"{op} has no field {', '.join(sorted(unknown))}")
    return w.bytes()


class Client:
    """One connection; calls are made one at a time (the protocol allows more; this client
    keeps to one so it stays small)."""

    def __init__(self, sock):
        self.sock = sock
        self.next_id = 1

    @classmethod
    def connect(cls, address, token=None, timeout=60.0):
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock)
        client.call("hello", protocol=PROTOCOL_VERSION, token=token or "")
        return client

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_frame(self, code, request_id, body):
        header = struct.pack("<IHQ", HEADER_BYTES + len(body), code, request_id)
        self.sock.sendall(header + body)

    def read_exact(self, n):
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(left)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read_frame(self):
        (length,) = struct.unpack("<I", self.read_exact(4))
        if length > FRAME_BYTES_MAX or length < HEADER_BYTES:
            raise WireError(f"a frame of {length} bytes")
        code, request_id = struct.unpack("<HQ", self.read_exact(HEADER_BYTES))
        return code & OP_MASK, code & ~OP_MASK & 0xFFFF, request_id, \
            self.read_exact(length - HEADER_BYTES)

    def send(self, op, **fields):
        """Sends a request; returns its id (read its frames with `replies`)."""
        request_id = self.next_id
        self.next_id += 1
        self.send_frame(OPS[op][0], request_id, encode_request(op, fields))
        return request_id

    def cancel(self, request_id, op="step"):
        """Asks the server to cancel the request `request_id`."""
        self.send_frame(OPS[op][0] | CANCEL, request_id, b"")

    def replies(self, op, request_id):
        """Yields ("item", status) for stream items, then ("end", end) or ("reply", reply)."""
        kind = OPS[op][2]
        while True:
            _, flags, got_id, body = self.read_frame()
            if got_id != request_id:
                raise WireError(f"a reply to request {got_id} while waiting for {request_id}")
            if flags & ERROR:
                r = Reader(body)
                raise ControlError(r.u16(), r.str())
            if flags & STREAM_END:
                r = Reader(body)
                yield "end", {"reason": r.str(), "items": r.u64()}
                return
            if flags & STREAM_ITEM:
                yield "item", decode_reply(kind, body)
                continue
            yield "reply", decode_reply(kind, body)
            return

    def call(self, op, **fields):
        """One request and its reply (a stream's end, for `status-stream`)."""
        last = None
        for _, reply in self.replies(op, self.send(op, **fields)):
            last = reply
        return last

    def stream(self, op, **fields):
        """The items of a stream; its end is in `self.stream_end` afterwards."""
        self.stream_end = None
        for tag, reply in self.replies(op, self.send(op, **fields)):
            if tag == "item":
                yield reply
            else:
                self.stream_end = reply
