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


def test_the_reference_inventory_is_what_the_generator_writes(tmp_path: Path):
    """inventory/lab100 (the layout the README points to, and what the lab tests copy) says it is generated:
    the generator must still write it byte for byte, settings, comments above their keys and all."""
    reference = Path(__file__).parent.parent / "inventory" / "lab100"
    written = write_inventory(spec(name="lab100", workers=99), tmp_path / "lab100")
    assert (written / "hosts.yml").read_text() == (reference / "hosts.yml").read_text()
    ours, theirs = ((folder / "group_vars/all.yml").read_text() for folder in (written, reference))
    assert yaml.safe_load(ours) == yaml.safe_load(theirs)
    # The same comments above the same keys (the reference quotes a template with " where PyYAML writes ').
    assert _comments_and_keys(ours) == _comments_and_keys(theirs)


def _comments_and_keys(text: str) -> list[str]:
    return [line if line.startswith("#") else line.split(":")[0] for line in text.splitlines()]


def test_written_inventory_reaches_each_node_as_ubuntu_with_sudo(tmp_path: Path):
    """The connection settings and the NFS server, as Ansible templates them for each host."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.inventory.manager import InventoryManager
    from ansible.template import Templar, trust_as_template
    from ansible.vars.manager import VariableManager

    path = write_inventory(spec(name="lab7", workers=2, first_ip="10.20.0.21"), tmp_path / "lab7")
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=manager)
    hostvars = {host.name: variables.get_vars(host=host, include_hostvars=False) for host in manager.get_hosts()}
    for host, ip in (("cp01", "10.20.0.21"), ("wk002", "10.20.0.23")):
        templar = Templar(loader=loader, variables={**hostvars[host], "hostvars": hostvars})
        connection = templar.template(trust_as_template(
            "{{ [ansible_host, ansible_user, ansible_become, spark_namespace_nfs_server] }}"))
        assert connection == [ip, "ubuntu", True, "10.20.0.21"], host
    assert yaml.safe_load((path / "group_vars/all.yml").read_text())["cluster_package_cache_enabled"] is True


def test_a_second_write_into_the_same_folder_replaces_the_first(tmp_path: Path):
    write_inventory(spec(name="lab7", workers=3), tmp_path / "lab7")
    path = write_inventory(spec(name="lab7", workers=1), tmp_path / "lab7")
    assert yaml.safe_load((path / "group_vars/all.yml").read_text())["spark_submit_executor_instances"] == 1


# Two workers: the nodes take 10.20.0.11-10.20.0.13 (with three control planes, -10.20.0.15).
@pytest.mark.parametrize("changes,message", [
    ({"gateway": "10.20.0.12"}, r"gateway 10.20.0.12 must be a free host address of 10.20.0.0/24 \(the nodes take "
                                r"10.20.0.11-10.20.0.13\); choose --gateway or --first-ip"),
    ({"gateway": "10.20.0.255"}, "gateway 10.20.0.255 must be a free host address"),
    ({"gateway": "10.20.1.1"}, "gateway 10.20.1.1 must be a free host address"),
    ({"gateway": "10.20.0.x"}, "--gateway: .*10.20.0.x"),
    ({"dns_servers": ("127.0.0.1",)}, "DNS server 127.0.0.1 cannot be the nodes' resolver"),
    ({"dns_servers": ("0.0.0.0",)}, "DNS server 0.0.0.0 cannot be the nodes' resolver"),
    ({"dns_servers": ("224.0.0.1",)}, "DNS server 224.0.0.1 cannot be the nodes' resolver"),
    ({"dns_servers": ("10.20.0.255",)}, "DNS server 10.20.0.255 cannot be the nodes' resolver"),
    ({"dns_servers": ("192.168.1.1",)}, "DNS server 192.168.1.1 is inside the pod or service network"),
    ({"dns_servers": ("dns.example",)}, "DNS server: .*dns.example"),
    ({"pod_cidr": "192.168.0.0/33"}, r"inventory generate: .*33.* \(IPv4 only\)"),
    ({"pod_cidr": "10.20.0.0/16"}, "10.20.0.0/24 overlaps 10.20.0.0/16; node, pod and service networks must be disjoint"),
    ({"pod_cidr": "192.168.0.0/24", "workers": 4}, r"pod CIDR 192.168.0.0/24 must hold a /26 block per node \(5\)"),
    ({"service_cidr": "100.0.0.0/8"}, "service CIDR 100.0.0.0/8 be /12 or smaller"),
    ({"control_planes": 3, "control_plane_vip": "10.20.0.13"},
     r"--control-plane-vip 10.20.0.13 must be a free host address of 10.20.0.0/24 \(the nodes take "
     r"10.20.0.11-10.20.0.15, the gateway 10.20.0.1\)"),
    ({"control_planes": 3, "control_plane_vip": "cp-vip"}, "--control-plane-vip: .*cp-vip"),
    ({"name": "Lab_7"}, r"the name 'Lab_7' becomes cluster_name: use a lowercase DNS label \(a-z, 0-9, '-'\)"),
    ({"control_planes": 0}, r"--control-planes must be 1, 3 or 5 \(etcd keeps answering while a majority lives\)"),
    ({"control_planes": 3}, "3 control planes need --control-plane-vip, a free address of the node network for the "
                            "API server"),
    ({"workers": 0}, r"at least 1 worker is needed \(--workers; lab up: --nodes more than --control-planes\)"),
    ({"workers": 253}, "254 nodes from 10.20.0.11 do not fit in 10.20.0.0/24; choose a lower --first-ip or a "
                       "larger --node-network"),
])
def test_each_bad_network_is_refused_by_name(changes, message):
    with pytest.raises(UserError, match=message):
        host_addresses(spec(**changes))


@pytest.mark.parametrize("changes", [
    {"dns_servers": ("10.20.0.5",)},                     # a resolver inside the node network
    {"pod_cidr": "192.168.0.0/25"},                      # exactly one /26 block per node (2 blocks, 2 nodes)
    {"gateway": "10.20.0.254"},
])
def test_networks_that_fit_are_accepted(changes):
    assert len(host_addresses(spec(workers=1, **changes))) == 2
