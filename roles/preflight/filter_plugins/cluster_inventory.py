"""Inventory-level checks, run before any node is contacted.

One implementation serves both the preflight role (as the `cluster_inventory_errors` filter) and
the runner (`clusterboot.inventory`), so `bootstrap.py inventory check` and the playbook agree.
Each message names the host or variable and says what to change.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Mapping

# kubelet registers the node under its hostname: it must be a DNS-1123 label.
HOSTNAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

CLUSTER_VARIABLES: dict[str, type] = {
    "cluster_name": str,
    "cluster_node_network": str,
    "cluster_node_gateway": str,
    "cluster_dns_servers": list,
    "cluster_pod_cidr": str,
    "cluster_pod_block_size": int,
    "cluster_service_cidr": str,
    "cluster_manage_network": bool,
    "cluster_package_source": str,
    "cluster_package_cache_enabled": bool,
    "cluster_registry_insecure": bool,
    "cluster_spark_manager": str,
}
PACKAGE_SOURCES = ("upstream", "distro")
KUBERNETES_SOURCES = ("upstream", "artifacts")
SPARK_MANAGERS = ("kubernetes", "standalone")


def _type_name(value: Any) -> str:
    """Plain YAML type names; Ansible wraps inventory values in tagged subclasses."""
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


def _type_errors(cluster: Mapping[str, Any]) -> list[str]:
    errors = []
    for name, wanted in CLUSTER_VARIABLES.items():
        if name not in cluster:
            errors.append(f"{name}: missing; set it in group_vars/all.yml")
            continue
        value = cluster[name]
        # bool is an int in Python: a true/false where a number belongs is still wrong.
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            hint = " (write true or false, unquoted)" if wanted is bool else ""
            errors.append(f"{name}: is {_type_name(value)} {repr(str(value)) if isinstance(value, str) else repr(value)}, must be {wanted.__name__}{hint}")
    if isinstance(cluster.get("cluster_package_source"), str) and cluster["cluster_package_source"] not in PACKAGE_SOURCES:
        errors.append(f"cluster_package_source: {cluster['cluster_package_source']!r} is not one of {', '.join(PACKAGE_SOURCES)}")
    errors += _kubernetes_source_errors(cluster)
    batch = cluster.get("cluster_install_batch", 0)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 0:
        errors.append(f"cluster_install_batch: is {batch!r}, must be a whole number of nodes (0 = all at once)")
    manager = cluster.get("cluster_spark_manager")
    if isinstance(manager, str) and manager not in SPARK_MANAGERS:
        errors.append(f"cluster_spark_manager: {manager!r} is not one of {', '.join(SPARK_MANAGERS)}")
    return errors


def _kubernetes_source_errors(cluster: Mapping[str, Any]) -> list[str]:
    """An offline install needs an artifacts folder built for exactly the cluster's version."""
    source = cluster.get("cluster_kubernetes_source", "upstream")
    if source not in KUBERNETES_SOURCES:
        return [f"cluster_kubernetes_source: {source!r} is not one of {', '.join(KUBERNETES_SOURCES)}"]
    # Kubernetes is formed only when it runs Spark (see playbooks/kubernetes.yml).
    if source != "artifacts" or cluster.get("cluster_spark_manager") == "standalone":
        return []
    folder = cluster.get("cluster_kubernetes_artifacts_dir")
    if not isinstance(folder, str) or not folder:
        return ["cluster_kubernetes_artifacts_dir: missing; cluster_kubernetes_source is artifacts, so set it to the "
                "folder `python bootstrap.py artifacts build` printed"]
    manifest = Path(folder).expanduser() / "manifest.json"
    if not manifest.is_file():
        return [f"cluster_kubernetes_artifacts_dir: {manifest} does not exist; build it with "
                f"`python bootstrap.py artifacts build --kubernetes {cluster.get('cluster_kubernetes_version')}`"]
    built = json.loads(manifest.read_text()).get("kubernetes_version")
    if str(built) != str(cluster.get("cluster_kubernetes_version")):
        return [f"cluster_kubernetes_artifacts_dir: {folder} holds Kubernetes {built}, but cluster_kubernetes_version is "
                f"{cluster.get('cluster_kubernetes_version')}; build that version or point to its folder"]
    return []


def _networks(cluster: Mapping[str, Any], errors: list[str]) -> dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = {}
    for name in ("cluster_node_network", "cluster_pod_cidr", "cluster_service_cidr"):
        value = cluster.get(name)
        if not isinstance(value, str):
            continue
        try:
            networks[name] = ipaddress.ip_network(value)
        except ValueError as err:
            errors.append(f"{name}: {value!r} is not a network in CIDR form ({err})")
    return networks


def _network_errors(cluster: Mapping[str, Any], node_count: int, errors: list[str]) -> dict:
    networks = _networks(cluster, errors)
    names = sorted(networks)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if networks[first].overlaps(networks[second]):
                errors.append(
                    f"{first} {networks[first]} overlaps {second} {networks[second]}; "
                    "node network, pod CIDR and service CIDR must be pairwise disjoint"
                )
    pod = networks.get("cluster_pod_cidr")
    block = cluster.get("cluster_pod_block_size")
    if pod is not None and isinstance(block, int) and not isinstance(block, bool):
        if block < pod.prefixlen or block > pod.max_prefixlen:
            errors.append(f"cluster_pod_block_size: /{block} does not fit inside cluster_pod_cidr {pod}")
        elif 2 ** (block - pod.prefixlen) < node_count:
            errors.append(
                f"cluster_pod_cidr: {pod} holds {2 ** (block - pod.prefixlen)} blocks of /{block}, "
                f"fewer than the {node_count} nodes; use a larger pod CIDR or a larger cluster_pod_block_size"
            )
    return networks


def cluster_inventory_errors(hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, list[str]]) -> list[str]:
    """Every inventory problem at once; an empty list means the inventory is consistent."""
    control_planes = list(groups.get("control_plane", []))
    nodes = sorted(set(control_planes) | set(groups.get("workers", [])))
    errors: list[str] = []
    if not control_planes:
        errors.append("group control_plane: has no hosts; put at least one host in it")
    elif len(control_planes) > 1:
        # Nothing joins extra control planes yet: they would be left out of the cluster, not made HA.
        errors.append(
            f"group control_plane: has {len(control_planes)} hosts ({', '.join(control_planes)}); clusterboot forms "
            "a single control plane for now: keep one there and move the others to workers"
        )
    if not nodes:
        return errors
    cluster = hostvars[nodes[0]]
    errors += _type_errors(cluster)
    networks = _network_errors(cluster, len(nodes), errors)
    node_network = networks.get("cluster_node_network")
    seen_names: dict[str, str] = {}
    seen_ips: dict[str, str] = {}
    for host in nodes:
        if not HOSTNAME_RE.match(host):
            errors.append(f"host {host}: its name is not a valid lowercase DNS label (a-z, 0-9, '-'); rename it")
        if host.lower() in seen_names:
            errors.append(f"host {host}: same hostname as {seen_names[host.lower()]}; hostnames must be unique")
        seen_names[host.lower()] = host
        raw_ip = hostvars[host].get("node_ip")
        if raw_ip is None:
            errors.append(f"host {host}: node_ip is missing; give every node its static address")
            continue
        try:
            ip = ipaddress.ip_address(str(raw_ip))
        except ValueError:
            errors.append(f"host {host}: node_ip {raw_ip!r} is not an IP address")
            continue
        if str(ip) in seen_ips:
            errors.append(f"host {host}: node_ip {ip} is already used by {seen_ips[str(ip)]}; addresses must be unique")
        seen_ips[str(ip)] = host
        if node_network is not None and ip not in node_network:
            errors.append(f"host {host}: node_ip {ip} is outside cluster_node_network {node_network}")
    return errors


class FilterModule:
    def filters(self) -> dict:
        return {"cluster_inventory_errors": cluster_inventory_errors}
