"""Failover of a highly available control plane on a running lab: how long the API is unreachable through its
virtual IP when the control plane that holds it stops, and what the lab costs in memory and CPU.

    python bootstrap.py lab up --nodes 5 --control-planes 3
    python bootstrap.py --inventory sim --no-jobs
    python bench/ha_failover.py --rounds 3

Each round: `docker stop` the VIP holder, poll `GET /readyz` through the VIP every 0.2 s (2 s timeout) until it
answers, note the new holder, `docker start` the old one and wait until its Node is Ready. Prints one line per
round and the lab's `docker stats` (memory, CPU) before the first round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from clusterboot.artifacts import build
from clusterboot.inventory import load, resolve
from clusterboot.inventory_writer import KUBERNETES_VERSION

PROJECT = Path(__file__).resolve().parent.parent


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=180).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="sim", help="the lab (and inventory) name (default sim)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hostvars, groups = load(resolve(args.name))
    control_planes = groups["control_plane"]
    vip = hostvars[control_planes[0]]["cluster_control_plane_vip"]
    kubectl = [str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl"),
               "--kubeconfig", str(PROJECT / ".artifacts" / f"kubeconfig-{hostvars[control_planes[0]]['cluster_name']}")]

    def holder() -> str | None:
        for node in control_planes:
            if vip in docker("exec", f"{args.name}-{node}", "ip", "-o", "-4", "addr", "show"):
                return node
        return None

    def ready(node: str) -> bool:
        proc = subprocess.run([*kubectl, "get", "node", node, "-o", "json"], capture_output=True, text=True,
                              check=False)
        return proc.returncode == 0 and any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in json.loads(proc.stdout)["status"]["conditions"])

    containers = [f"{args.name}-{n}" for n in control_planes + groups["workers"]]
    print(f"lab {args.name}: {len(control_planes)} control planes, {len(groups['workers'])} workers, VIP {vip}")
    stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.CPUPerc}}", *containers)
    print(stats.rstrip())
    gaps = []
    for round_ in range(1, args.rounds + 1):
        old = holder()
        assert old is not None, "no control plane holds the VIP"
        started = time.monotonic()
        docker("stop", f"{args.name}-{old}")
        stopped = time.monotonic() - started
        while subprocess.run([*kubectl, "--request-timeout=2s", "get", "--raw", "/readyz"], capture_output=True,
                             check=False).returncode != 0:
            time.sleep(0.2)
        gap = time.monotonic() - started
        new = holder()
        docker("start", f"{args.name}-{old}")
        back = time.monotonic()
        while not ready(old):
            time.sleep(1)
        gaps.append(gap)
        print(f"round {round_}: stopped {old} (docker stop took {stopped:.1f} s); API answered through {vip} "
              f"{gap:.1f} s after the stop began, served by {new}; {old} Ready again {time.monotonic() - back:.0f} s "
              "after docker start")
    print(f"API unreachable through the VIP: median {statistics.median(gaps):.1f} s, max {max(gaps):.1f} s "
          f"over {len(gaps)} rounds")


if __name__ == "__main__":
    main()
