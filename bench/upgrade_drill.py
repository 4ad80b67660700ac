"""An upgrade drill on a running HA lab: a workload that must stay up, `upgrade` to the next minor interrupted
once mid-worker-batch and finished by a rerun, a third run that changes nothing, then a downgrade refused.
Prints the time per control plane and per worker batch and what a poller saw through the VIP.

    python bootstrap.py artifacts build --kubernetes 1.35.5      # and the default, 1.36.5
    python bootstrap.py lab up --nodes 5 --control-planes 3
    python bench/upgrade_drill.py --from 1.35.5 --to 1.36.5 --form

--form sets the inventory to --from and forms the cluster (`--no-jobs`); without it the lab must already run
--from. The workload is a Deployment of two etcd pods (the registry's image, /health as readiness) with a
PodDisruptionBudget of minAvailable 1 behind a NodePort Service; the controller polls it through the VIP every
second (1 s timeout). The inventory is left at --to.
A drill, not a test: it measures and reports; CI does not run it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from clusterboot import settings
from clusterboot.artifacts import build
from clusterboot.inventory import load, resolve

PROJECT = Path(__file__).resolve().parent.parent
WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: drill, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: drill}}
  template:
    metadata: {labels: {app: drill}}
    spec:
      containers:
        - name: etcd
          image: %(image)s
          command: [etcd, --data-dir=/tmp/e, --listen-client-urls=http://0.0.0.0:2379,
                    --advertise-client-urls=http://127.0.0.1:2379]
          readinessProbe: {httpGet: {path: /health, port: 2379}, periodSeconds: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: drill, namespace: default}
spec: {minAvailable: 1, selector: {matchLabels: {app: drill}}}
---
apiVersion: v1
kind: Service
metadata: {name: drill, namespace: default}
spec:
  type: NodePort
  selector: {app: drill}
  ports: [{port: 2379, nodePort: 30379}]
"""
# Ctrl-C at the first worker's drain: that task's line once the workers' play has begun.
WORKERS_PLAY = "PLAY Upgrade the workers in batches"
DRAIN_TASK = "task: Drain the node (PodDisruptionBudgets honoured)"


@dataclass
class Poller:
    """GETs a URL every second in a thread; keeps (time, ok) per request."""
    url: str
    results: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Poller:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    ok = response.status == 200
            except (OSError, http.client.HTTPException):  # refused, reset, timed out, an HTTP error status
                ok = False
            self.results.append((began, ok))
            self._stop.wait(max(0.0, 1 - (time.monotonic() - began)))

    def stop(self) -> str:
        self._stop.set()
        failed = [t for t, ok in self.results if not ok]
        return f"{len(self.results)} requests, {len(failed)} failed" + (
            f" (between {failed[0] - self.results[0][0]:.0f} s and {failed[-1] - self.results[0][0]:.0f} s)"
            if failed else "")


def set_version(inventory: Path, version: str) -> None:
    path = inventory / "group_vars" / "all.yml"
    text = path.read_text()
    text = re.sub(r"(?m)^cluster_kubernetes_version: .*$", f'cluster_kubernetes_version: "{version}"', text)
    text = re.sub(r"kubernetes-v\d+\.\d+\.\d+", f"kubernetes-v{version}", text)
    path.write_text(text)


def run(*args: str, interrupt_at: tuple[str, str] | None = None) -> tuple[int, list[tuple[float, str]]]:
    """bootstrap.py with its progress lines timed; SIGINT (Ctrl-C) at the first line interrupt_at[1] printed
    after a line starting with interrupt_at[0]."""
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "bootstrap.py", *args], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.monotonic() - began, line.rstrip()))
        if interrupt_at and line.strip() == interrupt_at[1] and any(
                seen.startswith(interrupt_at[0]) for _, seen in lines):
            proc.send_signal(signal.SIGINT)
            interrupt_at = None
    proc.wait()
    return proc.returncode, lines


def plays(lines: list[tuple[float, str]], total: float) -> list[str]:
    """Each play (a serial batch prints its own PLAY line) with its duration."""
    starts = [(t, line.removeprefix("PLAY ").strip()) for t, line in lines if line.startswith("PLAY ")]
    ends = [t for t, _ in starts[1:]] + [total]
    return [f"{end - start:6.0f} s  {name}" for (start, name), end in zip(starts, ends)]


def totals(lines: list[tuple[float, str]]) -> str:
    return next((line for _, line in lines if line.startswith("totals: ")), "no totals line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="sim", help="the lab (and inventory) name (default sim)")
    parser.add_argument("--from", dest="old", required=True, help="the version the lab runs, e.g. 1.35.5")
    parser.add_argument("--to", dest="new", required=True, help="the version to upgrade to, e.g. 1.36.5")
    parser.add_argument("--form", action="store_true", help="form the cluster at --from first")
    args = parser.parse_args()
    inventory = resolve(args.name)
    if args.form:
        set_version(inventory, args.old)
        began = time.monotonic()
        code, lines = run("--inventory", str(inventory), "--no-jobs")
        print(f"formed at {args.old}: exit {code} in {time.monotonic() - began:.0f} s; {totals(lines)}")
        if code != 0:
            print("\n".join(line for _, line in lines[-40:]))
            sys.exit(1)
    hostvars, groups = load(inventory)
    first = groups["control_plane"][0]
    cluster = settings.with_defaults(hostvars[first])
    vip = cluster["cluster_control_plane_vip"]
    kubectl = [str(build.artifacts_dir(build.default_cache(), args.new) / "bin" / "kubectl"),
               "--kubeconfig", str(PROJECT / ".artifacts" / f"kubeconfig-{cluster['cluster_name']}")]

    def k(*command: str, stdin: str | None = None) -> str:
        return subprocess.run([*kubectl, *command], input=stdin, capture_output=True, text=True, check=True,
                              timeout=300).stdout

    def versions() -> str:
        return k("get", "nodes", "-o", "custom-columns=NODE:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion,"
                 "RUNTIME:.status.nodeInfo.containerRuntimeVersion,READY:.status.conditions[-1].status").rstrip()

    manifest = json.loads((build.artifacts_dir(build.default_cache(), args.old) / "manifest.json").read_text())
    registry = first if "{{" in str(cluster["cluster_registry_host"]) else cluster["cluster_registry_host"]
    image = f"{registry}:{cluster['cluster_registry_port']}/etcd:{manifest['kubeadm_images']['etcd']}"
    k("apply", "-f", "-", stdin=WORKLOAD % {"image": image})
    k("rollout", "status", "deployment/drill", "--timeout=300s")
    print(f"before:\n{versions()}")
    service = Poller(f"http://{vip}:30379/health").start()
    time.sleep(5)

    set_version(inventory, args.new)
    upgrade = ("upgrade", "--inventory", str(inventory), "--yes")
    for label, interrupt in (("interrupted at the first worker's drain", (WORKERS_PLAY, DRAIN_TASK)), ("rerun", None),
                             ("third run", None)):
        began = time.monotonic()
        code, lines = run(*upgrade, interrupt_at=interrupt)
        took = time.monotonic() - began
        print(f"\nupgrade, {label}: exit {code} in {took:.0f} s; {totals(lines)}")
        print("\n".join(plays(lines, took)))
    print(f"\nservice through the VIP during the upgrade: {service.stop()}")
    print(f"after:\n{versions()}")

    # A jump needs a built version two minors on, which the unit tests stand in for (tests/test_upgrade_path.py).
    set_version(inventory, args.old)
    code, lines = run(*upgrade)
    print(f"\na downgrade to {args.old}: exit {code}: "
          f"{next((line for _, line in lines if 'cluster_kubernetes_version' in line), lines[-1][1] if lines else '')}")
    set_version(inventory, args.new)
    k("delete", "-f", "-", stdin=WORKLOAD % {"image": image})


if __name__ == "__main__":
    main()
