"""Write a lab100-style inventory: hosts.yml with groups, group_vars/all.yml with cluster settings."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterboot import settings
from clusterboot.errors import UserError

# The Kubernetes version new inventories pin (and `artifacts build` builds when not told otherwise): the
# declared default of cluster_kubernetes_version.
KUBERNETES_VERSION: str = settings.declared_defaults()["cluster_kubernetes_version"]
# Each node's block of pod addresses (Calico's block size).
POD_BLOCK_SIZE = 26
# Control-plane counts the inventory check accepts (stacked etcd needs an odd number of members).
CONTROL_PLANE_COUNTS = (1, 3, 5)


@dataclass(frozen=True)
class InventorySpec:
    name: str
    node_network: str
    first_ip: str
    control_planes: int
    workers: int
    gateway: str | None = None
    # The API's virtual IP, needed with several control planes (cluster_control_plane_vip).
    control_plane_vip: str | None = None
    dns_servers: tuple[str, ...] = ()
    control_plane_pattern: str = "cp{:02d}"
    worker_pattern: str = "wk{:03d}"
    pod_cidr: str = "192.168.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    # Extra group_vars settings (Python values, written as YAML) over the ones above, e.g. a lab's overrides.
    overrides: dict[str, Any] = field(default_factory=dict)


def host_addresses(spec: InventorySpec) -> list[tuple[str, str, str]]:
    """(group, hostname, ip) for every node, control planes first."""
    try:
        network = ipaddress.IPv4Network(spec.node_network)
        first = ipaddress.IPv4Address(spec.first_ip)
    except ValueError as err:
        raise UserError(f"inventory generate: {err} (IPv4 only)") from None
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", spec.name):
        raise UserError(f"inventory generate: the name {spec.name!r} becomes cluster_name: use a lowercase DNS "
                        "label (a-z, 0-9, '-')")
    if spec.control_planes not in CONTROL_PLANE_COUNTS:
        raise UserError("inventory generate: --control-planes must be 1, 3 or 5 (etcd keeps answering while a "
                        "majority lives)")
    if spec.control_planes > 1 and not spec.control_plane_vip:
        raise UserError(f"inventory generate: {spec.control_planes} control planes need --control-plane-vip, a free "
                        "address of the node network for the API server")
    if spec.workers < 1:
        # Spark's executors run on workers; kubeadm taints the control plane (the inventory check refuses it too).
        raise UserError("inventory generate: at least 1 worker is needed (--workers; lab up: --nodes more than "
                        "--control-planes)")
    names = [("control_plane", spec.control_plane_pattern.format(i)) for i in range(1, spec.control_planes + 1)]
    names += [("workers", spec.worker_pattern.format(i)) for i in range(1, spec.workers + 1)]
    rows = []
    for offset, (group, name) in enumerate(names):
        ip = first + offset
        if ip not in network or ip in (network.network_address, network.broadcast_address):
            raise UserError(
                f"inventory generate: {len(names)} nodes from {first} do not fit in {network}; "
                "choose a lower --first-ip or a larger --node-network"
            )
        rows.append((group, name, str(ip)))
    _check_networks(spec, network, [ipaddress.IPv4Address(ip) for _, _, ip in rows])
    return rows


def _check_networks(spec: InventorySpec, network: ipaddress.IPv4Network, ips: list[ipaddress.IPv4Address]) -> None:
    """Refuse what `inventory check` would refuse, so every inventory written here passes it."""
    gateway = _gateway(spec, network)
    if gateway not in network or gateway in (network.network_address, network.broadcast_address) or gateway in ips:
        raise UserError(f"inventory generate: gateway {gateway} must be a free host address of {network} "
                        f"(the nodes take {ips[0]}-{ips[-1]}); choose --gateway or --first-ip")
    try:
        servers = [ipaddress.ip_address(server) for server in spec.dns_servers]
    except ValueError as err:
        raise UserError(f"inventory generate: DNS server: {err}") from None
    for server, address in zip(spec.dns_servers, servers):
        if address.is_loopback or address.is_unspecified or address.is_multicast or (
                address in network and address in (network.network_address, network.broadcast_address)):
            raise UserError(f"inventory generate: DNS server {server} cannot be the nodes' resolver")
    try:
        pod, service = ipaddress.IPv4Network(spec.pod_cidr), ipaddress.IPv4Network(spec.service_cidr)
    except ValueError as err:
        raise UserError(f"inventory generate: {err} (IPv4 only)") from None
    if spec.control_plane_vip:
        try:
            vip = ipaddress.IPv4Address(spec.control_plane_vip)
        except ValueError as err:
            raise UserError(f"inventory generate: --control-plane-vip: {err}") from None
        if vip not in network or vip in (network.network_address, network.broadcast_address, gateway) or vip in ips:
            raise UserError(f"inventory generate: --control-plane-vip {vip} must be a free host address of {network} "
                            f"(the nodes take {ips[0]}-{ips[-1]}, the gateway {gateway})")
    for first, second in ((network, pod), (network, service), (pod, service)):
        if first.overlaps(second):
            raise UserError(f"inventory generate: {first} overlaps {second}; node, pod and service networks must "
                            "be disjoint")
    if service.prefixlen < 12 or pod.prefixlen > POD_BLOCK_SIZE or 2 ** (POD_BLOCK_SIZE - pod.prefixlen) < len(ips):
        raise UserError(f"inventory generate: pod CIDR {pod} must hold a /{POD_BLOCK_SIZE} block per node "
                        f"({len(ips)}) and service CIDR {service} be /12 or smaller")
    for server, address in zip(spec.dns_servers, servers):
        if any(address in net for net in (pod, service)):
            raise UserError(f"inventory generate: DNS server {server} is inside the pod or service network")


def _gateway(spec: InventorySpec, network: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(spec.gateway) if spec.gateway else network.network_address + 1
    except ValueError as err:
        raise UserError(f"inventory generate: --gateway: {err}") from None


class _InventoryDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with the layout of a hand-written inventory: block style, except values wrapped in
    _Flow (`cp01: {node_ip: 10.20.0.11}`); an empty value written empty (`control_plane:`); a version-like
    string quoted ("1.34.2"), so a reader who edits it to 1.35 keeps a string."""


class _Flow:
    """A list or mapping written on one line."""

    def __init__(self, value: list | dict) -> None:
        self.value = value


def _represent_flow(dumper: yaml.SafeDumper, flow: _Flow) -> yaml.Node:
    if isinstance(flow.value, dict):
        return dumper.represent_mapping("tag:yaml.org,2002:map", flow.value, flow_style=True)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", flow.value, flow_style=True)


_InventoryDumper.add_representer(_Flow, _represent_flow)
_InventoryDumper.add_representer(type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", ""))
_InventoryDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style='"' if re.fullmatch(r"\d+\.\d+(\.\d+)?", value) else None))


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_InventoryDumper, default_flow_style=False, sort_keys=False, width=2**16,
                     allow_unicode=True)


def render_hosts(spec: InventorySpec) -> str:
    rows = host_addresses(spec)
    groups: dict[str, Any] = {
        group: {"hosts": {name: _Flow({"node_ip": ip}) for g, name, ip in rows if g == group}}
        for group in ("control_plane", "workers")
    }
    groups["k8s_cluster"] = {"children": {"control_plane": None, "workers": None}}
    header = "# Generated by `python bootstrap.py inventory generate`; edit freely.\n"
    return header + to_yaml({"all": {"children": groups}})


def render_group_vars(spec: InventorySpec) -> str:
    network = ipaddress.IPv4Network(spec.node_network)
    gateway = str(_gateway(spec, network))
    dns = list(spec.dns_servers) or [gateway]
    shared = settings.declared_defaults()["cluster_shared_data_dir"]
    values: dict[str, Any] = {
        "ansible_host": "{{ node_ip }}",
        "ansible_user": "ubuntu",
        "ansible_become": True,
        "cluster_name": spec.name,
        "cluster_node_network": spec.node_network,
        "cluster_node_gateway": gateway,
        "cluster_dns_servers": dns,
        "cluster_pod_cidr": spec.pod_cidr,
        "cluster_pod_block_size": POD_BLOCK_SIZE,
        "cluster_service_cidr": spec.service_cidr,
        "cluster_manage_network": True,
        "cluster_package_source": "upstream",
        "cluster_package_cache_enabled": True,
        "cluster_registry_insecure": False,
        "cluster_spark_manager": "kubernetes",
        "cluster_kubernetes_version": KUBERNETES_VERSION,
        **({"cluster_control_plane_vip": spec.control_plane_vip} if spec.control_plane_vip else {}),
        # Shared data for Spark pods: NFS from the first control plane (any NFS server will do).
        "spark_namespace_nfs_server": "{{ hostvars[groups.control_plane[0]].node_ip }}",
        "cluster_shared_data_dir": shared,
        "spark_submit_executor_instances": max(1, spec.workers),
        "spark_submit_pvc_mounts": [{"name": "spark-data", "claim": "spark-data", "path": shared}],
        **spec.overrides,
    }
    comments = {
        "ansible_host": "# Ansible reaches each node on the address the inventory gives it.",
        "cluster_name": "# One source of truth for the cluster: kubeadm, Calico and the roles read these.",
        "cluster_manage_network": "# Write and apply netplan static addresses (off where something else owns the interfaces).",
        "cluster_package_source": "# upstream: Docker's and Kubernetes' apt repos; distro: the OS archive (offline labs).",
        "cluster_registry_insecure": "# The cluster registry on the first control plane: TLS with a generated CA unless true.",
        "cluster_spark_manager": "# Where Spark jobs run: kubernetes, or standalone (Spark's own master and workers).",
        "cluster_shared_data_dir": "# A folder every node and the controller see at this path (NFS on real labs) for job data.",
        "cluster_control_plane_vip": "# The API server's virtual IP: keepalived keeps it on a live control plane.",
        "spark_submit_executor_instances": "# Kubernetes job submission: one executor per worker, the shared data PVC mounted in every pod.",
    }
    lines = [f"# Generated by `python bootstrap.py inventory generate` for {spec.name}.\n"]
    for key, value in values.items():
        if key in comments:
            lines.append(comments[key] + "\n")
        # One key at a time, so each keeps its comment above it; a list or mapping on one line.
        lines.append(to_yaml({key: _Flow(value) if isinstance(value, (list, dict)) else value}))
    return "".join(lines)


def write_inventory(spec: InventorySpec, directory: Path) -> Path:
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(render_hosts(spec))
    (directory / "group_vars" / "all.yml").write_text(render_group_vars(spec))
    return directory
