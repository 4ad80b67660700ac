"""The one cluster the whole-product tests share, formed once per pytest session ('shared', 10.228.0.0/24).

Three control planes behind the API's virtual IP (stacked etcd, keepalived) and three workers, each worker a
Kafka broker (KRaft, three voters, topics with three replicas), formed by one `bootstrap.py --no-jobs -vvv` run
the way a real site is: Ansible logs in as `ubuntu` and reaches root only through sudo; kubeadm, kubelet and
kubectl come through the `upstream` path from a signed apt repo with pkgs.k8s.io's layout, served over HTTPS
by this process (clusterboot/lab/apt_repo.py) and fetched through the package cache on cp01; localhost's
become is a sudo that refuses (tests/fakes/sudo_that_refuses), so a controller-side task that used sudo would
fail the run (the test runs as root, where Ansible would otherwise skip sudo).

Not a test module: tests/conftest.py makes it the session fixture `shared_cluster` and runs every test that
uses it after all the others (so no other lab shares the machine with it), the ones marked
`reforms_shared_cluster` last of all. Every test states what it needs and leaves the cluster as it found it.

CLUSTERBOOT_KEEP_SHARED_LAB=1 keeps the lab after the session and reuses it in the next (the forming run is
then a rerun): for working on one test. CI never sets it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from clusterboot.artifacts import build
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import apt_repo, lab
from kafka_support import add_kafka_group

PROJECT = Path(__file__).resolve().parent.parent
NAME, SUBNET, USER = "shared", "10.228.0.0/24", "ubuntu"
CONTROL_PLANES = ["cp01", "cp02", "cp03"]
WORKERS = ["wk001", "wk002", "wk003"]
NODES = CONTROL_PLANES + WORKERS
_NETWORK = ipaddress.ip_network(SUBNET)
VIP = str(_NETWORK.network_address + 10)  # what the lab gives a multi-control-plane inventory
ADDRESSES = {node: str(_NETWORK.network_address + 11 + index) for index, node in enumerate(NODES)}
BROKERS = ",".join(f"{ADDRESSES[w]}:9092" for w in WORKERS)
FAKE_SUDO = PROJECT / "tests" / "fakes" / "sudo_that_refuses"
KEEP_ENV = "CLUSTERBOOT_KEEP_SHARED_LAB"


def totals(output: str) -> dict[str, int]:
    """The runner's `totals:` line of a bootstrap.py run: {ok: .., changed: .., ...}."""
    line = next(line for line in output.splitlines() if line.startswith("totals: "))
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def kubectl_bin() -> str:
    return str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl")


def image_tags() -> dict[str, str]:
    """The built images' tags by name, and kubeadm's own images (pause, etcd ...) from the artifacts manifest."""
    manifest = json.loads((build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "manifest.json")
                          .read_text())
    return {**manifest["kubeadm_images"], **{i["name"]: i["tag"] for i in manifest["images"]}}


class MemoryPeak:
    """The machine's used memory (MemTotal - MemAvailable), sampled every 5 s: the lab's peak for the record."""

    def __init__(self) -> None:
        self.baseline_mib = self.peak_mib = self._used_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _used_mib() -> int:
        info = {line.split(":")[0]: int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()}
        return (info["MemTotal"] - info["MemAvailable"]) // 1024

    def _sample(self) -> None:
        while not self._stop.wait(5):
            self.peak_mib = max(self.peak_mib, self._used_mib())

    def stop(self) -> str:
        self._stop.set()
        return f"machine memory used: {self.baseline_mib} MiB before the shared lab, {self.peak_mib} MiB at its peak"


class SharedCluster:
    """The formed cluster and what tests read it with: the built kubectl through the fetched kubeconfig,
    `docker exec` on a node, bootstrap.py and the day-2 playbooks against its inventory."""

    def __init__(self, cfg: lab.LabConfig, repo: apt_repo.AptRepo) -> None:
        self.cfg = cfg
        self.repo = repo
        self.kubectl_bin = kubectl_bin()
        self.kubeconfig = PROJECT / ".artifacts" / f"kubeconfig-{cfg.name}"
        self.first_run: subprocess.CompletedProcess | None = None

    @property
    def inventory(self) -> Path:
        return self.cfg.inventory_dir

    @property
    def data(self) -> Path:
        return self.cfg.shared_data_dir

    def container(self, node: str) -> str:
        return f"{self.cfg.name}-{node}"

    def up(self, nodes: int) -> None:
        """Exactly `nodes` node containers (new ones bare, from the node image), each trusting the apt repo's CA,
        and the inventory lab.up writes plus what this cluster adds to it."""
        lab.up(self.cfg, nodes=nodes, control_planes=len(CONTROL_PLANES), package_cache=True,
               spark_manager="kubernetes", sudo_user=USER, log=lambda _: None)
        apt_repo.trust_ca(self.repo, [name for name, _, _ in lab.status(self.cfg)])
        with open(self.inventory / "group_vars" / "all.yml", "a") as group_vars:
            group_vars.write("# The upstream path from the lab's own pkgs.k8s.io.\n"
                             "kubernetes_packages_source: upstream\n"
                             f"kubernetes_packages_repo_url: {self.repo.url(apt_repo.gateway_address(SUBNET))}\n")
        (self.inventory / "host_vars").mkdir(exist_ok=True)
        (self.inventory / "host_vars" / "localhost.yml").write_text(
            f"ansible_become_user: nobody\nansible_become_exe: {FAKE_SUDO}\n")
        add_kafka_group(self.inventory, WORKERS)

    def bootstrap(self, *args: str, timeout: int = 1800, inventory: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(inventory or self.inventory), *args],
                              cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False)

    def submit(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "bootstrap.py", "submit", "--inventory", str(self.inventory), *args],
                              cwd=PROJECT, capture_output=True, text=True, timeout=1800, check=False)

    def playbook(self, name: str, *extra: str) -> subprocess.CompletedProcess:
        """A day-2 playbook as an operator runs it: ansible-playbook with the project's ansible.cfg."""
        return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.inventory),
                               f"playbooks/{name}", *extra], cwd=PROJECT, capture_output=True, text=True,
                              timeout=1800, check=False)

    def kubectl(self, *args: str, check: bool = True, timeout: int = 300, stdin: str | None = None) -> str:
        proc = subprocess.run([self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}{proc.stdout}")
        return proc.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def node_exec(self, node: str, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.container(node), *argv], capture_output=True, text=True,
                              check=False)

    def vip_holder(self) -> str | None:
        for node in CONTROL_PLANES:
            if VIP in self.node_exec(node, "ip", "-o", "-4", "addr", "show").stdout:
                return node
        return None

    def etcd_members(self, node: str) -> list[dict]:
        return self.etcd_member_list(node)["members"]

    def etcd_member_list(self, node: str) -> dict:
        """etcd's own member list with its header (cluster_id), read on node with the etcdctl of its etcd
        container."""
        container = self.node_exec(node, "crictl", "ps", "--name", "^etcd$", "-q").stdout.split()[0]
        out = self.node_exec(node, "crictl", "exec", container, "etcdctl", "--endpoints=https://127.0.0.1:2379",
                             "--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/server.crt",
                             "--key=/etc/kubernetes/pki/etcd/server.key", "member", "list", "-w", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def ready_nodes(self) -> dict[str, bool]:
        return {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"]["conditions"])
                for n in self.json("get", "nodes")["items"]}

    def wait_own_api(self, node: str, seconds: int) -> None:
        """Until node's own API server answers /readyz on its address: its etcd member is back in the quorum
        (a Node can still read Ready for ~40 s after its kubelet stopped, so Ready alone proves nothing here)."""
        started = time.monotonic()
        while self.kubectl(f"--server=https://{ADDRESSES[node]}:6443", "--request-timeout=2s", "get", "--raw",
                           "/readyz", check=False) != "ok":
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

    def delete_spark_drivers(self, name_prefix: str) -> None:
        """A streaming job's driver pods (and with them, by owner, their executors): what stops a job on
        Kubernetes once the spark-submit that started it is gone."""
        for pod in self.json("get", "pods", "-n", "spark", "-l", "spark-role=driver")["items"]:
            if pod["metadata"]["name"].startswith(name_prefix):
                self.kubectl("delete", "pod", "-n", "spark", pod["metadata"]["name"], "--wait=true", timeout=300)


@contextmanager
def formed(workdir: Path) -> Iterator[SharedCluster]:
    keep = os.environ.get(KEEP_ENV) == "1"
    cfg = lab.LabConfig(project_dir=PROJECT, name=NAME, subnet=SUBNET, inventory_root=workdir / "inventory")
    with ExitStack() as stack:
        if not keep:
            lab.down(cfg, log=lambda _: None)  # a lab left by an interrupted session
            stack.callback(lab.down, cfg, log=lambda _: None)
        memory = MemoryPeak()
        stack.callback(lambda: print(f"\nshared lab: {memory.stop()}"))
        build.build(KUBERNETES_VERSION, build.default_cache(), log=lambda _: None)
        gateway = apt_repo.gateway_address(SUBNET)
        repo = apt_repo.build(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION), workdir / "apt-repo",
                              gateway)
        cluster = SharedCluster(cfg, repo)
        cluster.up(len(NODES))  # first: the server binds the lab network's gateway address
        stack.enter_context(apt_repo.Server(repo, gateway))
        started = time.monotonic()
        cluster.first_run = cluster.bootstrap("--no-jobs", "-vvv", timeout=3600)
        assert cluster.first_run.returncode == 0, cluster.first_run.stdout[-6000:]
        print(f"\nshared lab formed in {time.monotonic() - started:.0f} s")
        yield cluster
