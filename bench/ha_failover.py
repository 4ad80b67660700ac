"""Failover of a highly available control plane on a running lab: how long the API is unreachable through its
virtual IP when the control plane that holds it stops, and what the lab costs in memory and CPU.

    python bootstrap.py lab up --nodes 5 --control-planes 3
    python bootstrap.py --inventory sim --no-jobs
    python bench/ha_failover.py --rounds 3

Each round stops the VIP holder, either cleanly (`docker stop`: systemd shuts the node down, as a reboot
does) or as a power cut (`docker kill`), polls `GET /readyz` through the VIP every 0.2 s (2 s timeout) until it
answers, notes the new holder, then `docker start`s the old one and waits until its own API server answers
/readyz on its node address (its etcd member back in the quorum) before the next round. Prints one line per
round and the lab's `docker stats` (memory, CPU) before the first round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from clusterboot import settings
from clusterboot.artifacts import build
from clusterboot.inventory import load, resolve
from clusterboot.inventory_writer import KUBERNETES_VERSION

PROJECT = Path(__file__).resolve().parent.parent


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=180).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="sim", help="the lab (and inventory) name (default sim)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per way of stopping (default 3)")
    args = parser.parse_args()
    hostvars, groups = load(resolve(args.name))
    control_planes = groups["control_plane"]
    vip = hostvars[control_planes[0]]["cluster_control_plane_vip"]
    kubectl = [str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl"),
               "--kubeconfig", str(PROJECT / ".artifacts" / f"kubeconfig-{hostvars[control_planes[0]]['cluster_name']}")]

    def holder() -> str | None:
        for node in control_planes:  # a stopped node's docker exec fails: it holds nothing
            proc = subprocess.run(["docker", "exec", f"{args.name}-{node}", "ip", "-o", "-4", "addr", "show"],
                                  capture_output=True, text=True, check=False)
            if vip in proc.stdout:
                return node
        return None

    def own_api_answers(node: str) -> bool:
        server = f"https://{hostvars[node]['node_ip']}:{settings.with_defaults(hostvars[node])['cluster_api_port']}"
        return subprocess.run([*kubectl, f"--server={server}", "--request-timeout=2s", "get", "--raw", "/readyz"],
                              capture_output=True, check=False).returncode == 0

    containers = [f"{args.name}-{n}" for n in control_planes + groups["workers"]]
    print(f"lab {args.name}: {len(control_planes)} control planes, {len(groups['workers'])} workers, VIP {vip}")
    stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.CPUPerc}}", *containers)
    print(stats.rstrip())
    gaps: dict[str, list[float]] = {"stop": [], "kill": []}
    for how in gaps:
        for round_ in range(1, args.rounds + 1):
            old = holder()
            assert old is not None, "no control plane holds the VIP"
            started = time.monotonic()
            docker(how, f"{args.name}-{old}")
            while subprocess.run([*kubectl, "--request-timeout=2s", "get", "--raw", "/readyz"], capture_output=True,
                                 check=False).returncode != 0:
                time.sleep(0.2)
            gap = time.monotonic() - started
            new = holder()
            docker("start", f"{args.name}-{old}")
            back = time.monotonic()
            while not own_api_answers(old):
                time.sleep(1)
            gaps[how].append(gap)
            print(f"docker {how} {old}: API answered through {vip} {gap:.1f} s after the {how} began, served by "
                  f"{new}; {old}'s own API server answered {time.monotonic() - back:.0f} s after docker start")
    for how, values in gaps.items():
        print(f"docker {how}: API unreachable through the VIP: median {statistics.median(values):.1f} s, "
              f"max {max(values):.1f} s over {len(values)} rounds")


if __name__ == "__main__":
    main()
