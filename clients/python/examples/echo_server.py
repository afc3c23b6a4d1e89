"""The echo workload's server in Python, as a child process of the world.

Messages use the echo workload's codec (``EchoCodec`` in workloads/src/echo.rs): 17 bytes,
a tag (0 request, 1 reply), then the id and the value as big-endian u64s. Run it from a
scenario's server node with ``command: [python3, clients/python/examples/echo_server.py]``;
``--corrupt-replies`` plants the workload's bug (every 50th reply off by one).
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import orrery_child  # noqa: E402

MESSAGE = struct.Struct(">BQQ")
REQUEST, REPLY = 0, 1


class EchoServer(orrery_child.Process):
    def __init__(self, corrupt_replies):
        self.replies = 0
        self.corrupt_replies = corrupt_replies

    def on_message(self, node, sender, message):
        tag, request_id, value = MESSAGE.unpack(message)
        if tag != REQUEST:
            return
        self.replies += 1
        corrupt = self.corrupt_replies and self.replies % 50 == 0
        node.send(sender, MESSAGE.pack(REPLY, request_id, value + int(corrupt)))


if __name__ == "__main__":
    corrupt_replies = "--corrupt-replies" in sys.argv[1:]
    orrery_child.run(lambda init: EchoServer(corrupt_replies))
