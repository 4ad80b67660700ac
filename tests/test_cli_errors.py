"""Every user error: one clear sentence naming the host or field, exit code 2, no traceback, no playbook run.

Each case runs the real `python bootstrap.py` in a subprocess. Inventories point at documentation
addresses (10.20.0.0/24 in a temp folder) that are never dialled: the run stops before any SSH.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot import inventory as inventories, usage
from clusterboot.inventory_writer import InventorySpec, write_inventory
from run_folders import marked_env, started_by

PROJECT = Path(__file__).resolve().parent.parent


def bootstrap(*args: str) -> tuple[int, str]:
    env, mark = marked_env()
    proc = subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert not started_by(mark), "a playbook run was started"
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    return proc.returncode, out


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    spec = InventorySpec(name="bad", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1, workers=3)
    return write_inventory(spec, tmp_path / "bad")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_no_inventory():
    code, out = bootstrap()
    assert code == 2 and "--inventory NAME" in out


def test_unknown_inventory():
    code, out = bootstrap("--inventory", "lab999")
    assert code == 2 and "inventory 'lab999' not found" in out and "lab100" in out


def test_yaml_syntax_error(inventory):
    edit(inventory / "hosts.yml", "wk001: {node_ip: 10.20.0.12}", "wk001: {node_ip: 10.20.0.12")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and f"{inventory / 'hosts.yml'}:" in out and "YAML syntax error" in out


def test_duplicate_ip(inventory):
    edit(inventory / "hosts.yml", "wk002: {node_ip: 10.20.0.13}", "wk002: {node_ip: 10.20.0.12}")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "host wk002: node_ip 10.20.0.12 is already used by wk001" in out


def test_cidr_overlap(inventory):
    edit(inventory / "group_vars/all.yml", "cluster_pod_cidr: 192.168.0.0/16", "cluster_pod_cidr: 10.20.0.0/16")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "cluster_node_network 10.20.0.0/24 overlaps cluster_pod_cidr 10.20.0.0/16" in out


def test_second_control_plane_refused_until_ha(inventory):
    edit(inventory / "hosts.yml", "cp01: {node_ip: 10.20.0.11}", "cp01: {node_ip: 10.20.0.11}\n        cp02: {node_ip: 10.20.0.30}")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "group control_plane: has 2 hosts" in out


def test_string_boolean(inventory):
    edit(inventory / "group_vars/all.yml", "cluster_package_cache_enabled: true", "cluster_package_cache_enabled: 'false'")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "cluster_package_cache_enabled: is str 'false', must be bool" in out


def test_empty_inventory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "hosts.yml").write_text("all:\n  hosts: {}\n")
    code, out = bootstrap("--inventory", str(tmp_path / "empty"))
    assert code == 2 and "has no hosts" in out


def test_unknown_role():
    code, out = bootstrap("--inventory", "lab100", "--role", "kubelet")
    assert code == 2 and "unknown role 'kubelet'; --role takes a role of site.yml: preflight, package_cache, base" in out


def test_misspelt_role_names_the_closest():
    code, out = bootstrap("--inventory", "lab100", "--role", "contanier_runtime")
    assert code == 2 and "unknown role 'contanier_runtime' (did you mean container_runtime?)" in out


def test_unknown_phase():
    code, out = bootstrap("--inventory", "lab100", "--phase", "everything")
    assert code == 2 and "unknown phase 'everything'; --phase takes a phase of site.yml: nodes" in out


def test_misspelt_phase_names_the_closest():
    code, out = bootstrap("--inventory", "lab100", "--phase", "kubernets")
    assert code == 2 and "unknown phase 'kubernets' (did you mean kubernetes?)" in out


@pytest.fixture
def unreachable(inventory: Path) -> Path:
    """An inventory whose SSH key is missing: were the limit check broken, the run would still stop before SSH."""
    edit(inventory / "group_vars/all.yml", "cluster_name:", "ansible_ssh_private_key_file: /nonexistent/key\ncluster_name:")
    return inventory


@pytest.mark.parametrize("limit, message", [
    ("nosuchhost", "has no host or group 'nosuchhost'; its hosts: cp01, wk001, wk002, wk003"),
    ("wk0001", "has no host or group 'wk0001' (did you mean wk001"),
    ("worker", "has no host or group 'worker' (did you mean workers?)"),
    ("wk001,cp1", "has no host or group 'cp1' (did you mean cp01?)"),
    ("wk9*", "'wk9*' matches no host or group"),
    ("~^db", "'~^db' matches no host or group"),
    ("@/nonexistent/site.retry", "no file /nonexistent/site.retry"),
    ("all:!k8s_cluster", "selects no host of inventory"),
    ("workers:&control_plane", "selects no host of inventory"),
])
def test_a_limit_that_names_no_host_is_refused_before_any_run(unreachable, limit, message):
    code, out = bootstrap("--inventory", str(unreachable), "--limit", limit, "--no-jobs")
    assert code == 2 and message in out, out


def test_a_limit_on_a_day2_command_is_checked_too(unreachable):
    code, out = bootstrap("verify", "--inventory", str(unreachable), "--limit", "cp-01")
    assert code == 2 and "has no host or group 'cp-01' (did you mean cp01?)" in out, out


@pytest.mark.parametrize("limit", ["wk001", "workers", "wk00*", "~^wk00[1-3]$", "workers[0:2]", "k8s_cluster:!workers",
                                   "control_plane:&k8s_cluster", "all", "cp01,wk001"])
def test_a_limit_that_selects_hosts_passes_the_check(limit, tmp_path):
    """Called directly: through the CLI a passing check would start a run against lab100's addresses."""
    hostvars, groups = inventories.load(PROJECT / "inventory" / "lab100")
    usage.check_limit(limit, hostvars, groups, PROJECT / "inventory" / "lab100")
    retry = tmp_path / "site.retry"
    retry.write_text(limit.replace(",", "\n") + "\n")
    if limit.replace(",", "").isalnum():
        usage.check_limit(f"@{retry}", hostvars, groups, PROJECT / "inventory" / "lab100")


def test_a_misspelt_job_names_the_closest_before_the_inventory_is_read():
    code, out = bootstrap("submit", "--inventory", "lab999", "word_cuont")
    assert code == 2 and "unknown job 'word_cuont' (did you mean word_count?)" in out, out


def test_role_and_phase_together():
    code, out = bootstrap("--inventory", "lab100", "--role", "base", "--phase", "nodes")
    assert code == 2 and "not allowed with argument" in out


def test_missing_ssh_key(inventory):
    (inventory / "group_vars/all.yml").write_text(
        (inventory / "group_vars/all.yml").read_text() + "ansible_ssh_private_key_file: /nonexistent/id_ed25519\n")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "SSH key /nonexistent/id_ed25519 (ansible_ssh_private_key_file) does not exist" in out
    assert "host cp01" in out


def test_lab_up_with_no_nodes():
    code, out = bootstrap("lab", "up", "--nodes", "0")
    assert code == 2 and "--nodes must be at least 1" in out


def test_generate_too_many_nodes(tmp_path):
    code, out = bootstrap("inventory", "generate", str(tmp_path / "x"), "--node-network", "10.20.0.0/28",
                          "--first-ip", "10.20.0.2", "--workers", "20")
    assert code == 2 and "21 nodes from 10.20.0.2 do not fit in 10.20.0.0/28" in out


def test_bad_forks_value():
    code, out = bootstrap("--inventory", "lab100", "--forks", "many")
    assert code == 2 and "invalid int value: 'many'" in out


def test_typo_refused_before_any_run(inventory):
    """At the start of a run, not only in `inventory check`: a misspelt setting gets a suggestion, exit 2."""
    edit(inventory / "group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_blocksize: 26")
    code, out = bootstrap("--inventory", str(inventory))
    assert code == 2 and "cluster_pod_blocksize: unknown variable; did you mean cluster_pod_block_size?" in out
    assert "cluster_pod_block_size: missing; set it in group_vars/all.yml" in out


def test_missing_group_refused_before_any_run(inventory):
    edit(inventory / "hosts.yml", "        control_plane:\n        workers:\n", "        control_plane:\n")
    code, out = bootstrap("--inventory", str(inventory), "--role", "base")
    assert code == 2 and "is in workers but not in k8s_cluster, so the nodes phase would skip it" in out


def test_bad_role_variable_refused_before_submit(inventory):
    edit(inventory / "group_vars/all.yml", "spark_submit_executor_instances: 3", "spark_submit_executor_instances: many")
    code, out = bootstrap("submit", "--inventory", str(inventory), "word_count")
    assert code == 2 and "spark_submit_executor_instances: is str 'many', must be int" in out


def test_ask_become_pass_without_a_password_on_stdin(inventory):
    proc = subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(inventory), "--ask-become-pass"],
                          cwd=PROJECT, input="", capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--ask-become-pass: stdin is not a terminal and its first line is empty" in proc.stderr


def test_lab_sudo_user_that_is_not_a_user_name():
    code, out = bootstrap("lab", "up", "--nodes", "1", "--sudo-user", "Ops Team")
    assert code == 2 and "--sudo-user 'Ops Team' is not a user name" in out
