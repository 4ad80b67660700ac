"""A highly available control plane on a real 5-node lab (3 control planes, 2 workers), formed by `bootstrap.py`
from the offline artifacts: kubeadm init on the first control plane, the other two joined as control planes with
stacked etcd, keepalived keeping the API's virtual IP on a live control plane.

Then: the control plane that holds the VIP is stopped and the API keeps answering through the same address, a
pod is scheduled while it is down, and it comes back Ready; a second run changes nothing; a wiped control plane
(its container removed and recreated from the bare node image) rejoins alone.

Black box: `python bootstrap.py` in a subprocess, the cluster read with the built kubectl through the fetched
kubeconfig, etcd's member list read with the etcdctl its image carries. Traffic goes only to the lab's containers.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from clusterboot.artifacts import build
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import lab
from test_kubernetes_lab import Cluster, bootstrap, totals

# Not in ./dev test: a cold CI run (artifacts from nothing) would not fit 90 minutes with it; `pytest -m long`.
pytestmark = [pytest.mark.lab, pytest.mark.cluster, pytest.mark.long]

PROJECT = Path(__file__).resolve().parent.parent
CONTROL_PLANES = ["cp01", "cp02", "cp03"]
WORKERS = ["wk001", "wk002"]
SUBNET = "10.228.0.0/24"
VIP = "10.228.0.10"  # what the lab gives a multi-control-plane inventory: the address below the first node
# keepalived's unicast adverts every second; a silent holder is replaced after about three of them.
FAILOVER_BOUND_SECONDS = 30


def summary_changed(output: str) -> dict[str, int]:
    """The runner's summary table: {host: changed}."""
    rows = [line.split() for line in output[output.index("host  "):].splitlines()[1:]]
    return {row[0]: int(row[2]) for row in rows if row and row[0] in CONTROL_PLANES + WORKERS}


class HaCluster(Cluster):
    """The real-cluster module's helpers (kubectl through the fetched kubeconfig, docker exec on a node) and
    what HA adds: who holds the VIP, etcd's own member list, each control plane's own API server."""

    def node_ip(self, node: str) -> str:
        return next(ip for name, _, ip in lab.status(self.cfg) if name == f"{self.cfg.name}-{node}")

    def vip_holder(self) -> str | None:
        for node in CONTROL_PLANES:
            if VIP in self.node_exec(node, "ip", "-o", "-4", "addr", "show").stdout:
                return node
        return None

    def etcd_members(self, node: str) -> list[dict]:
        """etcd's own member list, read on node with the etcdctl of its etcd container."""
        container = self.node_exec(node, "crictl", "ps", "--name", "^etcd$", "-q").stdout.split()[0]
        out = self.node_exec(node, "crictl", "exec", container, "etcdctl", "--endpoints=https://127.0.0.1:2379",
                             "--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/server.crt",
                             "--key=/etc/kubernetes/pki/etcd/server.key", "member", "list", "-w", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["members"]

    def ready_nodes(self) -> dict[str, bool]:
        items = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
        return {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"]["conditions"]) for n in items}

    def wait_own_api(self, node: str, ip: str, seconds: int) -> None:
        """Until node's own API server answers /readyz on its address: its etcd member is back in the quorum
        (a Node can still read Ready for ~40 s after its kubelet stopped, so Ready alone proves nothing here)."""
        started = time.monotonic()
        while self.kubectl(f"--server=https://{ip}:6443", "--request-timeout=2s", "get", "--raw", "/readyz",
                           check=False) != "ok":
            assert time.monotonic() - started < seconds, f"{node}'s API server did not answer in {seconds} s"
            time.sleep(2)

    def wait_ready(self, nodes: list[str], seconds: int) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            ready = self.ready_nodes()
            if all(ready.get(n) for n in nodes):
                return time.monotonic() - started
            time.sleep(3)
        raise AssertionError(f"not Ready after {seconds} s: {self.ready_nodes()}")


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="hatest", subnet=SUBNET,
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    build.build(KUBERNETES_VERSION, build.default_cache(), log=lambda _: None)
    lab.up(cfg, nodes=len(CONTROL_PLANES) + len(WORKERS), control_planes=len(CONTROL_PLANES),
           spark_manager="kubernetes", log=lambda _: None)
    try:
        # Spark is not what this module is about: the nodes and kubernetes phases only.
        first = bootstrap(cfg.inventory_dir, "--no-jobs", "--skip-tags", "spark")
        assert first.returncode == 0, first.stdout[-6000:]
        yield HaCluster(cfg, first)
    finally:
        lab.down(cfg, log=lambda _: None)


def test_three_control_planes_ready_and_three_etcd_members(ha: HaCluster) -> None:
    nodes = json.loads(ha.kubectl("get", "nodes", "-o", "json"))["items"]
    control = sorted(n["metadata"]["name"] for n in nodes
                     if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"])
    assert control == CONTROL_PLANES
    assert all(ha.ready_nodes().values()), ha.ready_nodes()
    members = ha.etcd_members("cp02")
    assert sorted(m["name"] for m in members) == CONTROL_PLANES
    assert not any(m.get("isLearner") for m in members)
    # Everyone reaches the API through the VIP: the operator's kubeconfig and every worker's kubelet.
    assert f"server: https://{VIP}:6443" in ha.kubeconfig.read_text()
    assert oct(ha.kubeconfig.stat().st_mode & 0o777) == "0o600"
    for worker in WORKERS:
        kubelet_conf = ha.node_exec(worker, "cat", "/etc/kubernetes/kubelet.conf").stdout
        assert f"server: https://{VIP}:6443" in kubelet_conf, worker
    # The API server certificate names the VIP, whichever control plane serves it.
    for node in CONTROL_PLANES:
        cert = ha.node_exec(node, "openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                            "/etc/kubernetes/pki/apiserver.crt").stdout
        assert f"IP Address:{VIP}" in cert, (node, cert)


def test_a_second_run_changes_nothing(ha: HaCluster) -> None:
    second = bootstrap(ha.cfg.inventory_dir, "--no-jobs", "--skip-tags", "spark")
    assert second.returncode == 0, second.stdout[-4000:]
    assert totals(second.stdout)["changed"] == 0, second.stdout[-4000:]


def test_the_api_survives_losing_the_control_plane_that_holds_the_vip(ha: HaCluster) -> None:
    holder = ha.vip_holder()
    assert holder in CONTROL_PLANES
    container = f"{ha.cfg.name}-{holder}"
    subprocess.run(["docker", "stop", container], check=True, capture_output=True, timeout=120)
    try:
        stopped = time.monotonic()
        while True:  # the same address, another control plane behind it
            proc = subprocess.run([ha.kubectl_bin, "--kubeconfig", str(ha.kubeconfig), "--request-timeout=2s",
                                   "get", "--raw", "/readyz"], capture_output=True, text=True, check=False)
            if proc.returncode == 0:
                break
            assert time.monotonic() - stopped < FAILOVER_BOUND_SECONDS, proc.stderr
            time.sleep(0.5)
        new_holder = ha.vip_holder()
        assert new_holder not in (None, holder)
        # A pod is still scheduled and started (the pause image is on every node already: the registry lives on
        # cp01, which may be the one stopped).
        pause = json.loads((build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "manifest.json")
                           .read_text())["kubeadm_images"]["pause"]
        ha.kubectl("run", "during-outage", f"--image=cp01:5000/pause:{pause}", "--image-pull-policy=IfNotPresent",
                   "--restart=Never")
        ha.kubectl("wait", "--for=condition=Ready", "pod/during-outage", "--timeout=120s", timeout=150)
        members = ha.etcd_members(new_holder)
        assert len(members) == 3  # one is unreachable, none was removed
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True, timeout=120)
    ha.wait_own_api(holder, ha.node_ip(holder), 300)
    ha.wait_ready([holder], 240)
    # Nothing lost: the pod made while it was down is there, etcd has its three members again.
    assert ha.kubectl("get", "pod", "during-outage", "-o", "jsonpath={.status.phase}") == "Running"
    assert sorted(m["name"] for m in ha.etcd_members(holder)) == CONTROL_PLANES
    ha.kubectl("delete", "pod", "during-outage", "--wait=false")


def test_a_wiped_control_plane_rejoins_alone(ha: HaCluster) -> None:
    """cp03's container is removed and recreated from the bare node image (a reinstalled machine); one run of
    bootstrap.py forgets its old etcd member and node, prepares it and joins it again; the workers are untouched."""
    subprocess.run(["docker", "rm", "-f", "-v", f"{ha.cfg.name}-cp03"], check=True, capture_output=True, timeout=120)
    lab.up(ha.cfg, nodes=len(CONTROL_PLANES) + len(WORKERS), control_planes=len(CONTROL_PLANES),
           spark_manager="kubernetes", log=lambda _: None)
    run = bootstrap(ha.cfg.inventory_dir, "--no-jobs", "--skip-tags", "spark")
    assert run.returncode == 0, run.stdout[-6000:]
    changed = summary_changed(run.stdout)
    assert changed["cp03"] > 0
    assert all(changed[w] == 0 for w in WORKERS), changed
    ha.wait_ready(CONTROL_PLANES + WORKERS, 240)
    members = ha.etcd_members("cp01")
    assert sorted(m["name"] for m in members) == CONTROL_PLANES, members
    assert all(m.get("clientURLs") for m in members), members  # every member started, none left half-added
