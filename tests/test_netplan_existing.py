"""The base role's reading of a node's existing netplan (roles/base/filter_plugins/netplan_existing.py),
on the shapes cloud-init and installers write."""

import importlib.util
from pathlib import Path

import yaml

PLUGIN = Path(__file__).resolve().parent.parent / "roles/base/filter_plugins/netplan_existing.py"
spec = importlib.util.spec_from_file_location("netplan_existing", PLUGIN)
netplan_existing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(netplan_existing)

CLOUD_INIT = yaml.safe_load("""
ethernets:
  eth0:
    match: {macaddress: "52:54:00:12:34:56"}
    set-name: ens3
    dhcp4: true
  eno2: {}
  eno3: {}
bonds:
  bond0: {interfaces: [eno2], addresses: [10.1.0.5/24]}
bridges:
  br0: {interfaces: [eno3]}
vlans:
  vlan20: {id: 20, link: ens3}
""")


def test_the_existing_definition_id_is_reused():
    assert netplan_existing.netplan_id(CLOUD_INIT, "ens3") == "eth0"  # renamed by set-name
    assert netplan_existing.netplan_id(CLOUD_INIT, "eno2") == "eno2"
    assert netplan_existing.netplan_id({}, "enp1s0") == "enp1s0"


def test_bonds_bridges_and_vlans_that_claim_the_interface():
    assert netplan_existing.netplan_claims(CLOUD_INIT, ["eno2"]) == ["bond bond0"]
    assert netplan_existing.netplan_claims(CLOUD_INIT, ["eno3"]) == ["bridge br0"]
    assert netplan_existing.netplan_claims(CLOUD_INIT, ["br0"]) == ["bridge br0"]
    assert netplan_existing.netplan_claims(CLOUD_INIT, ["vlan20"]) == ["vlan vlan20"]
    # A VLAN on top of the interface leaves the interface's own address alone.
    assert netplan_existing.netplan_claims(CLOUD_INIT, ["ens3", "eth0"]) == []
    assert netplan_existing.netplan_claims({}, ["eth0"]) == []
