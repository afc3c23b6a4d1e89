"""Drives `orrery serve` with orrery_ctl.py: every kind of reply decodes with the fields it
should have, errors raise with their code, a snapshot restores the fingerprint exactly.

    python3 clients/python/test_orrery_ctl.py [ORRERY_BINARY]

The binary defaults to target/debug/orrery; `cargo test --test control` runs this script.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orrery_ctl import ALL_NODES, Client, ControlError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("ORRERY_BIN", os.path.join(ROOT, "target", "debug", "orrery"))
SCENARIO = os.path.join(ROOT, "scenarios", "smoke", "echo.yaml")


class Served:
    """`orrery serve` on 127.0.0.1:0 for the test's duration."""

    def __init__(self, seed):
        self.process = subprocess.Popen(
            [BINARY, "serve", SCENARIO, "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.process.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("orrery serve printed no address")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            with Client.connect(self.address) as client:
                client.call("shutdown")
        finally:
            self.process.wait(timeout=30)
            self.process.stdout.close()


class ControlClientTest(unittest.TestCase):
    def test_every_reply_kind_decodes(self):
        # Proves ping, version, status, health, streams, stop and snapshots decode field by field.
        with Served(5) as served, Client.connect(served.address) as client:
            ping = client.call("ping")
            self.assertEqual(ping["world_id"], "echo-smoke@5")
            self.assertEqual((ping["seed"], ping["time_nanos"]), (5, 0))
            self.assertEqual(ping["pid"], served.process.pid)
            version = client.call("version")
            self.assertEqual((version["protocol"], version["backend"]), (1, "simulated"))
            self.assertIn(0x21, version["ops"])
            self.assertEqual(client.call("start")["state"], "running")
            stepped = client.call("step", events=500)
            self.assertEqual((stepped["events"], stepped["outcome"]), (500, "stepped"))
            self.assertEqual([n["name"] for n in stepped["nodes"]], ["s0", "s1", "s2", "c0", "c1"])
            self.assertGreater(stepped["counters"]["messages_sent"], 0)
            items = list(client.stream("status-stream", every_events=50, items_max=3))
            self.assertEqual([i["events"] for i in items], [550, 600, 650])
            self.assertEqual(client.stream_end, {"reason": "items_max", "items": 3})
            self.assertEqual(client.call("pause", node=1)["nodes"][1]["status"], "paused")
            self.assertFalse(client.call("health")["healthy"])
            client.call("resume", node=1)
            client.call("partition", groups=[[0, 1], [2, 3, 4]])
            client.call("heal")
            client.call("set-link", **{"from": 3, "to": 0, "latency_nanos": 2_000_000})
            client.call("clock-jump", node=2, offset_nanos=-1_000_000)
            client.call("disk-fault", node=ALL_NODES, write_error_probability=0.01)
            health = client.call("wait-healthy", budget_nanos=10_000_000_000)
            self.assertTrue(health["healthy"], health)
            stop = client.call("stop")
            self.assertEqual(stop["status"]["state"], "stopped")
            self.assertEqual({v["check"]: v["verdict"] for v in stop["verdicts"]},
                             {"replies_match": "pass", "clients_progress": "pass"})

    def test_errors_raise_with_their_code(self):
        # Proves an error reply raises ControlError with the code and the server's message.
        with Served(6) as served, Client.connect(served.address) as client:
            with self.assertRaises(ControlError) as early:
                client.call("step", events=1)
            self.assertEqual(early.exception.name, "invalid_state")
            self.assertIn("send start first", early.exception.message)
            client.call("start")
            with self.assertRaises(ControlError) as missing:
                client.call("pause", node=99)
            self.assertEqual((missing.exception.code, missing.exception.name), (6, "not_found"))
            with self.assertRaises(ControlError) as unknown_snapshot:
                client.call("snapshot-load", name="nope")
            self.assertEqual(unknown_snapshot.exception.name, "not_found")
            # The connection is still good after errors.
            self.assertEqual(client.call("status")["state"], "running")

    def test_a_snapshot_restores_the_fingerprint(self):
        # Proves save at event N, wander off, load, continue: the uninterrupted run's fingerprint.
        with Served(7) as served, Client.connect(served.address) as client:
            client.call("start")
            client.call("step", events=400)
            saved = client.call("snapshot-save", name="n400")
            client.call("step", events=600)
            straight = client.call("status")
            client.call("snapshot-load", name="n400")
            client.call("pause", node=0)
            client.call("step", events=100)
            client.call("snapshot-load", name="n400")
            replayed = client.call("step", events=600)
            self.assertEqual(saved["events"], 400)
            self.assertEqual((replayed["events"], replayed["fingerprint"]),
                             (straight["events"], straight["fingerprint"]))
            self.assertEqual([s["name"] for s in client.call("snapshot-list")], ["n400"])

    def test_cancel_ends_a_stream(self):
        # Proves a cancel sent mid-stream ends it with the `cancelled` end marker.
        with Served(8) as served, Client.connect(served.address) as client:
            client.call("start")
            request_id = client.send("status-stream", every_events=10)
            replies = client.replies("status-stream", request_id)
            self.assertEqual(next(replies)[0], "item")
            client.cancel(request_id, "status-stream")
            last = None
            for tag, reply in replies:
                last = (tag, reply)
            self.assertEqual(last[0], "end")
            self.assertEqual(last[1]["reason"], "cancelled")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        BINARY = sys.argv.pop(1)
    unittest.main()
