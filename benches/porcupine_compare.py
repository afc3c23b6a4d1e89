#!/usr/bin/env python3
"""Runs porcupine's checker (through benches/porcupine/orrery_harness_test.go) and
`orrery check-history` on the same histories, interleaved, and prints the verdicts and the
median timings as markdown. Called by benches/porcupine.sh, which builds what it needs."""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile


def run(command, env=None):
    """Runs a command; returns (exit code, stdout, stderr, CPU seconds, peak RSS KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss,
        )


def porcupine(harness, case):
    env = dict(os.environ, ORRERY_HARNESS_FILE=case["path"], ORRERY_HARNESS_KIND=case["kind"])
    code, out, err, cpu, rss = run([harness, "-test.run", "TestOrreryHarness"], env)
    match = re.search(r"RESULT verdict=(\S+) events=\d+ parse_ms=(\S+) parse_cpu_ms=(\S+) "
                      r"check_ms=(\S+) check_cpu_ms=(\S+)", out)
    if code != 0 or not match:
        sys.exit(f"porcupine failed on {case['path']} (exit {code}):\n{out}\n{err}")
    return {
        "verdict": match.group(1) == "linearizable",
        "read_wall": float(match.group(2)), "read_cpu": float(match.group(3)),
        "check_wall": float(match.group(4)), "check_cpu": float(match.group(5)),
        "process_cpu": cpu * 1e3, "rss_mib": rss / 1024,
    }


def orrery(binary, case):
    code, out, err, cpu, rss = run([binary, "check-history", "--timings", *case["args"], case["path"]])
    if code not in (0, 1, 3):
        return {"verdict": f"exit {code}", "error": err.strip()}
    timing = {}
    for phase in ("read", "check"):
        match = re.search(phase + r":\s+(\S+) ms wall, (\S+) ms CPU", err)
        if not match:
            sys.exit(f"orrery printed no {phase} timing for {case['path']}:\n{err}")
        timing[phase + "_wall"], timing[phase + "_cpu"] = float(match.group(1)), float(match.group(2))
    peak = re.search(r"peak resident memory: (\d+) KiB", err)
    return {
        "verdict": {0: True, 1: False, 3: "unknown"}[code],
        **timing,
        "process_cpu": cpu * 1e3,
        "rss_mib": int(peak.group(1)) / 1024 if peak else rss / 1024,
    }


def cases(porcupine_dir, histories):
    test = open(os.path.join(porcupine_dir, "porcupine_test.go")).read()
    etcd = {int(n): v == "true" for n, v in re.findall(r"checkJepsen\(t, (\d+), (true|false)\)", test)}
    kv = dict(re.findall(r'checkKv\(t, "([\w-]+)", (true|false), true\)', test))
    found = []
    logs = sorted(os.listdir(os.path.join(porcupine_dir, "test_data", "jepsen")))
    for name in logs:
        number = int(re.search(r"(\d+)", name).group(1))
        found.append({
            "group": "porcupine etcd", "name": name, "kind": "etcd",
            "path": os.path.join(porcupine_dir, "test_data", "jepsen", name),
            "expected": etcd.get(number), "args": ["--model", "cas-register"],
        })
    for name, verdict in sorted(kv.items()):
        found.append({
            "group": "porcupine kv", "name": name, "kind": "kv",
            "path": os.path.join(porcupine_dir, "test_data", "kv", name + ".txt"),
            "expected": verdict == "true", "args": ["--model", "kv", "--format", "porcupine-kv"],
        })
    for name in ["etcd-register-1k", "etcd-register-1k-bad", "etcd-register-10k"]:
        found.append({
            "group": "bench", "name": name, "kind": "etcd",
            "path": os.path.join(histories, name + ".log"),
            "expected": not name.endswith("-bad"), "args": ["--model", "cas-register"],
        })
    for name in ["kv-100k-128keys", "kv-100k-128keys-bad"]:
        found.append({
            "group": "bench", "name": name, "kind": "kv",
            "path": os.path.join(histories, name + ".txt"),
            "expected": not name.endswith("-bad"),
            "args": ["--model", "kv", "--format", "porcupine-kv"],
        })
    return found


METRICS = ["read_wall", "read_cpu", "check_wall", "check_cpu", "process_cpu", "rss_mib"]


def median_of(samples):
    return {m: statistics.median(s[m] for s in samples) for m in METRICS}


def ratio(a, b):
    return a / b if b > 0 else float("inf")


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--porcupine", "--harness", "--orrery", "--histories", "--csv"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    all_cases = cases(options.porcupine, options.histories)
    # A log with no verdict in porcupine's tests (etcd_095: "etcd cluster failed to start up")
    # is checked once, for what Orrery says about it, and not timed.
    timed = [case for case in all_cases if case["expected"] is not None]
    samples = {case["path"]: ([], []) for case in timed}
    for round_number in range(options.runs):
        print(f"round {round_number + 1} of {options.runs}", file=sys.stderr)
        for case in timed:
            first, second = (porcupine, orrery) if round_number % 2 == 0 else (orrery, porcupine)
            for checker in (first, second):
                if checker is porcupine:
                    samples[case["path"]][0].append(porcupine(options.harness, case))
                else:
                    samples[case["path"]][1].append(orrery(options.orrery, case))

    print("## Verdicts\n")
    disagreements = []
    groups = {}
    for case in timed:
        p_samples, o_samples = samples[case["path"]]
        verdicts = {("porcupine", s["verdict"]) for s in p_samples} | {("orrery", s["verdict"]) for s in o_samples}
        agree = verdicts == {("porcupine", case["expected"]), ("orrery", case["expected"])}
        total, agreed = groups.get(case["group"], (0, 0))
        groups[case["group"]] = (total + 1, agreed + agree)
        if not agree:
            disagreements.append((case["name"], case["expected"], sorted(map(str, verdicts))))
    for group, (total, agreed) in groups.items():
        print(f"- {group}: {agreed} of {total} histories get the expected verdict from both checkers")
    for name, expected, verdicts in disagreements:
        print(f"- DISAGREE {name}: expected {expected}, got {verdicts}")
    for case in all_cases:
        if case["expected"] is None:
            result = orrery(options.orrery, case)
            print(f"- {case['name']} (no verdict in porcupine's tests): orrery says "
                  f"{result.get('verdict')}: {result.get('error', '')}")

    rows = []
    for case in timed:
        p_samples, o_samples = samples[case["path"]]
        if not all(isinstance(s.get("read_cpu"), float) for s in o_samples):
            continue
        rows.append((case, median_of(p_samples), median_of(o_samples)))
    with open(options.csv, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["group", "history", "verdict"] + [f"porcupine_{m}" for m in METRICS] + [f"orrery_{m}" for m in METRICS])
        for case, p, o in rows:
            writer.writerow([case["group"], case["name"], case["expected"]] + [p[m] for m in METRICS] + [o[m] for m in METRICS])

    print(f"\n## Timings (medians of {options.runs} interleaved runs, ms; speed-up = porcupine / Orrery)\n")
    print("| history | verdict | porcupine check CPU | Orrery check CPU | x | porcupine read+check CPU | Orrery read+check CPU | x | porcupine process CPU | Orrery process CPU | x | peak RSS MiB (p / O) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def line(name, verdict, p, o):
        pe, oe = p["read_cpu"] + p["check_cpu"], o["read_cpu"] + o["check_cpu"]
        print(f"| {name} | {verdict} | {p['check_cpu']:.2f} | {o['check_cpu']:.2f} | {ratio(p['check_cpu'], o['check_cpu']):.1f}x "
              f"| {pe:.2f} | {oe:.2f} | {ratio(pe, oe):.1f}x | {p['process_cpu']:.1f} | {o['process_cpu']:.1f} "
              f"| {ratio(p['process_cpu'], o['process_cpu']):.1f}x | {p['rss_mib']:.0f} / {o['rss_mib']:.0f} |")

    etcd = [(p, o) for case, p, o in rows if case["group"] == "porcupine etcd"]
    if etcd:
        total = lambda side, metric: sum(pair[side][metric] for pair in etcd)
        p_sum = {m: total(0, m) for m in METRICS}
        o_sum = {m: total(1, m) for m in METRICS}
        p_sum["rss_mib"] = max(pair[0]["rss_mib"] for pair in etcd)
        o_sum["rss_mib"] = max(pair[1]["rss_mib"] for pair in etcd)
        line(f"porcupine's {len(etcd)} etcd logs (sums; RSS max)", "both", p_sum, o_sum)
    for case, p, o in rows:
        if case["group"] != "porcupine etcd":
            line(case["name"], "linearizable" if case["expected"] else "not linearizable", p, o)
    if etcd:
        ratios = sorted(ratio(p["check_cpu"], o["check_cpu"]) for p, o in etcd)
        print(f"\nPer etcd log, check CPU speed-up: median {statistics.median(ratios):.1f}x, "
              f"range {ratios[0]:.1f}x to {ratios[-1]:.1f}x.")
    million = os.path.join(options.histories, "etcd-register-1m.log")
    if os.path.exists(million):
        case = {"path": million, "args": ["--model", "cas-register", "--steps-max", "1000000000"]}
        result = orrery(options.orrery, case)
        print(f"\nOrrery alone on etcd-register-1m (1,000,000 operations; porcupine's cache clones the "
              f"whole linearized bitset, 125 KB here, per entry): {result['verdict']}, read "
              f"{result['read_cpu']:.0f} ms CPU, check {result['check_cpu']:.0f} ms CPU, peak RSS "
              f"{result['rss_mib']:.0f} MiB.")
    print(f"\nPer-history medians: {options.csv}")


if __name__ == "__main__":
    main()
