"""The test's disk-using echo server in Python, line for line the Rust ``DiskEcho`` of
workloads/tests/subprocess.rs: the two must leave the same trace."""

import os
import struct
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python")
)

import orrery_child  # noqa: E402
from orrery_child import DiskError  # noqa: E402

MESSAGE = struct.Struct(">BQQ")


class DiskEcho(orrery_child.Process):
    def __init__(self):
        self.appends = 0

    def on_start(self, node):
        try:
            length = node.length_bytes("log") if node.exists("log") else None
        except DiskError:
            length = None
        if length is None:
            length = 0
            try:
                node.create("log")
                node.sync_directory()
            except DiskError:
                pass
        node.record("boot", {"length": length, "me": orrery_child.NodeRef(node.id)})

    def on_message(self, node, sender, message):
        tag, request_id, value = MESSAGE.unpack(message)
        if tag != 0:
            return
        try:
            node.append("log", message)
        except DiskError as error:
            node.record("append_failed", {"kind": error.kind})
        self.appends += 1
        if self.appends % 5 == 0:
            try:
                node.submit({"op": "sync", "path": "log"})
            except DiskError as error:
                node.record("submit_failed", {"kind": error.kind})
        node.send(sender, MESSAGE.pack(1, request_id, value))

    def on_disk(self, node, ticket, result):
        node.record("synced", {"ticket": ticket, "ok": not isinstance(result, DiskError)})


if __name__ == "__main__":
    orrery_child.run(lambda init: DiskEcho())
