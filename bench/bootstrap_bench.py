#!/usr/bin/env python3
"""Bootstrap speed on a simulated lab: python bench/bootstrap_bench.py --nodes 10 50 100

For each N: lab up, first converge of the lab phases (nodes, spark), a no-op rerun, a single-role rerun
(container_runtime), controller and node CPU seconds per task-host execution, the same no-op run under
stock Ansible settings for a ratio, and word count submit-to-result. Prints a table, writes JSON.
A benchmark, not a test: it measures and reports, it asserts nothing, CI does not run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import cache_stats  # beside this script: a script's own folder is on sys.path
from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
# Stock Ansible: no project ansible.cfg (default forks 5, no pipelining, no fact cache), roles found.
STOCK_CFG = "[defaults]\nroles_path = {roles}\n"


def node_cpu_seconds(cfg: lab.LabConfig) -> float:
    """CPU used so far by every lab container, from the host's cgroups."""
    total = 0.0
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=clusterboot.lab={cfg.name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    for cid in ids:
        for path in (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat",
                     f"/sys/fs/cgroup/docker/{cid}/cpu.stat"):
            if os.path.exists(path):
                usage = re.search(r"usage_usec (\d+)", Path(path).read_text())
                total += int(usage.group(1)) / 1e6 if usage else 0
                break
        else:
            for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                         f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage"):
                if os.path.exists(path):
                    total += int(Path(path).read_text()) / 1e9
                    break
    return total


def task_hosts(summary: str) -> int:
    """ok + failed + unreachable + skipped from the runner's totals line."""
    m = re.search(r"ok=(\d+) changed=\d+ failed=(\d+) unreachable=(\d+) skipped=(\d+)", summary)
    return sum(int(g) for g in m.groups()) if m else 0


def changed(summary: str) -> int:
    m = re.search(r"changed=(\d+)", summary)
    return int(m.group(1)) if m else -1


def measure(cfg: lab.LabConfig, args: list[str], env: dict | None = None) -> dict:
    before_nodes = node_cpu_seconds(cfg)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "-q", *args], cwd=PROJECT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    controller = (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime)
    nodes = node_cpu_seconds(cfg) - before_nodes
    executions = task_hosts(proc.stdout)
    return {
        "rc": proc.returncode, "wall_s": round(wall, 1), "changed": changed(proc.stdout),
        "task_hosts": executions, "controller_cpu_s": round(controller, 1), "node_cpu_s": round(nodes, 1),
        "controller_ms_per_task_host": round(1000 * controller / executions, 1) if executions else None,
        "node_ms_per_task_host": round(1000 * nodes / executions, 1) if executions else None,
    }


def stock_noop(cfg: lab.LabConfig, tmp: Path) -> dict:
    """The same no-op nodes phase with ansible-playbook under stock settings (ansible-runner not involved)."""
    stock = tmp / "stock-ansible.cfg"
    stock.write_text(STOCK_CFG.format(roles=PROJECT / "roles"))
    before_nodes = node_cpu_seconds(cfg)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([str(Path(PYTHON).parent / "ansible-playbook"), "-i", str(cfg.inventory_dir), "--tags", "nodes",
                           "playbooks/site.yml"], cwd=PROJECT, capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_CONFIG": str(stock)}, check=False)
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", proc.stdout)
    executions = sum(int(o) + int(u) + int(f) + int(s) for o, _, u, f, s in recap)
    controller = (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime)
    nodes = node_cpu_seconds(cfg) - before_nodes
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "task_hosts": executions,
            "changed": sum(int(c) for _, c, *_ in recap),
            "controller_ms_per_task_host": round(1000 * controller / executions, 1) if executions else None,
            "node_ms_per_task_host": round(1000 * nodes / executions, 1) if executions else None}


def word_count(cfg: lab.LabConfig) -> dict:
    data = cfg.shared_data_dir
    subprocess.run([PYTHON, "bootstrap.py", "submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--",
                    "text", f"{data}/bench-corpus", "--lines", "20000"], cwd=PROJECT, capture_output=True, check=False)
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "submit", "--inventory", str(cfg.inventory_dir), "word_count", "--",
                           f"{data}/bench-corpus", f"{data}/bench-counts"], cwd=PROJECT, capture_output=True,
                          text=True, check=False)
    return {"rc": proc.returncode, "submit_to_result_s": round(time.monotonic() - started, 1)}


def bench(nodes: int, package_cache: bool, skip_spark: bool, keep_lab: bool, tmp: Path) -> dict:
    cfg = lab.LabConfig(project_dir=PROJECT, name=f"bench{nodes}", subnet="10.218.0.0/22")
    lab.down(cfg, log=lambda _: None)
    result: dict = {"nodes": nodes, "package_cache": package_cache}
    result["lab_up_s"] = round(lab.up(cfg, nodes=nodes, package_cache=package_cache, spark_manager="standalone",
                                       log=lambda _: None), 1)
    phases = ["--phase", "nodes"] if skip_spark else ["--no-jobs"]
    result["first_converge"] = measure(cfg, phases)
    if package_cache:
        stats = cache_stats.parse(cache_stats.read_log(f"{cfg.name}-cp01"))
        result["package_cache_stats"] = dataclasses.asdict(stats)
    result["noop_rerun"] = measure(cfg, phases)
    result["noop_rerun_without_mitogen"] = measure(cfg, [*phases, "--mitogen", "off"])
    result["single_role_rerun"] = measure(cfg, ["--role", "container_runtime"])
    result["noop_nodes_project_cfg"] = measure(cfg, ["--phase", "nodes"])
    result["noop_nodes_stock_cfg"] = stock_noop(cfg, tmp)
    if not skip_spark:
        result["word_count"] = word_count(cfg)
    if not keep_lab:
        lab.down(cfg, log=lambda _: None)
    return result


def table(results: list[dict]) -> str:
    rows = ["| nodes | cache | first converge s | upstream MiB / served MiB | no-op rerun s (changed) | "
            "no-op without Mitogen s | --role container_runtime s | controller ms/task-host | node ms/task-host | "
            "stock/project no-op wall | word count s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        stock, project = r["noop_nodes_stock_cfg"], r["noop_nodes_project_cfg"]
        ratio = round(stock["wall_s"] / project["wall_s"], 2) if project["wall_s"] else None
        cache = r.get("package_cache_stats")
        traffic = f"{cache['upstream_bytes'] / 2**20:.0f} / {cache['served_bytes'] / 2**20:.0f}" if cache else "-"
        rows.append(
            f"| {r['nodes']} | {'on' if r['package_cache'] else 'off'} | {r['first_converge']['wall_s']} | {traffic} | "
            f"{r['noop_rerun']['wall_s']} ({r['noop_rerun']['changed']}) | "
            f"{r['noop_rerun_without_mitogen']['wall_s']} ({r['noop_rerun_without_mitogen']['changed']}) | "
            f"{r['single_role_rerun']['wall_s']} | "
            f"{r['noop_rerun']['controller_ms_per_task_host']} | {r['noop_rerun']['node_ms_per_task_host']} | "
            f"{ratio} | {r.get('word_count', {}).get('submit_to_result_s', '-')} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--package-cache", choices=["on", "off", "both"], default="on")
    parser.add_argument("--skip-spark", action="store_true", help="only the nodes phase")
    parser.add_argument("--keep-lab", action="store_true", help="leave the last lab up (to measure more by hand)")
    parser.add_argument("--json", default=str(PROJECT / ".artifacts" / "bench.json"))
    args = parser.parse_args(argv)
    caches = {"on": [True], "off": [False], "both": [False, True]}[args.package_cache]
    tmp = PROJECT / ".artifacts"
    tmp.mkdir(exist_ok=True)
    results = [bench(n, cache, args.skip_spark, args.keep_lab, tmp) for n in args.nodes for cache in caches]
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
