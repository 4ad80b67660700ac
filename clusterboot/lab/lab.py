"""lab up / status / down: N systemd node containers with static IPs, an inventory, and SSH."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from clusterboot.artifacts.build import artifacts_dir, default_cache
from clusterboot.errors import UserError
from clusterboot.inventory_writer import KUBERNETES_VERSION, InventorySpec, host_addresses, write_inventory
from clusterboot.docker_engine import docker, engine_answers, ensure_engine
from clusterboot.lab.node_image import ensure_node_image
from clusterboot.mitogen import SSH_CONTROL_DIR

LABEL = "clusterboot.lab"
# Node containers run systemd, containerd and kubelet; these are the flags that work without --privileged
# here (no CAP_SYS_RESOURCE). The image's lab-init finishes the job before systemd starts.
NODE_RUN_FLAGS = [
    "--stop-signal", "SIGRTMIN+3",  # systemd's clean shutdown signal
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    # lab-init mounts; AppArmor's docker-default profile (where there is one) forbids mount(2).
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    # Each node sees only its own cgroup subtree as /sys/fs/cgroup (lab-init makes it writable): systemd and
    # kubelet agree on paths, and two nodes' kubepods.slice never meet. /proc/sys keeps Docker's read-only.
    "--cgroupns=private",
    # runc gives a privileged pod (kube-proxy, calico-node) every device, which a devices cgroup can only do
    # when its parent (this node's) allows every device too; device files still come only from the node's /dev.
    "--device-cgroup-rule", "a *:* rwm",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    # Nested containerd and dockerd cannot run on the overlay root; kubelet's pod volumes and stats want a real
    # filesystem too.
    "-v", "/var/lib/containerd", "-v", "/var/lib/docker", "-v", "/var/lib/kubelet",
]
# kubelet will not start without /dev/kmsg (its OOM watcher reads the kernel log): pass the host's, meant
# read-only (the rule above lets the devices cgroup allow more; nothing in a node writes to it).
KMSG_FLAGS = ["--device", "/dev/kmsg:/dev/kmsg:r"] if Path("/dev/kmsg").exists() else []
# Nodes resolve through Docker's embedded DNS at 127.0.0.11, which a pod cannot reach (its loopback is its
# own): kubelet gives pods and CoreDNS this file instead, with the host's own upstream servers.
KUBELET_RESOLV_CONF = "/etc/lab/kubelet-resolv.conf"
# systemd in 100 nodes runs out of inotify instances at the kernel defaults.
HOST_SYSCTLS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 1048576}
# Only what a lab must differ in from a real inventory.
LAB_OVERRIDES = {
    "ansible_user": "root",
    "ansible_become": False,
    "cluster_manage_network": False,
    "cluster_package_source": "distro",
    "cluster_package_cache_enabled": False,
    # A lab registry serves plain HTTP, trusted by name.
    "cluster_registry_insecure": True,
    # Kubernetes from the offline artifacts (`bootstrap.py artifacts build`), images from the lab registry.
    "cluster_kubernetes_source": "artifacts",
    "cluster_kubernetes_artifacts_dir": str(artifacts_dir(default_cache(), KUBERNETES_VERSION)),
    "cluster_image_repository": "{{ groups.control_plane[0] }}:{{ cluster_registry_port }}",
    # Pod traffic between nodes always in VXLAN, so the lab exercises the encapsulation real sites use.
    "calico_encapsulation": "VXLAN",
    # kubelet and kube-proxy in a container without CAP_SYS_RESOURCE (as kind runs them, minus --privileged):
    # oom_score_adj clamped instead of lowered, no swap check, cgroup v1 accepted (this host), no disk-pressure
    # evictions from the host's shared disk, kernel settings read from lab-init's per-node files and never
    # written (protectKernelDefaults), no conntrack table sizing (host-wide: a node cannot write it).
    "container_runtime_restrict_oom_score_adj": True,
    "control_plane_kubelet_config": {
        "failSwapOn": False, "failCgroupV1": False, "protectKernelDefaults": True, "oomScoreAdj": 0,
        "imageGCHighThresholdPercent": 100, "resolvConf": KUBELET_RESOLV_CONF,
        "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
    },
    "control_plane_kube_proxy_config": {"conntrack": {"maxPerCore": 0}},
    # The host kernel's config is not readable from a node container.
    "cluster_kubeadm_ignore_preflight_errors": ["SystemVerification"],
    # The driver runs as root on this machine and creates output folders on the shared folder as root:
    # executors must be root too to write into them.
    "spark_standalone_user": "root",
    "preflight_check_product_uuid": False,
    # Every node shares this machine's two cores: 100 concurrent dpkg runs (each starting a nested dockerd)
    # drove the load to 380. Installing in batches keeps the machine responsive.
    "cluster_install_batch": 16,
    # Apache's download site is not reachable from here: Kafka's jars come from Maven Central, via the controller.
    "kafka_source": "maven",
}


@dataclass(frozen=True)
class LabConfig:
    project_dir: Path
    name: str = "sim"
    subnet: str = "10.213.0.0/22"
    inventory_root: Path | None = None  # default: the project's inventory/

    @property
    def state_dir(self) -> Path:
        return self.project_dir / ".lab"

    @property
    def network(self) -> str:
        return f"clusterboot-{self.name}"

    @property
    def inventory_dir(self) -> Path:
        return (self.inventory_root or self.project_dir / "inventory") / self.name

    @property
    def shared_data_dir(self) -> Path:
        """Mounted at the same path in every node: the lab's stand-in for NFS, so job paths mean the same everywhere."""
        return self.state_dir / self.name / "data"

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / self.name / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / self.name / "known_hosts"


def lab_spec(cfg: LabConfig, nodes: int, control_planes: int, package_cache: bool,
             spark_manager: str = "kubernetes", sudo_user: str | None = None) -> InventorySpec:
    if nodes < 1 or control_planes < 1 or control_planes > nodes:
        raise UserError("lab up: --nodes must be at least 1 and at least --control-planes (default 1)")
    if sudo_user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", sudo_user):
        raise UserError(f"lab up: --sudo-user {sudo_user!r} is not a user name (lower case letters, digits, _ and -)")
    network = ipaddress.ip_network(cfg.subnet)
    overrides = dict(
        LAB_OVERRIDES,
        cluster_package_cache_enabled=package_cache,
        cluster_spark_manager=spark_manager,
        ansible_ssh_private_key_file=str(cfg.ssh_key),
        cluster_shared_data_dir=str(cfg.shared_data_dir),
        # Every node bind-mounts the shared folder at the same path: Spark pods get it as a hostPath volume
        # at that path too, so a job's paths mean the same on the controller, the nodes and in pods.
        spark_namespace_nfs_server="",
        spark_namespace_host_path=str(cfg.shared_data_dir),
        spark_submit_pvc_mounts=[{"name": "spark-data", "claim": "spark-data", "path": str(cfg.shared_data_dir)}],
        # Every node reports the host's two cores: small CPU requests let a driver and an executor share a node.
        spark_submit_conf={"spark.kubernetes.driver.request.cores": "200m",
                           "spark.kubernetes.executor.request.cores": "200m"},
        # After a full bootstrap the runner submits these: the seed's word count on a generated corpus.
        spark_submit_jobs=[
            ["data_generator", "text", f"{cfg.shared_data_dir}/corpus", "--lines", "20000", "--partitions", "4"],
            ["word_count", f"{cfg.shared_data_dir}/corpus", f"{cfg.shared_data_dir}/word-counts"],
        ],
        ansible_ssh_common_args=f"-o UserKnownHostsFile={cfg.known_hosts}",
    )
    if sudo_user:
        # A real user's path: log in as an ordinary account and reach root only through sudo.
        overrides.update(ansible_user=sudo_user, ansible_become=True)
    return InventorySpec(
        name=cfg.name, node_network=cfg.subnet, first_ip=str(network.network_address + 11),
        control_planes=control_planes, workers=nodes - control_planes, overrides=overrides,
        # Below the first node's address: free on every lab network.
        control_plane_vip=str(network.network_address + 10) if control_planes > 1 else None,
    )


def up(cfg: LabConfig, nodes: int, control_planes: int = 1, package_cache: bool = False,
       spark_manager: str = "kubernetes", sudo_user: str | None = None, log=print) -> float:
    """Bring the lab to exactly N nodes answering SSH; return seconds until all answered.

    With sudo_user, every node gets that account (the lab's key, passwordless sudo) and the inventory logs
    in as it with become, as on an Ubuntu server's `ubuntu` account."""
    started = time.monotonic()
    spec = lab_spec(cfg, nodes, control_planes, package_cache, spark_manager, sudo_user)
    ensure_engine(cfg.state_dir)
    _raise_host_limits(log)
    public_key = _ensure_ssh_key(cfg)
    cfg.shared_data_dir.mkdir(parents=True, exist_ok=True)
    _write_kubelet_resolv_conf(cfg)
    cfg.shared_data_dir.chmod(0o1777)  # executors write as the nodes' spark user
    image = ensure_node_image(cfg.state_dir, public_key, log=log)
    _ensure_network(cfg)
    wanted = {f"{cfg.name}-{name}": (name, ip) for _, name, ip in host_addresses(spec)}
    existing = set(_lab_containers(cfg))
    for stale in sorted(existing - set(wanted)):
        docker("rm", "-f", "-v", stale)
    missing = [c for c in wanted if c not in existing]
    log(f"starting {len(missing)} node containers ({len(existing & set(wanted))} already there)")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: _run_node(cfg, image.tag, c, *wanted[c]), missing))
    docker("start", *wanted)  # a stopped node from an earlier run comes back
    if sudo_user:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda c: _add_sudo_user(c, sudo_user), wanted))
    write_inventory(spec, cfg.inventory_dir)
    _wait_for_ssh(cfg, wanted, log)
    return time.monotonic() - started


def image(cfg: LabConfig, log=print) -> str:
    """The node image's tag, with this lab's key, building it if needed."""
    ensure_engine(cfg.state_dir)
    return ensure_node_image(cfg.state_dir, _ensure_ssh_key(cfg), log=log).tag


def status(cfg: LabConfig) -> list[tuple[str, str, str]]:
    """(container, state, ip) for each lab container."""
    rows = []
    for name in _lab_containers(cfg):
        out = docker("inspect", "-f", "{{.State.Status}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        state, _, ip = out.strip().partition(" ")
        rows.append((name, state, ip))
    return rows


def down(cfg: LabConfig, log=print) -> int:
    """Remove exactly the lab's containers (with their volumes), network, inventory and keys."""
    removed = 0
    if engine_answers():
        containers = _lab_containers(cfg)
        for start in range(0, len(containers), 50):
            docker("rm", "-f", "-v", *containers[start:start + 50])
        removed = len(containers)
        if docker("network", "ls", "-q", "--filter", f"name=^{cfg.network}$").strip():
            docker("network", "rm", cfg.network)
    shutil.rmtree(cfg.state_dir / cfg.name, ignore_errors=True)  # keys, known_hosts, shared data
    # The next lab reuses these addresses: a persisted SSH master would carry its sessions into the
    # removed container's dead connection. Without the socket, the next run opens a fresh master.
    for socket in SSH_CONTROL_DIR.glob("*"):
        socket.unlink(missing_ok=True)
    if cfg.inventory_dir.exists():
        for file in sorted(cfg.inventory_dir.rglob("*"), reverse=True):
            file.rmdir() if file.is_dir() else file.unlink()
        cfg.inventory_dir.rmdir()
    log(f"removed {removed} containers, network {cfg.network}, inventory, keys and shared data")
    return removed


def _lab_containers(cfg: LabConfig) -> list[str]:
    out = docker("ps", "-a", "--filter", f"label={LABEL}={cfg.name}", "--format", "{{.Names}}")
    return sorted(out.split())


def _ensure_network(cfg: LabConfig) -> None:
    if docker("network", "ls", "-q", "--filter", f"name=^{cfg.network}$").strip():
        return
    docker("network", "create", "--subnet", cfg.subnet, "--label", f"{LABEL}={cfg.name}", cfg.network)


def _run_node(cfg: LabConfig, image: str, container: str, hostname: str, ip: str) -> None:
    docker(
        "run", "-d", "--name", container, "--hostname", hostname, "--network", cfg.network, "--ip", ip,
        "--label", f"{LABEL}={cfg.name}", *NODE_RUN_FLAGS, *KMSG_FLAGS,
        "-v", f"{cfg.shared_data_dir}:{cfg.shared_data_dir}:rw",
        "-v", f"{cfg.state_dir / cfg.name / 'kubelet-resolv.conf'}:{KUBELET_RESOLV_CONF}:ro",
        # systemd takes the machine-id from container_uuid once it knows it is in a container;
        # otherwise, on a KVM host, every node copies the host's DMI uuid.
        "--env", "container=docker", "--env", f"container_uuid={uuid.uuid4()}", image,
    )


def _add_sudo_user(container: str, user: str) -> None:
    """The account a cloud image gives its operator: the lab's key (root's), sudo without a password."""
    script = f"""set -eu
id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}
install -d -m 700 -o {user} -g {user} /home/{user}/.ssh
install -m 600 -o {user} -g {user} /root/.ssh/authorized_keys /home/{user}/.ssh/authorized_keys
echo '{user} ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/90-{user}
chmod 440 /etc/sudoers.d/90-{user}
"""
    docker("exec", container, "sh", "-c", script)


def _write_kubelet_resolv_conf(cfg: LabConfig) -> None:
    """The host's nameservers that are not loopback addresses (those mean nothing inside a pod)."""
    servers = [line.split()[1] for line in Path("/etc/resolv.conf").read_text().splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1 and not line.split()[1].startswith("127.")]
    (cfg.state_dir / cfg.name).mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / cfg.name / "kubelet-resolv.conf").write_text("".join(f"nameserver {s}\n" for s in servers))


def _ensure_ssh_key(cfg: LabConfig) -> str:
    cfg.ssh_key.parent.mkdir(parents=True, exist_ok=True)
    if not cfg.ssh_key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"clusterboot-{cfg.name}", "-f", str(cfg.ssh_key)],
            check=True,
        )
    return cfg.ssh_key.with_suffix(".pub").read_text()


def _raise_host_limits(log) -> None:
    for key, minimum in HOST_SYSCTLS.items():
        path = Path("/proc/sys") / key
        try:
            if int(path.read_text()) < minimum:
                path.write_text(str(minimum))
        except (OSError, ValueError):
            log(f"warning: could not raise {key.replace('/', '.')} to {minimum}; past ~26 nodes systemd may fail")


def _node_host_key(container: str) -> str | None:
    proc = subprocess.run(
        ["docker", "exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"], capture_output=True, check=False
    )
    return proc.stdout.decode().split()[1] if proc.returncode == 0 and proc.stdout else None


def _ssh_answers(cfg: LabConfig, ip: str) -> bool:
    cmd = [
        "ssh", "-i", str(cfg.ssh_key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={cfg.known_hosts}", f"root@{ip}", "true",
    ]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _wait_for_ssh(cfg: LabConfig, nodes: dict[str, tuple[str, str]], log, timeout: float = 600.0) -> None:
    """Record each node's real host key (read through docker), then wait for a real SSH login."""
    deadline = time.monotonic() + timeout
    host_keys: dict[str, str] = {}
    pending = dict(nodes)
    with ThreadPoolExecutor(max_workers=8) as pool:
        while pending and time.monotonic() < deadline:
            need_key = [c for c in pending if c not in host_keys]
            for container, key in zip(need_key, pool.map(_node_host_key, need_key)):
                if key:
                    host_keys[container] = key
            cfg.known_hosts.write_text(
                "".join(f"{nodes[c][1]} ssh-ed25519 {k}\n" for c, k in sorted(host_keys.items()))
            )
            ready_to_try = [c for c in pending if c in host_keys]
            for container, ok in zip(ready_to_try, pool.map(lambda c: _ssh_answers(cfg, pending[c][1]), ready_to_try)):
                if ok:
                    del pending[container]
            if pending:
                time.sleep(1)
    if pending:
        raise UserError(f"{len(pending)} lab nodes did not answer SSH in {timeout:.0f}s: {', '.join(sorted(pending)[:5])}")
    log(f"all {len(nodes)} nodes answer SSH")
