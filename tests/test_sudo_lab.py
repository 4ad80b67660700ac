"""The path a real user takes, on its own lab ('sudolab', 10.223.0.0/24, 2 nodes, package cache on).

Ansible logs in as `ubuntu` and reaches root only through sudo, so every `become` is real. kubeadm, kubelet
and kubectl come through the `upstream` code path (deb822 source, signed-by key, version pin, hold) from a
signed apt repo with pkgs.k8s.io's layout served over HTTPS (clusterboot/lab/apt_repo.py: the offline
artifacts' binaries packaged as .debs, a repo key and a CA of its own), fetched through the package cache;
only the repo URL differs from a real inventory. The node image has no python3-debian: deb822_repository
fails unless the role installs it.

Controller-side tasks (kubeconfig, image records, pyspark wheel) must not use sudo on the operator's machine:
the test runs as root, where Ansible skips sudo to root, so the inventory makes localhost's become target
`nobody` through a sudo that refuses (tests/fakes/sudo_that_refuses): any controller task that becomes fails.
They run in the whole-site test (marker long, not in ./dev test): ~25 min here.

Then, on the same lab: sudo asking for a password (preflight names each node; `--ask-become-pass` with the
password on stdin passes and the password is nowhere in the artifacts), an active ufw, an NFS server that
does not answer, and netplan applied to the worker's real interface, with the unattended rollback.
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

from clusterboot.artifacts.build import artifacts_dir, default_cache
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot import runner
from clusterboot.lab import apt_repo, lab

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

PROJECT = Path(__file__).resolve().parent.parent
NAME, SUBNET, USER = "sudolab", "10.223.0.0/24", "ubuntu"
NODES = [f"{NAME}-cp01", f"{NAME}-wk001"]
FAKE_SUDO = PROJECT / "tests" / "fakes" / "sudo_that_refuses"
PASSWORD = "lab-sudo-Pw-7f3a"


@pytest.fixture(scope="module")
def sudo_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name=NAME, subnet=SUBNET,
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.down(cfg, log=lambda _: None)  # a lab left by an interrupted session
    lab.up(cfg, nodes=2, control_planes=1, spark_manager="kubernetes", sudo_user=USER, package_cache=True,
           log=lambda _: None)
    gateway = apt_repo.gateway_address(SUBNET)
    repo = apt_repo.build(artifacts_dir(default_cache(), KUBERNETES_VERSION), tmp_path_factory.mktemp("repo"),
                          gateway)
    apt_repo.trust_ca(repo, NODES)
    with apt_repo.Server(repo, gateway) as server:
        with open(cfg.inventory_dir / "group_vars" / "all.yml", "a") as group_vars:
            group_vars.write("# The upstream path from the lab's own pkgs.k8s.io.\n"
                             "kubernetes_packages_source: upstream\n"
                             f"kubernetes_packages_repo_url: {repo.url(gateway, server.port)}\n")
        (cfg.inventory_dir / "host_vars").mkdir(exist_ok=True)
        (cfg.inventory_dir / "host_vars" / "localhost.yml").write_text(
            f"ansible_become_user: nobody\nansible_become_exe: {FAKE_SUDO}\n")
        yield cfg, server
    lab.down(cfg, log=lambda _: None)


def bootstrap(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, input=stdin, capture_output=True,
                          text=True, timeout=1800, check=False)


def node(container: str, *command: str) -> str:
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True,
                          check=True).stdout


def totals(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("totals: "))


def artifacts_folder(output: str) -> Path:
    return Path(next(line for line in output.splitlines() if line.startswith("artifacts: ")).split(": ", 1)[1])


def run_changing_then_not(*args: str) -> tuple[float, str]:
    """Run bootstrap.py twice; the second run must change nothing. Returns the first run's seconds and the
    second's totals line."""
    started = time.monotonic()
    first = bootstrap(*args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    seconds = time.monotonic() - started
    rerun = bootstrap(*args)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert " changed=0 " in totals(rerun.stdout) and " failed=0 " in totals(rerun.stdout), rerun.stdout[-3000:]
    return seconds, totals(rerun.stdout)


def test_nodes_and_kubernetes_packages_as_a_sudo_user_from_the_signed_apt_repo(sudo_lab):
    cfg, repo_server = sudo_lab
    inventory = str(cfg.inventory_dir)
    for container in NODES:
        # What a minimal Ubuntu image lacks too: deb822_repository needs it.
        assert "python3-debian" not in node(container, "dpkg-query", "-W", "-f", "${Package}\n")
    nodes_seconds, nodes_rerun = run_changing_then_not("--inventory", inventory, "--phase", "nodes")
    packages_seconds, packages_rerun = run_changing_then_not("--inventory", inventory, "--role", "kubernetes_packages")
    for container in NODES:
        # Ansible's connections were the sudo user's; root came from sudo.
        assert f"{USER} : TTY=" in node(container, "journalctl", "-q", "--no-pager", "_COMM=sudo")
        assert node(container, "apt-mark", "showhold").split() == ["kubeadm", "kubectl", "kubelet"]
        assert node(container, "dpkg-query", "-W", "-f", "${Version}", "kubeadm") == f"{KUBERNETES_VERSION}-1.1"
        sources = node(container, "cat", "/etc/apt/sources.list.d/kubernetes.sources")
        assert "Signed-By: /etc/apt/keyrings/kubernetes-1.34.asc" in sources
        # Through the package cache (apt-cacher-ng's HTTPS remap) ...
        assert f"URIs: http://HTTPS///{apt_repo.gateway_address(SUBNET)}/core:/stable:/v1.34/deb/" in sources
    # ... which fetched kubeadm's .deb from the repo for the nodes.
    assert "kubeadm_1.34.2-1.1_amd64.deb" in node(NODES[0], "cat", "/var/log/apt-cacher-ng/apt-cacher.log")
    fetches = sum(path.endswith("/kubeadm_1.34.2-1.1_amd64.deb") for path in repo_server.requested)
    assert fetches >= 1
    print(f"as {USER}: nodes phase {nodes_seconds:.0f}s, kubernetes_packages {packages_seconds:.0f}s; "
          f"reruns {nodes_rerun} / {packages_rerun}; the repo served kubeadm's .deb {fetches} times for 2 nodes")


@pytest.mark.long  # ~25 min here: not in ./dev test (CI's budget); `pytest -m long`
def test_whole_site_as_a_sudo_user(sudo_lab):
    """Every phase, so the controller-side tasks (kubeconfig, image and namespace records, pyspark wheel) run:
    localhost's become is a sudo that refuses, so any of them that used sudo would fail the run."""
    cfg, _ = sudo_lab
    seconds, rerun = run_changing_then_not("--inventory", str(cfg.inventory_dir), "--no-jobs")
    kubeconfig = PROJECT / ".artifacts" / f"kubeconfig-{NAME}"
    nodes = subprocess.run([str(artifacts_dir(default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl"),
                            "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
                           capture_output=True, text=True, check=True).stdout
    assert [line.split()[1] for line in nodes.splitlines()] == ["Ready", "Ready"], nodes
    for container in NODES:
        assert node(container, "apt-mark", "showhold").split() == ["kubeadm", "kubectl", "kubelet"]
    print(f"site as {USER}: {seconds:.0f}s, rerun {rerun}")


def test_sudo_with_a_password(sudo_lab):
    cfg, _ = sudo_lab
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
    cfg, _ = sudo_lab
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
    cfg, _ = sudo_lab
    refused = nodes_playbook(cfg.inventory_dir, "preflight", {"spark_namespace_nfs_server": "10.223.0.11"})
    assert refused.returncode != 0
    output = " ".join(refused.stdout.split())
    for host in ("cp01", "wk001"):
        assert (f"{host} cannot mount the spark-data volume from NFS server 10.223.0.11:{cfg.shared_data_dir} "
                "(no answer on port 2049, /sbin/mount.nfs missing). clusterboot installs no NFS server") in output, \
            refused.stdout[-3000:]


def rollback_unit_said(journal: str) -> dict[str, str]:
    """The rollback script's own journal lines, as {message before ';' or ':': the rest}."""
    said = {}
    for match in re.finditer(r"\bsh\[\d+\]: ([^;:\n]+)[;:]?(.*)", journal):
        said[match.group(1).strip()] = match.group(2).strip()
    return said


def test_netplan_applies_the_node_address_and_rolls_back_one_that_does_not_answer(sudo_lab):
    cfg, _ = sudo_lab
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
    wrong = netplan_base(cfg.inventory_dir, base_node_address="10.223.0.99/24", base_netplan_rollback_seconds=60)
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
    assert "not confirmed within 60s" in said, said
    assert f"{address}/24" in said.get("previous netplan restored", ""), f"the node did not roll back: {said}"
    written = yaml.safe_load(node(worker, "cat", "/etc/netplan/60-clusterboot.yaml"))
    assert written["network"]["ethernets"]["eth0"]["addresses"] == [f"{address}/24"]
    back = netplan_base(cfg.inventory_dir)
    assert back.returncode == 0 and "changed=0" in back.stdout, back.stdout[-3000:]
