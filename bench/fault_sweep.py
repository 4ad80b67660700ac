#!/usr/bin/env python3
"""Faults mid-run on a simulated lab: python bench/fault_sweep.py [--phase nodes|kubernetes] [--moments TASK ...]

The moments are not a list: they come from a reference run's own events, every task that changed a node
(or hid its result with no_log, as kubeadm init and join do), in the order they ran, with the node it changed
(a worker when several did); --sample K keeps K of them evenly spread, --moments names some of them.

nodes (default): the reference is a fresh 2-node lab's nodes phase. Each trial: a fresh lab, the nodes
phase, and when the moment's task starts its node gets the fault:
  power  the node's container is killed (power cut) half-way through the task's reference duration
         (--delay seconds instead when given; 1 s for --moments, which needs no reference run);
  dpkg   dpkg is killed -9 at its first journal entry inside the node (a package install), then power.

kubernetes: one 2-node lab (cp01, wk001) through the nodes phase, then the kubernetes phase, a reset
(playbooks/reset.yml) and the reference run of the kubernetes phase from that reset state. Each trial starts
from a reset cluster, runs the kubernetes phase and cuts the power of the moment's node half-way through the
task's reference duration (or --delay).
The package installs of this phase do not appear after a reset (installed already); an interrupted dpkg is
the nodes sweep's dpkg fault, recovered by the same dpkg_recovery role.

Either way, the node is started again, the summary's retry command is run (when the run printed one), then
the whole phase once more, and once again if that rerun changed something: Docker rewrites a node's
/etc/hosts when its container starts, so when no retry ran, the first run after the restart puts base's
/etc/hosts block back (a lab artifact; a real machine keeps its /etc/hosts). In the kubernetes phase the
trial also waits for every node to be Ready (kubectl, the fetched kubeconfig).
Prints one row per trial (moment, fault, first run's exit, retry's, the rerun's exit and changed count,
the second rerun's changed count) and how many trials survived (retry and reruns exit 0, the last rerun
changed=0, and in the kubernetes phase every node Ready). Writes JSON.
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
from dataclasses import dataclass
from pathlib import Path

from clusterboot.artifacts import build
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
NODE_IP_OFFSETS = {"cp01": 11, "wk001": 12}  # the lab's addresses: network + offset
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


@dataclass(frozen=True)
class Moment:
    task: str
    host: str  # the node that gets the fault
    delay: float  # seconds after the task starts


def changed(output: str) -> int:
    m = re.search(r"^totals: .* changed=(\d+)", output, re.MULTILINE)
    return int(m.group(1)) if m else -1


def phase_run(cfg: lab.LabConfig, phase: str) -> list[str]:
    return [PYTHON, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "--phase", phase, "--no-jobs"]


def run_quiet(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, check=False)


def inject(container: str, fault: str, delay: float, log: list[str]) -> None:
    if fault == "dpkg":
        proc = subprocess.run(["docker", "exec", container, "sh", "-c", KILL_DPKG_MID_UNPACK], capture_output=True,
                              check=False)
        log.append("dpkg killed mid-unpack" if proc.returncode == 0 else "dpkg never journalled")
    else:
        time.sleep(delay)
    subprocess.run(["docker", "kill", container], capture_output=True, check=False)
    log.append("power off")


def changing_tasks(artifacts: Path) -> list[Moment]:
    """Every task that changed a node in a run (or hid its result behind no_log), in the order they ran, with
    the node to cut (a worker when several changed) and half the task's duration on it."""
    events = sorted((artifacts / "artifacts" / "run" / "job_events").glob("*.json"),
                    key=lambda path: int(path.name.split("-")[0]))
    seen: dict[str, dict[str, float]] = {}
    for path in events:
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        result = data.get("res") or {}
        if event.get("event") != "runner_on_ok" or not (result.get("changed") or "censored" in result):
            continue
        seen.setdefault(data["task"], {})[data["host"]] = float(data.get("duration") or 0)
    moments = []
    for task, hosts in seen.items():
        host = sorted(hosts, key=lambda h: (not h.startswith("wk"), h))[0]
        moments.append(Moment(task, host, round(max(0.5, hosts[host] / 2), 1)))
    return moments


def evenly(items: list, k: int | None) -> list:
    if k is None or k >= len(items):
        return items
    if k <= 1:
        return items[:k]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def all_ready(cfg: lab.LabConfig, timeout: int = 300) -> bool:
    kubectl = str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl")
    proc = subprocess.run([kubectl, "--kubeconfig", str(PROJECT / ".artifacts" / f"kubeconfig-{cfg.name}"), "wait",
                           "--for=condition=Ready", "node", "--all", f"--timeout={timeout}s"], capture_output=True,
                          text=True, check=False)
    return proc.returncode == 0


def reset_cluster(cfg: lab.LabConfig) -> None:
    proc = run_quiet([PYTHON, "bootstrap.py", "reset", "--inventory", str(cfg.inventory_dir), "--yes"])
    if proc.returncode != 0:
        raise SystemExit(f"reset failed between trials:\n{proc.stdout[-3000:]}")


def trial(cfg: lab.LabConfig, phase: str, moment: Moment, fault: str) -> dict:
    container = f"{cfg.name}-{moment.host}"
    if phase == "nodes":
        lab.down(cfg, log=lambda _: None)
        lab.up(cfg, nodes=2, control_planes=1, spark_manager="standalone", log=lambda _: None)
    started = time.monotonic()
    run = subprocess.Popen(phase_run(cfg, phase), cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    lines, events, injector = [], [], None
    for line in run.stdout:
        lines.append(line)
        if injector is None and line.strip() == f"task: {moment.task}":
            injector = threading.Thread(target=inject, args=(container, fault, moment.delay, events))
            injector.start()
    first_rc = run.wait()
    if injector is not None:
        injector.join()
    output = "".join(lines)
    row = {"moment": moment.task, "host": moment.host, "delay": moment.delay, "fault": fault,
           "reached": injector is not None, "events": events, "run_rc": first_rc}
    subprocess.run(["docker", "start", container], capture_output=True, check=False)
    ip = str(ipaddress.ip_network(cfg.subnet).network_address + NODE_IP_OFFSETS[moment.host])
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
        retry = run_quiet([PYTHON, *shlex.split(hint)[1:]])
        row["retry_rc"] = retry.returncode
        if retry.returncode != 0:
            row["retry_tail"] = retry.stdout[-1500:]
    rerun = run_quiet(phase_run(cfg, phase))
    row.update(rerun_rc=rerun.returncode, rerun_changed=changed(rerun.stdout), again_changed=None)
    if rerun.returncode != 0:
        row["rerun_tail"] = rerun.stdout[-1500:]
    if rerun.returncode == 0 and row["rerun_changed"] != 0:
        again = run_quiet(phase_run(cfg, phase))
        row["again_changed"] = changed(again.stdout) if again.returncode == 0 else -1
    row["ready"] = all_ready(cfg) if phase == "kubernetes" else None
    row["seconds"] = round(time.monotonic() - started, 1)
    last_changed = row["rerun_changed"] if row["again_changed"] is None else row["again_changed"]
    row["survived"] = (row["retry_rc"] in (0, None) and rerun.returncode == 0 and last_changed == 0
                       and row["ready"] in (True, None))
    return row


def reference_moments(cfg: lab.LabConfig, phase: str, sample: int | None, delay: float | None) -> list[Moment]:
    """The moments of a reference run from where the trials start: nodes, a fresh lab's nodes phase;
    kubernetes, the lab through the nodes and kubernetes phases, reset, then the kubernetes phase."""
    lab.down(cfg, log=lambda _: None)
    if phase == "kubernetes":
        build.build(KUBERNETES_VERSION, build.default_cache(), log=lambda _: None)
    lab.up(cfg, nodes=2, control_planes=1, spark_manager="kubernetes" if phase == "kubernetes" else "standalone",
           log=lambda _: None)
    if phase == "kubernetes":
        for before in ("nodes", "kubernetes"):
            proc = run_quiet(phase_run(cfg, before))
            if proc.returncode != 0:
                raise SystemExit(f"the {before} phase failed before any fault:\n{proc.stdout[-3000:]}")
        reset_cluster(cfg)
    reference = run_quiet(phase_run(cfg, phase))
    if reference.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{reference.stdout[-3000:]}")
    artifacts = Path(re.search(r"^artifacts: (.+)$", reference.stdout, re.MULTILINE).group(1))
    found = changing_tasks(artifacts)
    print(f"{len(found)} tasks changed a node in the reference {phase} run:")
    for m in found:
        print(f"  {m.task} [{m.host}, half-way {m.delay}s]")
    chosen = evenly(found, sample)
    if delay is not None:
        chosen = [Moment(m.task, m.host, delay) for m in chosen]
    if phase == "kubernetes":
        reset_cluster(cfg)
    return chosen


def print_table(rows: list[dict]) -> None:
    print(f"\n{'moment':44} {'host':6} {'fault':6} {'at':>5} {'reached':7} {'journal':7} {'run':>3} {'retry':>5} "
          f"{'rerun':>5} {'changed':>7} {'again':>5} {'ready':5} {'s':>6}")
    for r in rows:
        retry = "-" if r["retry_rc"] is None else str(r["retry_rc"])
        again = "-" if r["again_changed"] is None else str(r["again_changed"])
        ready = "-" if r["ready"] is None else ("yes" if r["ready"] else "NO")
        print(f"{r['moment'][:44]:44} {r['host']:6} {r['fault']:6} {r['delay']:>5} {'yes' if r['reached'] else 'no':7} "
              f"{'left' if r['dpkg_journal_left'] else '-':7} {r['run_rc']:>3} {retry:>5} {r['rerun_rc']:>5} "
              f"{r['rerun_changed']:>7} {again:>5} {ready:5} {r['seconds']:>6}")
    print(f"trials survived: {sum(r['survived'] for r in rows)}/{len(rows)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("nodes", "kubernetes"), default="nodes")
    parser.add_argument("--moments", nargs="+", help="task names (default: every task that changed a node in the "
                                                     "reference run)")
    parser.add_argument("--sample", type=int, help="keep this many of the reference run's moments, evenly spread")
    parser.add_argument("--faults", nargs="+", choices=("power", "dpkg"), default=["power"])
    parser.add_argument("--delay", type=float, help="seconds after the task starts (power; default half the "
                                                    "task's duration in the reference run, 1 for --moments of "
                                                    "the nodes phase)")
    parser.add_argument("--name", default="faultsweep")
    parser.add_argument("--subnet", default="10.218.0.0/24")
    parser.add_argument("--json", type=Path, default=PROJECT / ".artifacts" / "fault_sweep.json")
    args = parser.parse_args()
    cfg = lab.LabConfig(project_dir=PROJECT, name=args.name, subnet=args.subnet,
                        inventory_root=Path(tempfile.mkdtemp(prefix="fault-sweep-")))
    rows = []
    try:
        if args.moments and args.phase == "nodes":  # by name, on the worker: no reference run needed
            moments = [Moment(task, "wk001", 1.0 if args.delay is None else args.delay) for task in args.moments]
        else:
            moments = reference_moments(cfg, args.phase, args.sample, args.delay)
            if args.moments:
                moments = [m for m in moments if m.task in args.moments]
        for moment in moments:
            for fault in args.faults:
                rows.append(trial(cfg, args.phase, moment, fault))
                r = rows[-1]
                print(f"{r['moment'][:44]:44} {r['host']} {r['fault']:6} run={r['run_rc']} retry={r['retry_rc']} "
                      f"rerun={r['rerun_rc']} changed={r['rerun_changed']} again={r['again_changed']} "
                      f"ready={r['ready']} {r['seconds']}s", flush=True)
                if args.phase == "kubernetes" and moment != moments[-1]:
                    reset_cluster(cfg)
    finally:
        lab.down(cfg, log=lambda _: None)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
