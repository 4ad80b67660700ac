"""Every inventory-level check: a bad inventory gives exit 2 and a message naming the host or field.

These run `bootstrap.py inventory check`, which loads the inventory with Ansible's own loader and
contacts no node (the inventories point at addresses nothing listens on and are never dialled).
"""

from pathlib import Path

import pytest

from clusterboot.cli import main
from clusterboot.inventory_writer import InventorySpec, write_inventory


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    spec = InventorySpec(name="t", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1, workers=4)
    return write_inventory(spec, tmp_path / "t")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def check(inventory: Path, capsys) -> tuple[int, str]:
    code = main(["inventory", "check", "--inventory", str(inventory)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_good_inventory_passes(inventory, capsys):
    code, out = check(inventory, capsys)
    assert code == 0
    assert "5 nodes, no problems found" in out


def test_lab100_passes(capsys):
    code, out = check(Path(__file__).resolve().parent.parent / "inventory/lab100", capsys)
    assert (code, "100 nodes" in out) == (0, True)


BAD_INVENTORIES = [
    # (file, old, new, expected words in the message)
    ("hosts.yml", "wk002: {node_ip: 10.20.0.13}", "wk002: {node_ip: 10.20.0.12}",
     ["host wk002", "node_ip 10.20.0.12", "already used by wk001"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.99.0.14}",
     ["host wk003", "outside cluster_node_network 10.20.0.0/24"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "WK001: {node_ip: 10.20.0.14}",
     ["host WK001", "not a valid lowercase DNS label"]),
    # Ansible host names are case-sensitive, kubelet's node names are not: wk001 and WK001 would collide.
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "WK001: {node_ip: 10.20.0.14}",
     ["host wk001: same hostname as WK001; hostnames must be unique"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {}",
     ["host wk003", "node_ip is missing"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.20.0.300}",
     ["host wk003", "not an IP address"]),
    ("hosts.yml", "cp01: {node_ip: 10.20.0.11}", "cp01: {node_ip: 10.20.0.11}\n        cp02: {node_ip: 10.20.0.20}",
     ["group control_plane", "has 2 hosts", "cp01, cp02", "single control plane"]),
    ("hosts.yml", "        cp01: {node_ip: 10.20.0.11}\n", "",
     ["group control_plane", "has no hosts"]),
    ("group_vars/all.yml", "cluster_service_cidr: 10.96.0.0/12", "cluster_service_cidr: 192.168.128.0/17",
     ["cluster_pod_cidr 192.168.0.0/16 overlaps cluster_service_cidr 192.168.128.0/17"]),
    ("group_vars/all.yml", "cluster_service_cidr: 10.96.0.0/12", "cluster_service_cidr: 10.20.0.0/16",
     ["cluster_node_network 10.20.0.0/24 overlaps cluster_service_cidr 10.20.0.0/16"]),
    ("group_vars/all.yml", "cluster_pod_cidr: 192.168.0.0/16", "cluster_pod_cidr: 192.168.0.0/30",
     ["cluster_pod_block_size", "/26 does not fit inside cluster_pod_cidr 192.168.0.0/30"]),
    ("group_vars/all.yml", "cluster_manage_network: true", 'cluster_manage_network: "yes"',
     ["cluster_manage_network", "is str 'yes', must be bool"]),
    ("group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: true",
     ["cluster_pod_block_size", "is bool True, must be int"]),
    ("group_vars/all.yml", "cluster_package_source: upstream", "cluster_package_source: ppa",
     ["cluster_package_source", "'ppa' is not one of upstream, distro"]),
    ("group_vars/all.yml", "cluster_spark_manager: kubernetes", "cluster_spark_manager: yarn",
     ["cluster_spark_manager: 'yarn' is not one of kubernetes, standalone"]),
    ("group_vars/all.yml", "cluster_name: t\n", "",
     ["cluster_name: missing"]),
    ("group_vars/all.yml", "cluster_pod_cidr: 192.168.0.0/16", "cluster_pod_cidr: 192.168.0.0/33",
     ["cluster_pod_cidr", "'192.168.0.0/33' is not a network in CIDR form"]),
    ("group_vars/all.yml", "cluster_name: t\n", "cluster_name: t\ncluster_install_batch: -4\n",
     ["cluster_install_batch: is -4, must be a whole number of nodes"]),
]
@pytest.mark.parametrize("file,old,new,expected", BAD_INVENTORIES)
def test_bad_inventory_is_named(inventory, capsys, file, old, new, expected):
    edit(inventory / file, old, new)
    code, out = check(inventory, capsys)
    assert code == 2, out
    assert "Traceback" not in out
    for words in expected:
        assert words in out, out


def test_pod_cidr_too_small_for_node_count(tmp_path, capsys):
    spec = InventorySpec(name="big", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1,
                         workers=99, pod_cidr="192.168.0.0/18")
    inventory = write_inventory(spec, tmp_path / "big")
    edit(inventory / "group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: 24")
    code, out = check(inventory, capsys)
    assert code == 2
    assert "cluster_pod_cidr: 192.168.0.0/18 holds 64 blocks of /24, fewer than the 100 nodes" in out


def test_all_problems_reported_together(inventory, capsys):
    edit(inventory / "hosts.yml", "wk002: {node_ip: 10.20.0.13}", "wk002: {node_ip: 10.20.0.12}")
    edit(inventory / "group_vars/all.yml", "cluster_manage_network: true", "cluster_manage_network: 1")
    code, out = check(inventory, capsys)
    assert code == 2
    assert "2 problem(s)" in out and "host wk002" in out and "cluster_manage_network" in out


def test_yaml_syntax_error_names_file_line_column(inventory, capsys):
    edit(inventory / "group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: [26")
    code, out = check(inventory, capsys)
    assert code == 2
    assert f"{inventory / 'group_vars/all.yml'}:" in out and "YAML syntax error" in out
    assert "Traceback" not in out


def test_unknown_inventory_lists_known_ones(capsys):
    code, out = check(Path("no-such-inventory"), capsys)
    assert code == 2
    assert "inventory 'no-such-inventory' not found" in out and "lab100" in out
