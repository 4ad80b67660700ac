#!/usr/bin/env python3
"""Faults mid-run on a simulated lab: python bench/fault_sweep.py [--moments TASK ...] [--faults power dpkg]

For each moment (a task of the nodes phase, by the name the progress prints) and each fault: a fresh
2-node lab, the nodes phase; when the moment's task starts, the worker gets the fault:
  power  the worker's container is killed (power cut) --delay seconds after the task starts;
  dpkg   dpkg is killed -9 at its first journal entry inside the worker (a package install), then power.
The worker is started again, the summary's retry command is run (when the run printed one), then the whole
phase once more, and once again if that rerun changed something: Docker rewrites a node's /etc/hosts
when its container starts, so when no retry ran, the first run after the restart puts base's /etc/hosts
block back (a lab artifact; a real machine keeps its /etc/hosts).
Prints one row per trial (moment, fault, first run's exit, retry's, the rerun's exit and changed count,
the second rerun's changed count) and how many trials survived (retry and reruns exit 0, the last rerun
changed=0). Writes JSON.
A benchmark, not a test: it measures and reports, it asserts nothing, CI does not run it.
Lab 'faultsweep' on 10.218.0.0/24 unless --name/--subnet say otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
WORKER, WORKER_IP_OFFSET = "wk001", 12
DEFAULT_MOMENTS = [
    "Install the base packages", "Install docker.io and containerd", "Keep containerd running",
    "Trust the registry's CA on every node",
]
# Runs inside the worker: kill -9 dpkg and its apt parent, by pid, at dpkg's first journal entry.
KILL_DPKG_MID_UNPACK = """
for i in $(seq 1 2400); do
  if ls /var/lib/dpkg/updates | grep -q '^[0-9]' && pids=$(ps -o pid= -C dpkg) && [ -n "$pids" ]; then
    kill -9 $pids $(for p in $pids; do ps -o ppid= -p $p; done); exit 0
  fi
  sleep 0.05
done
exit 1
"""


def changed(output: str) -> int:
    m = re.search(r"^totals: .* changed=(\d+)", output, re.MULTILINE)
    return int(m.group(1)) if m else -1


def nodes_phase(cfg: lab.LabConfig, *extra: str) -> list[str]:
    return [PYTHON, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "--phase", "nodes", "--no-jobs", *extra]


def inject(container: str, fault: str, delay: float, log: list[str]) -> None:
    if fault == "dpkg":
        proc = subprocess.run(["docker", "exec", container, "sh", "-c", KILL_DPKG_MID_UNPACK], capture_output=True,
                              check=False)
        log.append("dpkg killed mid-unpack" if proc.returncode == 0 else "dpkg never journalled")
    else:
        time.sleep(delay)
    subprocess.run(["docker", "kill", container], capture_output=True, check=False)
    log.append("power off")


def trial(cfg: lab.LabConfig, moment: str, fault: str, delay: float) -> dict:
    container = f"{cfg.name}-{WORKER}"
    lab.down(cfg, log=lambda _: None)
    lab.up(cfg, nodes=2, control_planes=1, spark_manager="standalone", log=lambda _: None)
    started = time.monotonic()
    run = subprocess.Popen(nodes_phase(cfg), cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, events, injector = [], [], None
    for line in run.stdout:
        lines.append(line)
        if injector is None and line.strip() == f"task: {moment}":
            injector = threading.Thread(target=inject, args=(container, fault, delay, events))
            injector.start()
    first_rc = run.wait()
    if injector is not None:
        injector.join()
    output = "".join(lines)
    row = {"moment": moment, "fault": fault, "reached": injector is not None, "events": events, "run_rc": first_rc}
    subprocess.run(["docker", "start", container], capture_output=True, check=False)
    ip = str(ipaddress.ip_network(cfg.subnet).network_address + WORKER_IP_OFFSET)
    deadline = time.monotonic() + 180
    while not lab._ssh_answers(cfg, ip) and time.monotonic() < deadline:
        time.sleep(1)
    interrupted = subprocess.run(["docker", "exec", container, "sh", "-c", "ls /var/lib/dpkg/updates | grep -q '^[0-9]'"],
                                 capture_output=True, check=False).returncode == 0
    row["dpkg_journal_left"] = interrupted
    hint = next((line.strip() for line in output.splitlines() if line.strip().startswith("python bootstrap.py")), None)
    if hint is None:
        row["retry_rc"] = None  # nothing failed: no retry printed
    else:
        retry = subprocess.run([PYTHON, *shlex.split(hint)[1:]], cwd=PROJECT, capture_output=True, text=True,
                               check=False)
        row["retry_rc"] = retry.returncode
        if retry.returncode != 0:
            row["retry_tail"] = retry.stdout[-1500:]
    rerun = subprocess.run(nodes_phase(cfg), cwd=PROJECT, capture_output=True, text=True, check=False)
    row.update(rerun_rc=rerun.returncode, rerun_changed=changed(rerun.stdout), again_changed=None)
    if rerun.returncode == 0 and row["rerun_changed"] != 0:
        again = subprocess.run(nodes_phase(cfg), cwd=PROJECT, capture_output=True, text=True, check=False)
        row["again_changed"] = changed(again.stdout) if again.returncode == 0 else -1
    row["seconds"] = round(time.monotonic() - started, 1)
    last_changed = row["rerun_changed"] if row["again_changed"] is None else row["again_changed"]
    row["survived"] = row["retry_rc"] in (0, None) and rerun.returncode == 0 and last_changed == 0
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moments", nargs="+", default=DEFAULT_MOMENTS, help="task names of the nodes phase")
    parser.add_argument("--faults", nargs="+", choices=("power", "dpkg"), default=["power"])
    parser.add_argument("--delay", type=float, default=1.0, help="seconds after the task starts (power)")
    parser.add_argument("--name", default="faultsweep")
    parser.add_argument("--subnet", default="10.218.0.0/24")
    parser.add_argument("--json", type=Path, default=PROJECT / ".artifacts" / "fault_sweep.json")
    args = parser.parse_args()
    cfg = lab.LabConfig(project_dir=PROJECT, name=args.name, subnet=args.subnet,
                        inventory_root=Path(tempfile.mkdtemp(prefix="fault-sweep-")))
    rows = []
    try:
        for moment in args.moments:
            for fault in args.faults:
                rows.append(trial(cfg, moment, fault, args.delay))
                r = rows[-1]
                print(f"{r['moment'][:40]:40} {r['fault']:6} run={r['run_rc']} retry={r['retry_rc']} "
                      f"rerun={r['rerun_rc']} changed={r['rerun_changed']} again={r['again_changed']} "
                      f"{r['seconds']}s", flush=True)
    finally:
        lab.down(cfg, log=lambda _: None)
    print(f"\n{'moment':40} {'fault':6} {'reached':7} {'journal':7} {'run':>3} {'retry':>5} {'rerun':>5} "
          f"{'changed':>7} {'again':>5} {'s':>6}")
    for r in rows:
        retry = "-" if r["retry_rc"] is None else str(r["retry_rc"])
        again = "-" if r["again_changed"] is None else str(r["again_changed"])
        print(f"{r['moment'][:40]:40} {r['fault']:6} {'yes' if r['reached'] else 'no':7} "
              f"{'left' if r['dpkg_journal_left'] else '-':7} {r['run_rc']:>3} {retry:>5} {r['rerun_rc']:>5} "
              f"{r['rerun_changed']:>7} {again:>5} {r['seconds']:>6}")
    survived = sum(r["survived"] for r in rows)
    print(f"trials survived: {survived}/{len(rows)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
