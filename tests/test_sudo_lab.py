"""What a sudo user's site meets before anything is installed, on its own small lab ('sudolab', 10.223.0.0/24,
2 nodes): Ansible logs in as `ubuntu` and reaches root only through sudo.

Checked: sudo asking for a password (preflight names each node; `--ask-become-pass` with the password on stdin
passes and the password is nowhere in the artifacts), an active ufw, an NFS server that does not answer, and
netplan applied to the worker's real interface, with the unattended rollback.

The whole site as the sudo user (the signed apt repo, the package cache, the controller's refusing sudo) is the
shared cluster's formation: tests/shared_cluster.py and tests/test_cluster_kubernetes.py.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clusterboot import runner
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import lab

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parent.parent
NAME, SUBNET, USER = "sudolab", "10.223.0.0/24", "ubuntu"
NODES = [f"{NAME}-cp01", f"{NAME}-wk001"]
PASSWORD = "lab-sudo-Pw-7f3a"


@pytest.fixture(scope="module")
def sudo_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name=NAME, subnet=SUBNET,
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.down(cfg, log=lambda _: None)  # a lab left by an interrupted session
    lab.up(cfg, nodes=2, control_planes=1, spark_manager="kubernetes", sudo_user=USER, log=lambda _: None)
    yield cfg
    lab.down(cfg, log=lambda _: None)


def bootstrap(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, input=stdin, capture_output=True,
                          text=True, timeout=1800, check=False)


def node(container: str, *command: str) -> str:
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True,
                          check=True).stdout


def artifacts_folder(output: str) -> Path:
    return Path(next(line for line in output.splitlines() if line.startswith("artifacts: ")).split(": ", 1)[1])


def test_sudo_with_a_password(sudo_lab):
    cfg = sudo_lab
    inventory = str(cfg.inventory_dir)
    for container in NODES:
        node(container, "sh", "-c", f"echo '{USER}:{PASSWORD}' | chpasswd && "
                                    f"echo '{USER} ALL=(ALL) ALL' >/etc/sudoers.d/90-{USER}")
    try:
        refused = bootstrap("--inventory", inventory, "--role", "preflight")
        assert refused.returncode == 1, refused.stdout[-3000:]
        for host in ("cp01", "wk001"):
            assert (f"{host}: sudo to root does not work for {USER} (Task failed: error occurred on host {host}: "
                    "sudo password is required)") in refused.stdout, refused.stdout[-3000:]
        assert "--ask-become-pass" in refused.stdout
        wrong = bootstrap("--inventory", inventory, "--role", "preflight", "--ask-become-pass", stdin="wrong\n")
        assert wrong.returncode == 1 and "sudo password is incorrect" in wrong.stdout, wrong.stdout[-3000:]
        accepted = bootstrap("--inventory", inventory, "--role", "preflight", "--ask-become-pass",
                             stdin=PASSWORD + "\n")
        assert accepted.returncode == 0, accepted.stdout[-3000:]
        folder = artifacts_folder(accepted.stdout)
        leaked = [p for p in folder.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
        assert leaked == [] and PASSWORD not in accepted.stdout + accepted.stderr
    finally:
        for container in NODES:
            node(container, "sh", "-c", f"echo '{USER} ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/90-{USER}")


def test_an_active_ufw_is_refused_by_name(sudo_lab):
    cfg = sudo_lab
    worker = NODES[1]
    node(worker, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null && "
                             "ufw allow 22/tcp >/dev/null && ufw --force enable")
    try:
        refused = bootstrap("--inventory", str(cfg.inventory_dir), "--role", "preflight")
        assert refused.returncode == 1, refused.stdout[-3000:]
        assert "wk001: ufw is active. It drops the pod traffic" in refused.stdout, refused.stdout[-3000:]
        assert "cp01: ufw is active" not in refused.stdout
    finally:
        node(worker, "sh", "-c", "ufw --force disable && DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ufw")


def nodes_playbook(inventory: Path, tags: str, extra_vars: dict, limit: str = "all") -> subprocess.CompletedProcess:
    """playbooks/nodes.yml with extra variables (which bootstrap.py does not take), with the runner's settings."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "playbooks/nodes.yml",
            "--tags", tags, "--limit", limit, "-e", json.dumps(extra_vars)]
    return subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **runner.runner_env()})


def netplan_base(inventory: Path, **overrides) -> subprocess.CompletedProcess:
    """The base role alone on the worker with netplan managed (the lab leaves it off)."""
    return nodes_playbook(inventory, "base", {"cluster_manage_network": True, "base_netplan_answer_seconds": 10,
                                              "base_netplan_rollback_seconds": 25, **overrides}, limit="wk001")


def test_a_spark_volume_nfs_server_that_does_not_answer_is_refused(sudo_lab):
    """The lab's kernel has no NFS (neither nfsd nor the client): nothing can serve or mount NFS here, so the
    lab's volume is a shared folder (hostPath). What a real site gets is this refusal instead of hung pods."""
    cfg = sudo_lab
    refused = nodes_playbook(cfg.inventory_dir, "preflight", {"spark_namespace_nfs_server": "10.223.0.11"})
    assert refused.returncode != 0
    output = " ".join(refused.stdout.split())
    for host in ("cp01", "wk001"):
        assert (f"{host} cannot mount the spark-data volume from NFS server 10.223.0.11:{cfg.shared_data_dir} "
                "(no answer on port 2049, /sbin/mount.nfs missing). clusterboot installs no NFS server") in output, \
            refused.stdout[-3000:]


def test_a_node_on_cgroup_v1_is_refused_unless_kubelet_is_told_to_accept_it(sudo_lab):
    """This machine is cgroup v1 (hybrid), so are the lab's nodes: the lab's kubelet config says failCgroupV1:
    false. Without it (a real site's config), preflight stops every node before kubelet would refuse to start."""
    refused = nodes_playbook(sudo_lab.inventory_dir, "preflight", {"control_plane_kubelet_config": {}})
    assert refused.returncode != 0
    output = " ".join(refused.stdout.split())
    for host in ("cp01", "wk001"):
        assert (f"{host}: the node runs cgroup v1, which kubelet {KUBERNETES_VERSION} refuses (1.35 and later need "
                "cgroup v2)") in output, refused.stdout[-3000:]


def rollback_unit_said(journal: str) -> dict[str, str]:
    """The rollback script's own journal lines, as {message before ';' or ':': the rest}."""
    said = {}
    for match in re.finditer(r"\bsh\[\d+\]: ([^;:\n]+)[;:]?(.*)", journal):
        said[match.group(1).strip()] = match.group(2).strip()
    return said


def test_netplan_applies_the_node_address_and_rolls_back_one_that_does_not_answer(sudo_lab):
    cfg = sudo_lab
    worker, address = NODES[1], "10.223.0.12"
    # What a real machine has and a node container lacks: udev, and a writable /sys for its trigger.
    node(worker, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q udev >/dev/null && "
                             "mount -o remount,rw /sys")
    applied = netplan_base(cfg.inventory_dir)
    assert applied.returncode == 0, applied.stdout[-3000:]
    written = yaml.safe_load(node(worker, "cat", "/etc/netplan/60-clusterboot.yaml"))
    assert written["network"]["ethernets"]["eth0"]["addresses"] == [f"{address}/24"]  # the interface holding node_ip
    assert "routable" in node(worker, "networkctl", "status", "eth0")  # systemd-networkd now owns it
    # Confirmed: the rollback unit was stopped before it restored anything.
    assert subprocess.run(["docker", "exec", worker, "systemctl", "is-active", "clusterboot-netplan-rollback"],
                          capture_output=True, text=True, check=False).stdout.strip() != "active"
    again = netplan_base(cfg.inventory_dir)
    assert "changed=0" in again.stdout, again.stdout[-3000:]
    started = time.monotonic()
    wrong = netplan_base(cfg.inventory_dir, base_node_address="10.223.0.99/24", base_netplan_rollback_seconds=30)
    assert wrong.returncode != 0
    assert f"wk001 did not answer at {address} within 10s after netplan apply" in " ".join(wrong.stdout.split()), \
        wrong.stdout[-3000:]
    # The rollback unit's own account: the bad address was applied, then the previous netplan restored. Only
    # the script's own lines count (`sh[pid]: …`), not systemd's "Started …" line, which quotes the script.
    said: dict[str, str] = {}
    while time.monotonic() - started < 200 and "previous netplan restored" not in said:
        time.sleep(2)
        said = rollback_unit_said(node(worker, "journalctl", "-q", "--no-pager", "-u", "clusterboot-netplan-rollback"))
    assert "10.223.0.99/24" in said.get("netplan applied", ""), said
    assert "not confirmed within 30s" in said, said
    assert f"{address}/24" in said.get("previous netplan restored", ""), f"the node did not roll back: {said}"
    written = yaml.safe_load(node(worker, "cat", "/etc/netplan/60-clusterboot.yaml"))
    assert written["network"]["ethernets"]["eth0"]["addresses"] == [f"{address}/24"]
    back = netplan_base(cfg.inventory_dir)
    assert back.returncode == 0 and "changed=0" in back.stdout, back.stdout[-3000:]
