#!/usr/bin/env python3
"""A real Kubernetes cluster on the lab, timed: python bench/kubernetes_bench.py --nodes 4 10

For each N (1 control plane, N-1 workers): lab up, the nodes phase, the kubernetes phase (with kubeadm init,
the joins and Calico's rollout read from the run's own task timings), time from lab up until every node is
Ready, the kubernetes phase's no-op rerun with Mitogen and without (the lever), the host memory the
cluster holds, and whether any host-wide kernel setting moved. Prints a table, writes JSON.
A benchmark, not a test: it measures and reports, it asserts nothing, CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from clusterboot.artifacts import build
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import lab

import plots  # beside this script: a script's own folder is on sys.path

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
# Per-interface, per-netns or counter entries: they move with every container started, not host settings.
VOLATILE = re.compile(r"^(net\.ipv[46]\.(conf|neigh)\.|net\.netfilter\.nf_conntrack_count|fs\.(dentry|file-nr|inode)"
                      r"|kernel\.(random|ns_last_pid|pty\.nr)|fs\.quota)")
TIMED_TASKS = {"kubeadm init": "Run kubeadm init", "joins": "Run kubeadm join",
               "images into the registry": "Push missing images into the registry",
               "binaries from the registry": "Pull the binaries image through containerd",
               "Calico and CoreDNS rollout": "Wait for Calico and CoreDNS to roll out"}


def host_settings() -> dict[str, str]:
    out = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, check=False).stdout
    pairs = (line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    return {k: v for k, v in pairs if not VOLATILE.match(k)}


def lab_memory_mib(cfg: lab.LabConfig) -> float:
    """Anonymous memory (RSS) charged to the lab's containers, page cache left out (cgroup v1 or v2)."""
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=clusterboot.lab={cfg.name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    total = 0
    for cid in ids:
        for path, key in ((f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat", "total_rss"),
                          (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.stat", "anon")):
            if Path(path).exists():
                stats = dict(line.split() for line in Path(path).read_text().splitlines())
                total += int(stats.get(key, 0))
                break
    return total / 2**20


def run(cfg: lab.LabConfig, *args: str) -> dict:
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "-q", *args], cwd=PROJECT,
                          capture_output=True, text=True, check=False)
    changed = re.search(r"changed=(\d+)", proc.stdout)
    folder = re.search(r"^artifacts: (\S+)", proc.stdout, flags=re.M)
    return {"rc": proc.returncode, "wall_s": round(time.monotonic() - started, 1),
            "changed": int(changed.group(1)) if changed else -1,
            "tasks": task_seconds(Path(folder.group(1))) if folder else {}}


def task_seconds(artifacts: Path) -> dict[str, float]:
    """Wall time of the named tasks, first start to last end over all hosts, from the runner's events."""
    spans: dict[str, list[float]] = {}
    for event_file in artifacts.glob("**/artifacts/run/job_events/*.json"):
        data = json.loads(event_file.read_text()).get("event_data", {})
        if "duration" not in data or "task" not in data:
            continue
        for label, task in TIMED_TASKS.items():
            if data["task"] == task:
                start = time.mktime(time.strptime(data["start"][:19], "%Y-%m-%dT%H:%M:%S"))
                spans.setdefault(label, []).extend([start, start + data["duration"]])
    return {label: round(max(s) - min(s), 1) for label, s in spans.items()}


def nodes_ready(kubectl: str, kubeconfig: Path, count: int) -> bool:
    out = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
                         capture_output=True, text=True, check=False).stdout.split("\n")
    return sum(1 for line in out if " Ready " in line) == count


def bench(nodes: int) -> dict:
    cfg = lab.LabConfig(project_dir=PROJECT, name=f"k8sbench{nodes}", subnet="10.218.0.0/24")
    kubectl = str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl")
    kubeconfig = PROJECT / ".artifacts" / f"kubeconfig-{cfg.name}"
    settings_before = host_settings()
    free_before = _used_mib()
    result: dict = {"nodes": nodes}
    started = time.monotonic()
    try:
        result["lab_up_s"] = round(lab.up(cfg, nodes=nodes, spark_manager="kubernetes", log=lambda _: None), 1)
        result["nodes_phase"] = run(cfg, "--phase", "nodes")
        result["kubernetes_phase"] = run(cfg, "--phase", "kubernetes")
        while not nodes_ready(kubectl, kubeconfig, nodes) and time.monotonic() - started < 1800:
            time.sleep(2)
        result["all_ready_from_lab_up_s"] = round(time.monotonic() - started, 1)
        result["rerun_mitogen"] = run(cfg, "--phase", "kubernetes")
        result["rerun_stock"] = run(cfg, "--phase", "kubernetes", "--mitogen", "off")
        result["lab_memory_mib"] = round(lab_memory_mib(cfg))
        result["host_used_mib_delta"] = _used_mib() - free_before
    finally:
        lab.down(cfg, log=lambda _: None)
    after = host_settings()
    result["host_settings_changed"] = sorted(k for k in settings_before if after.get(k) != settings_before[k])
    return result


def _used_mib() -> int:
    return int(subprocess.run(["free", "-m"], capture_output=True, text=True, check=True).stdout.split("\n")[1].split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[4])
    args = parser.parse_args()
    build.build(KUBERNETES_VERSION, build.default_cache(), log=print)
    results = [bench(n) for n in args.nodes]
    out = PROJECT / ".artifacts" / f"bench-kubernetes-{'-'.join(map(str, args.nodes))}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| nodes | lab up s | nodes phase s | kubernetes phase s | kubeadm init s | joins s | Calico+CoreDNS s "
          "| all Ready from lab up s | no-op rerun s (changed), Mitogen | same, stock | lab RSS MiB | host used +MiB "
          "| host settings moved |")
    print("|---" * 13 + "|")
    for r in results:
        k = r["kubernetes_phase"]
        print(f"| {r['nodes']} | {r['lab_up_s']} | {r['nodes_phase']['wall_s']} | {k['wall_s']} "
              f"| {k['tasks'].get('kubeadm init', '-')} | {k['tasks'].get('joins', '-')} "
              f"| {k['tasks'].get('Calico and CoreDNS rollout', '-')} | {r['all_ready_from_lab_up_s']} "
              f"| {r['rerun_mitogen']['wall_s']} ({r['rerun_mitogen']['changed']}) "
              f"| {r['rerun_stock']['wall_s']} ({r['rerun_stock']['changed']}) | {r['lab_memory_mib']} | {r['host_used_mib_delta']} "
              f"| {len(r['host_settings_changed'])} |")
    print(f"json: {out}\nplot: {plots.write(out)}")


if __name__ == "__main__":
    main()
