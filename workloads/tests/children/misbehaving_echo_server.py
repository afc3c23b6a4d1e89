"""An echo server that serves ``--after N`` requests, then breaks the protocol one way
(``--mode``), for the tests of how a child's ending reaches its node; ``--mode dribble``
instead writes its first N steps a byte at a time and keeps serving."""

import argparse
import os
import signal
import struct
import sys
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python")
)

import orrery_child  # noqa: E402

MESSAGE = struct.Struct(">BQQ")


def misbehave(node, mode):
    output = node._pipes.output
    if mode == "exit0":
        sys.exit(0)
    elif mode == "exit3":
        os._exit(3)
    elif mode == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "close_stdout":
        os.close(output)
        time.sleep(60)
    elif mode == "hang":
        time.sleep(60)
    elif mode == "stray_byte":
        os.write(output, b"x")
    elif mode == "oversize":
        os.write(output, struct.pack(">I", 1 << 31))
    elif mode == "bad_cbor":
        os.write(output, struct.pack(">I", 1) + b"\xff")
    elif mode == "unknown_effect":
        node._pipes.push({"type": "teleport"})
    elif mode == "eof_mid_frame":
        os.write(output, struct.pack(">I", 10) + b"abc")
        os.close(output)
        time.sleep(60)
    elif mode == "flood":
        while True:
            node.record("flood")
            node._pipes.flush()
    elif mode == "raise":
        print("about to fail", file=sys.stderr)
        raise RuntimeError("the server gave up")
    elif mode == "exit_effect":
        node.exit(3)
    elif mode == "abort_effect":
        node.abort("disk is gone")
    else:
        raise ValueError(mode)


def dribbling(pipes, steps):
    """Makes ``pipes`` write its first ``steps`` flushes a byte at a time, pausing between
    bytes so that the world reads them in separate chunks: frames cut at every byte."""
    whole = pipes.flush
    left = [steps]

    def flush():
        if left[0] == 0:
            return whole()
        left[0] -= 1
        data = bytes(pipes.pending)
        pipes.pending.clear()
        for index in range(len(data)):
            os.write(pipes.output, data[index : index + 1])
            time.sleep(0.0002)

    pipes.flush = flush


class Server(orrery_child.Process):
    def __init__(self, after, mode):
        self.after = after
        self.mode = mode
        self.served = 0

    def on_start(self, node):
        if self.mode == "dribble":
            dribbling(node._pipes, self.after)

    def on_message(self, node, sender, message):
        tag, request_id, value = MESSAGE.unpack(message)
        if tag != 0:
            return
        if self.served == self.after and self.mode != "dribble":
            misbehave(node, self.mode)
        self.served += 1
        node.send(sender, MESSAGE.pack(1, request_id, value))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--after", type=int, default=5)
    parser.add_argument("--mode", required=True)
    arguments = parser.parse_args()
    orrery_child.run(lambda init: Server(arguments.after, arguments.mode))
