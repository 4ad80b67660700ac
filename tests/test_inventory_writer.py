"""The generated inventory: addresses in order inside the node network, and settings Ansible reads back."""

from pathlib import Path

import pytest
import yaml

from clusterboot import inventory
from clusterboot.errors import UserError
from clusterboot.inventory_writer import KUBERNETES_VERSION, InventorySpec, host_addresses, write_inventory


def spec(**changes) -> InventorySpec:
    fields = {"name": "t", "node_network": "10.20.0.0/24", "first_ip": "10.20.0.11", "control_planes": 1, "workers": 2}
    return InventorySpec(**{**fields, **changes})


def test_addresses_run_on_from_the_control_plane_first():
    assert host_addresses(spec(workers=3)) == [
        ("control_plane", "cp01", "10.20.0.11"), ("workers", "wk001", "10.20.0.12"),
        ("workers", "wk002", "10.20.0.13"), ("workers", "wk003", "10.20.0.14")]


@pytest.mark.parametrize("first_ip,workers,fits", [
    ("10.20.0.2", 252, True),     # .2 to .254: the /24 but its network, broadcast and gateway (.1) addresses
    ("10.20.0.2", 253, False),    # the last node would be the broadcast address
    ("10.20.0.0", 1, False),      # the network address itself
    ("10.20.1.1", 1, False),      # outside the network
])
def test_every_address_is_a_usable_one_of_the_network(first_ip, workers, fits):
    if fits:
        assert len(host_addresses(spec(first_ip=first_ip, workers=workers))) == workers + 1
    else:
        with pytest.raises(UserError, match=rf"{workers + 1} nodes from {first_ip} do not fit in 10.20.0.0/24"):
            host_addresses(spec(first_ip=first_ip, workers=workers))


def test_bad_specs_are_named():
    with pytest.raises(UserError, match="--control-planes must be 1, 3 or 5"):
        host_addresses(spec(control_planes=0))
    with pytest.raises(UserError, match="--control-planes must be 1, 3 or 5"):
        host_addresses(spec(control_planes=2, control_plane_vip="10.20.0.10"))
    with pytest.raises(UserError, match="3 control planes need --control-plane-vip"):
        host_addresses(spec(control_planes=3))
    for taken in ("10.20.0.12", "10.20.0.1", "10.20.1.10"):  # a node, the gateway, outside the network
        with pytest.raises(UserError, match=f"--control-plane-vip {taken} must be a free host address"):
            host_addresses(spec(control_planes=3, control_plane_vip=taken))
    with pytest.raises(UserError, match="at least 1 worker is needed"):
        host_addresses(spec(workers=0))
    with pytest.raises(UserError, match="inventory generate: .*10.20.0.300"):
        host_addresses(spec(first_ip="10.20.0.300"))


def test_written_inventory_loads_in_ansible_with_its_settings(tmp_path: Path):
    path = write_inventory(spec(name="lab7", workers=3, dns_servers=("1.1.1.1", "8.8.8.8"),
                                overrides={"cluster_spark_manager": "standalone"}), tmp_path / "lab7")
    hostvars, groups = inventory.load(path)
    assert groups["control_plane"] == ["cp01"] and groups["workers"] == ["wk001", "wk002", "wk003"]
    assert sorted(groups["k8s_cluster"]) == ["cp01", "wk001", "wk002", "wk003"]
    assert str(hostvars["wk003"]["node_ip"]) == "10.20.0.14"
    settings = yaml.safe_load((path / "group_vars/all.yml").read_text())
    assert settings["cluster_name"] == "lab7"
    assert settings["cluster_node_gateway"] == "10.20.0.1"  # the network's first address by default
    assert settings["cluster_dns_servers"] == ["1.1.1.1", "8.8.8.8"]
    assert settings["cluster_spark_manager"] == "standalone"  # an override replaces the default
    assert settings["cluster_kubernetes_version"] == KUBERNETES_VERSION
    assert settings["spark_submit_executor_instances"] == 3  # one per worker
    assert settings["cluster_manage_network"] is True and settings["cluster_registry_insecure"] is False
    assert settings["cluster_pod_block_size"] == 26


def test_gateway_and_dns_default_and_given():
    from clusterboot.inventory_writer import render_group_vars

    default = yaml.safe_load(render_group_vars(spec()))
    assert (default["cluster_node_gateway"], default["cluster_dns_servers"]) == ("10.20.0.1", ["10.20.0.1"])
    given = yaml.safe_load(render_group_vars(spec(gateway="10.20.0.254", workers=0)))
    assert (given["cluster_node_gateway"], given["cluster_dns_servers"]) == ("10.20.0.254", ["10.20.0.254"])
    assert given["spark_submit_executor_instances"] == 1  # never 0 executors, even with no workers


def test_three_control_planes_get_the_vip_and_pass_the_check(tmp_path: Path):
    path = write_inventory(spec(name="ha", control_planes=3, workers=2, control_plane_vip="10.20.0.10"), tmp_path / "ha")
    hostvars, groups = inventory.check(path)
    assert groups["control_plane"] == ["cp01", "cp02", "cp03"]
    assert hostvars["wk001"]["cluster_control_plane_vip"] == "10.20.0.10"


def test_values_with_colons_and_hashes_round_trip(tmp_path: Path):
    """Written by a YAML library, not joined strings: `: ` and ` #` inside a value stay part of it."""
    tricky = {
        "ansible_ssh_common_args": "-o ProxyCommand='ssh -W %h:%p jump' # via the jump host",
        "spark_submit_conf": {"spark.driver.extraJavaOptions": "-Da=b: c #not-a-comment", "spark.x": "#"},
        "spark_submit_jobs": [["word_count", "/data/in: 1", "/data/out #2"]],
        "cluster_kubernetes_version": "1.34.2",
        "spark_namespace_nfs_server": "{{ hostvars[groups.control_plane[0]].node_ip }}",
    }
    path = write_inventory(spec(name="rt", overrides=tricky), tmp_path / "rt")
    written = yaml.safe_load((path / "group_vars/all.yml").read_text())
    assert {key: written[key] for key in tricky} == tricky
    hostvars, _ = inventory.load(path)  # and Ansible reads the same values
    assert hostvars["cp01"]["ansible_ssh_common_args"] == tricky["ansible_ssh_common_args"]
    assert hostvars["cp01"]["spark_submit_conf"] == tricky["spark_submit_conf"]
    assert 'cluster_kubernetes_version: "1.34.2"' in (path / "group_vars/all.yml").read_text()  # stays a string
