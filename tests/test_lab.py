"""The simulated lab for real: node containers, real SSH through Ansible, and a clean lab down.

Traffic goes only to the containers this test creates, on a network it creates.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot.lab import lab

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parent.parent
ANSIBLE = str(Path(sys.executable).parent / "ansible")


def docker_lines(*args: str) -> list[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.split()


def test_nodes_answer_ansible_over_ssh(test_lab):
    out = subprocess.run(
        [ANSIBLE, "-i", str(test_lab.inventory_dir), "k8s_cluster", "-m", "ansible.builtin.setup",
         "-a", "gather_subset=min,network filter=ansible_hostname,ansible_machine_id,ansible_default_ipv4",
         "--one-line"],
        capture_output=True, text=True, cwd=PROJECT, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    facts = {}
    for line in out.stdout.splitlines():
        host, _, rest = line.partition(" | SUCCESS => ")
        if rest:
            facts[host] = json.loads(rest)["ansible_facts"]
    assert sorted(facts) == ["cp01", "wk001", "wk002"]
    assert {h: f["ansible_default_ipv4"]["address"] for h, f in facts.items()} == {
        "cp01": "10.215.0.11", "wk001": "10.215.0.12", "wk002": "10.215.0.13"}
    assert {h: f["ansible_hostname"] for h, f in facts.items()} == {h: h for h in facts}
    assert len({f["ansible_machine_id"] for f in facts.values()}) == 3, "machine-ids must differ"


def test_nodes_have_their_own_host_keys(test_lab):
    keys = test_lab.known_hosts.read_text().splitlines()
    assert len(keys) == 3
    assert len({line.split()[2] for line in keys}) == 3


def test_lab_up_again_is_a_no_op(test_lab):
    before = docker_lines("ps", "-q", "--filter", "label=clusterboot.lab=pytestlab")
    lab.up(test_lab, nodes=3, control_planes=1, spark_manager="standalone", log=lambda _: None)
    after = docker_lines("ps", "-q", "--filter", "label=clusterboot.lab=pytestlab")
    assert sorted(before) == sorted(after) and len(after) == 3


def test_status_lists_the_nodes(test_lab):
    rows = lab.status(test_lab)
    assert [(name, state) for name, state, _ in rows] == [
        ("pytestlab-cp01", "running"), ("pytestlab-wk001", "running"), ("pytestlab-wk002", "running")]


def test_down_removes_everything_and_is_safe_twice(tmp_path):
    cfg = lab.LabConfig(project_dir=PROJECT, name="pytestdown", subnet="10.216.0.0/24", inventory_root=tmp_path)
    lab.up(cfg, nodes=2, control_planes=1, spark_manager="standalone", log=lambda _: None)
    assert docker_lines("ps", "-aq", "--filter", "label=clusterboot.lab=pytestdown")
    assert lab.down(cfg, log=lambda _: None) == 2
    assert lab.down(cfg, log=lambda _: None) == 0
    assert docker_lines("ps", "-aq", "--filter", "label=clusterboot.lab=pytestdown") == []
    assert docker_lines("network", "ls", "-q", "--filter", "name=^clusterboot-pytestdown$") == []
    assert not cfg.inventory_dir.exists() and not cfg.ssh_key.exists()


def test_the_node_image_lacks_python3_debian_as_a_minimal_ubuntu_does(test_lab):
    """Ansible's deb822_repository needs it: the shared cluster's upstream package path (tests/shared_cluster.py)
    works on these nodes only because the kubernetes_packages role installs it."""
    listed = subprocess.run(["docker", "exec", "pytestlab-wk001", "dpkg-query", "-W", "-f", "${Package}\n"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert "python3-debian" not in listed and "openssh-server" in listed
