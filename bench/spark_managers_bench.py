#!/usr/bin/env python3
"""Word count on Kubernetes and on Spark standalone, on the same lab nodes, in one run:
python bench/spark_managers_bench.py [--nodes 4] [--lines 200000] [--repeat 2]

A 4-node lab (1 control plane, 3 workers) becomes a real Kubernetes cluster; word count runs there through
`submit` (spark-submit to k8s://, cluster mode, driver and executors as pods). Then the same nodes get Spark
standalone (the inventory's cluster_spark_manager switched, `--phase spark`) and the same job on the same
corpus runs there (client mode, executors on the workers). For each: submit-to-result wall time per run,
the executors' placement, and the Kubernetes/standalone ratio. Prints a table, writes JSON.
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

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable


def bootstrap(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "bootstrap.py", "--inventory", str(inventory), *args], cwd=PROJECT,
                          capture_output=True, text=True, check=False)


def submit(inventory: Path, *args: str) -> tuple[float, str]:
    """Wall time of `bootstrap.py submit` (what the operator waits for) and its report line."""
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "submit", "--inventory", str(inventory), *args], cwd=PROJECT,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"submit {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return seconds, next(line for line in proc.stdout.splitlines() if line.startswith("job "))


def switch_manager(cfg: lab.LabConfig, manager: str) -> None:
    path = cfg.inventory_dir / "group_vars" / "all.yml"
    text = re.sub(r"^cluster_spark_manager: .*$", f"cluster_spark_manager: {manager}", path.read_text(), flags=re.M)
    path.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--lines", type=int, default=200_000, help="corpus size, 12 words per line")
    parser.add_argument("--repeat", type=int, default=2, help="word count runs per cluster manager")
    parser.add_argument("--json", type=Path, default=PROJECT / ".artifacts" / "spark-managers-bench.json")
    parser.add_argument("--lab", default="benchmgr", help="lab name; an existing lab of that name is reused")
    parser.add_argument("--subnet", default="10.215.0.0/24")
    parser.add_argument("--keep", action="store_true", help="leave the lab up (switched back to kubernetes)")
    args = parser.parse_args(argv)
    build.build(KUBERNETES_VERSION, build.default_cache(), log=lambda _: None)
    cfg = lab.LabConfig(project_dir=PROJECT, name=args.lab, subnet=args.subnet)
    results: dict = {"nodes": args.nodes, "lines": args.lines, "runs": {}}
    try:
        lab.up(cfg, nodes=args.nodes, control_planes=1, spark_manager="kubernetes", log=lambda _: None)
        started = time.monotonic()
        run = bootstrap(cfg.inventory_dir, "--no-jobs")
        if run.returncode != 0:
            raise SystemExit(f"bootstrap failed:\n{run.stdout[-4000:]}")
        results["kubernetes_bootstrap_s"] = round(time.monotonic() - started, 1)
        data = cfg.shared_data_dir
        submit(cfg.inventory_dir, "data_generator", "--", "text", f"{data}/corpus", "--lines", str(args.lines),
               "--partitions", "6")
        for manager in ("kubernetes", "standalone"):
            if manager == "standalone":
                switch_manager(cfg, "standalone")
                started = time.monotonic()
                run = bootstrap(cfg.inventory_dir, "--phase", "spark", "--no-jobs")
                if run.returncode != 0:
                    raise SystemExit(f"standalone spark phase failed:\n{run.stdout[-4000:]}")
                results["standalone_phase_s"] = round(time.monotonic() - started, 1)
            for index in range(args.repeat):
                seconds, line = submit(cfg.inventory_dir, "word_count", "--", f"{data}/corpus",
                                       f"{data}/counts-{manager}-{index}")
                placement = line.split("executors by worker: ")[1].split(";")[0]
                results["runs"].setdefault(manager, []).append({"seconds": round(seconds, 1),
                                                                "executors": placement})
    finally:
        if args.keep:
            switch_manager(cfg, "kubernetes")
        else:
            lab.down(cfg, log=lambda _: None)
    best = {m: min(r["seconds"] for r in runs) for m, runs in results["runs"].items()}
    results["ratio_kubernetes_over_standalone"] = round(best["kubernetes"] / best["standalone"], 2)
    print(f"word count, {args.lines} lines x 12 words, {args.nodes} nodes (1 control plane, {args.nodes - 1} workers)")
    print(f"{'manager':<12} {'runs (s)':<20} executors by worker")
    for manager, runs in results["runs"].items():
        print(f"{manager:<12} {', '.join(str(r['seconds']) for r in runs):<20} {runs[-1]['executors']}")
    print(f"ratio kubernetes/standalone (best runs): {results['ratio_kubernetes_over_standalone']}")
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
