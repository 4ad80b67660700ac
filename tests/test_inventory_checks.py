"""Every inventory-level check: a bad inventory gives exit 2 and a message naming the file, host or group,
the variable and what to change; every valid inventory of the repo, the lab and molecule passes.

These run `bootstrap.py inventory check`, which loads the inventory with Ansible's own loader and
contacts no node (the inventories point at addresses nothing listens on and are never dialled).
"""

from pathlib import Path

import pytest
import yaml

from clusterboot import inventory_checks
from clusterboot.cli import main
from clusterboot.inventory_writer import KUBERNETES_VERSION, InventorySpec, write_inventory

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    spec = InventorySpec(name="t", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1, workers=4)
    return write_inventory(spec, tmp_path / "t")


def edit(path: Path, old: str, new: str) -> None:
    """Replace old by new; an empty old appends new (creating the file, e.g. a host_vars file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else ""
    if old:
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new))
    else:
        path.write_text(text + new)


def check(inventory: Path, capsys) -> tuple[int, str]:
    code = main(["inventory", "check", "--inventory", str(inventory)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_good_inventory_passes(inventory, capsys):
    code, out = check(inventory, capsys)
    assert code == 0, out
    assert "5 nodes, no problems found" in out


THREE_CONTROL_PLANES = "cp01: {node_ip: 10.20.0.11}\n        cp02: {node_ip: 10.20.0.20}\n        cp03: {node_ip: 10.20.0.21}"


@pytest.mark.parametrize("vip,expected", [
    ("10.20.0.10", None),
    ("10.20.0.21", "cluster_control_plane_vip: 10.20.0.21 is node_ip of cp03; choose an address no node has"),
    ("10.20.0.1", "cluster_control_plane_vip: 10.20.0.1 is the gateway's address"),
    ("10.30.0.10", "cluster_control_plane_vip: 10.30.0.10 is outside cluster_node_network 10.20.0.0/24"),
    ("10.20.0.255", "cluster_control_plane_vip: 10.20.0.255 is the broadcast address"),
    ("10.20.0", "cluster_control_plane_vip: '10.20.0' is not an IPv4 address"),
])
def test_three_control_planes_need_a_free_vip(inventory, capsys, vip, expected):
    edit(inventory / "hosts.yml", "cp01: {node_ip: 10.20.0.11}", THREE_CONTROL_PLANES)
    edit(inventory / "group_vars/all.yml", "", f"cluster_control_plane_vip: {vip}\n")
    code, out = check(inventory, capsys)
    if expected is None:
        assert code == 0, out
    else:
        assert code == 2 and expected in out and "1 problem(s)" in out, out


KAFKA_GROUP = "    kafka:\n      hosts:\n        wk001:\n        wk002:\n"


@pytest.mark.parametrize("settings,expected", [
    ("", "group kafka: hosts wk001, wk002: kafka_source is release and kafka_release_sha512 is not set; set it "
         "to the sha512 in the .sha512 file Apache publishes"),
    ("kafka_release_sha512: " + "ab" * 64 + "\n", None),
    ("kafka_source: maven\n", None),
    ("kafka_release_sha512: " + "AB" * 64 + "\n", "is not a sha512 (128 lowercase hex digits)"),
    ("kafka_source: tarball\n", "kafka_source: 'tarball' is not one of release, maven"),
])
def test_brokers_that_download_the_release_need_its_checksum(inventory, capsys, settings, expected):
    edit(inventory / "hosts.yml", "    k8s_cluster:", KAFKA_GROUP + "    k8s_cluster:")
    edit(inventory / "group_vars/all.yml", "", settings)
    code, out = check(inventory, capsys)
    if expected is None:
        assert code == 0, out
    else:
        assert code == 2 and expected in out and "1 problem(s)" in out, out


def test_lab100_passes(capsys):
    code, out = check(PROJECT / "inventory/lab100", capsys)
    assert (code, "100 nodes" in out) == (0, True), out


@pytest.mark.parametrize("manager", ["kubernetes", "standalone"])
@pytest.mark.parametrize("nodes", [2, 4, 100])
def test_lab_inventory_passes(tmp_path, capsys, manager, nodes):
    """The lab's generated inventory, with its overrides (Jinja-templated ones among them), is valid."""
    from clusterboot.lab import lab

    cfg = lab.LabConfig(project_dir=PROJECT, inventory_root=tmp_path)
    spec = lab.lab_spec(cfg, nodes, 1, nodes > 20, manager)
    write_inventory(spec, cfg.inventory_dir)
    code, out = check(cfg.inventory_dir, capsys)
    manifest = Path(spec.overrides["cluster_kubernetes_artifacts_dir"]) / "manifest.json"
    if manager == "kubernetes" and not manifest.is_file():
        # Without `artifacts build` on this machine, the only problem is the missing build.
        assert code == 2 and "1 problem(s)" in out and "manifest.json does not exist" in out, out
    else:
        assert code == 0, out
        assert f"{nodes} nodes, no problems found" in out


def test_molecule_group_vars_pass(tmp_path, capsys):
    """molecule/default's inventory (platforms' groups, its group_vars and host_vars) is a valid input."""
    scenario = yaml.safe_load((PROJECT / "molecule/default/molecule.yml").read_text())
    groups: dict[str, list[str]] = {}
    for platform in scenario["platforms"]:
        for group in platform["groups"]:
            groups.setdefault(group, []).append(platform["name"])
    inv = scenario["provisioner"]["inventory"]
    hosts = {"all": {"children": {g: {"hosts": {h: None for h in members}} for g, members in groups.items()}}}
    folder = tmp_path / "molecule"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "host_vars").mkdir()
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (folder / "group_vars/all.yml").write_text(yaml.safe_dump(inv["group_vars"]["all"]))
    for host, variables in inv["host_vars"].items():
        (folder / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(variables))
    code, out = check(folder, capsys)
    assert code == 0, out
    assert "3 nodes, no problems found" in out


@pytest.mark.parametrize("batch", ["3", "'3'", "'20%'", "'100%'"])
def test_an_upgrade_batch_is_a_count_or_a_share(inventory, capsys, batch):
    edit(inventory / "group_vars/all.yml", "", f"cluster_upgrade_batch: {batch}\n")
    code, out = check(inventory, capsys)
    assert code == 0, out


def test_templated_values_are_accepted(inventory, capsys):
    edit(inventory / "group_vars/all.yml", "", 'cluster_image_repository: "{{ groups.control_plane[0] }}:5000"\n'
         'cluster_registry_port: "{{ 4000 + 1000 }}"\ncluster_registry_host: "{{ groups.control_plane[0] }}"\n'
         'calico_node_address_cidrs: ["{{ cluster_node_network }}"]\n')
    code, out = check(inventory, capsys)
    assert code == 0, out


def test_every_spec_parses_with_known_tags():
    """Each role's argument_specs.yml loads, and every [format=...] tag names a known format."""
    specs = inventory_checks.load_specs()
    assert "cluster_pod_cidr" in specs and "calico_encapsulation" in specs and "spark_submit_conf" in specs


def test_every_default_is_a_known_variable():
    """Unknown-key detection derives from the roles: anything a role defaults or declares is accepted."""
    module = inventory_checks
    known = module.known_variables()
    for path in PROJECT.glob("roles/*/defaults/main.yml"):
        assert set(yaml.safe_load(path.read_text()) or {}) <= known, path


# (file, old, new, expected words in the message). An empty old appends new to the file.
BAD_INVENTORIES = [
    # -- node addresses
    ("hosts.yml", "wk002: {node_ip: 10.20.0.13}", "wk002: {node_ip: 10.20.0.12}",
     ["hosts.yml: host wk002", "node_ip 10.20.0.12", "already used by wk001"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.99.0.14}",
     ["host wk003", "node_ip 10.99.0.14 is outside cluster_node_network 10.20.0.0/24"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.20.0.0}",
     ["host wk003", "is the network address of 10.20.0.0/24"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.20.0.255}",
     ["host wk003", "is the broadcast address of 10.20.0.0/24"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.20.0.1}",
     ["host wk003", "node_ip 10.20.0.1 is the gateway's address"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "WK001: {node_ip: 10.20.0.14}",
     ["host WK001", "not a valid lowercase DNS label"]),
    # Ansible host names are case-sensitive, kubelet's node names are not: wk001 and WK001 would collide.
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "WK001: {node_ip: 10.20.0.14}",
     ["host wk001: same hostname as WK001; hostnames must be unique"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {}",
     ["host wk003", "node_ip is missing"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 10.20.0.300}",
     ["hosts.yml: host wk003", "node_ip: '10.20.0.300' is not an IPv4 address"]),
    ("hosts.yml", "wk003: {node_ip: 10.20.0.14}", "wk003: {node_ip: 'fd00::14'}",
     ["host wk003", "node_ip: 'fd00::14' is not an IPv4 address"]),
    # -- the inventory's shape
    ("hosts.yml", "cp01: {node_ip: 10.20.0.11}", "cp01: {node_ip: 10.20.0.11}\n        cp02: {node_ip: 10.20.0.20}",
     ["group control_plane", "has 2 hosts", "cp01, cp02", "use 1, 3 or 5 control planes"]),
    ("hosts.yml", "cp01: {node_ip: 10.20.0.11}",
     "cp01: {node_ip: 10.20.0.11}\n        cp02: {node_ip: 10.20.0.20}\n        cp03: {node_ip: 10.20.0.21}",
     ["cluster_control_plane_vip: not set, and the cluster has 3 control planes", "free address of cluster_node_network"]),
    ("hosts.yml", "        cp01: {node_ip: 10.20.0.11}\n", "",
     ["group control_plane", "has no hosts"]),
    ("hosts.yml", "      hosts:\n        wk001: {node_ip: 10.20.0.12}", "      hosts:\n        cp01:\n        wk001: {node_ip: 10.20.0.12}",
     ["host cp01: is in both control_plane and workers"]),
    ("hosts.yml", "    k8s_cluster:", "    extra:\n      hosts:\n        wk009: {node_ip: 10.20.0.40}\n    k8s_cluster:\n      hosts:\n        wk009:",
     ["host wk009: is in k8s_cluster but in neither control_plane nor workers"]),
    ("hosts.yml", "        workers:\n", "",
     ["host wk001: is in workers but not in k8s_cluster", "host wk004"]),
    ("hosts.yml", "all:\n", "all:\n  hosts:\n    stray: {node_ip: 10.20.0.50}\n",
     ["host stray: is in no group, so no play targets it"]),
    # -- networks
    ("group_vars/all.yml", "cluster_service_cidr: 10.96.0.0/12", "cluster_service_cidr: 192.168.128.0/17",
     ["group_vars/all.yml: group all", "cluster_pod_cidr 192.168.0.0/16 overlaps cluster_service_cidr 192.168.128.0/17"]),
    ("group_vars/all.yml", "cluster_service_cidr: 10.96.0.0/12", "cluster_service_cidr: 10.20.0.0/16",
     ["cluster_node_network 10.20.0.0/24 overlaps cluster_service_cidr 10.20.0.0/16"]),
    ("group_vars/all.yml", "cluster_pod_cidr: 192.168.0.0/16", "cluster_pod_cidr: 10.20.0.0/16",
     ["cluster_node_network 10.20.0.0/24 overlaps cluster_pod_cidr 10.20.0.0/16"]),
    ("group_vars/all.yml", "cluster_service_cidr: 10.96.0.0/12", "cluster_service_cidr: 172.0.0.0/8",
     ["cluster_service_cidr: 172.0.0.0/8 is larger than the /12 kube-apiserver accepts"]),
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
     ["cluster_pod_cidr: '192.168.0.0/33' is not an IPv4 network in CIDR form"]),
    ("group_vars/all.yml", "cluster_node_network: 10.20.0.0/24", "cluster_node_network: 10.20.0.5/24",
     ["cluster_node_network: '10.20.0.5/24'", "has host bits set"]),
    ("group_vars/all.yml", "cluster_node_network: 10.20.0.0/24", "cluster_node_network: 10.20.0.0",
     ["cluster_node_network: '10.20.0.0' has no prefix length"]),
    ("group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: 33",
     ["cluster_pod_block_size: is 33, must be between 20 and 32"]),
    ("group_vars/all.yml", "cluster_node_gateway: 10.20.0.1", "cluster_node_gateway: 10.30.0.1",
     ["cluster_node_gateway: 10.30.0.1 is outside cluster_node_network 10.20.0.0/24"]),
    ("group_vars/all.yml", "cluster_node_gateway: 10.20.0.1", "cluster_node_gateway: 10.20.0.255",
     ["cluster_node_gateway: 10.20.0.255 is the broadcast address of 10.20.0.0/24"]),
    ("group_vars/all.yml", "cluster_dns_servers: [10.20.0.1]", "cluster_dns_servers: [10.96.0.10]",
     ["cluster_dns_servers[0]: 10.96.0.10 is inside cluster_service_cidr 10.96.0.0/12"]),
    ("group_vars/all.yml", "cluster_dns_servers: [10.20.0.1]", "cluster_dns_servers: [127.0.0.53]",
     ["cluster_dns_servers[0]: 127.0.0.53 is a loopback"]),
    ("group_vars/all.yml", "cluster_dns_servers: [10.20.0.1]", "cluster_dns_servers: [dns.example.org]",
     ["cluster_dns_servers[0]: 'dns.example.org' is not an IP address"]),
    ("group_vars/all.yml", "cluster_dns_servers: [10.20.0.1]", "cluster_dns_servers: 10.20.0.1",
     ["cluster_dns_servers: is str '10.20.0.1', must be list"]),
    # -- types, choices, formats and ranges of the inventory-wide settings
    ("group_vars/all.yml", "cluster_manage_network: true", 'cluster_manage_network: "yes"',
     ["cluster_manage_network: is str 'yes', must be bool (write true or false, unquoted)"]),
    ("group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: true",
     ["cluster_pod_block_size: is bool True, must be int"]),
    ("group_vars/all.yml", "cluster_package_source: upstream", "cluster_package_source: ppa",
     ["cluster_package_source: 'ppa' is not one of upstream, distro"]),
    ("group_vars/all.yml", "cluster_spark_manager: kubernetes", "cluster_spark_manager: Kubernetes",
     ["cluster_spark_manager: 'Kubernetes' is not one of kubernetes, standalone (did you mean kubernetes?)"]),
    ("group_vars/all.yml", "cluster_name: t\n", "",
     ["cluster_name: missing; set it in group_vars/all.yml"]),
    ("group_vars/all.yml", "cluster_name: t\n", "cluster_name:\n",
     ["cluster_name: is empty (null)"]),
    ("group_vars/all.yml", "cluster_name: t\n", "cluster_name: Lab_1\n",
     ["cluster_name: 'Lab_1' is not a lowercase DNS label"]),
    ("group_vars/all.yml", "", "cluster_install_batch: -4\n",
     ["cluster_install_batch: is -4, must be at least 0"]),
    ("group_vars/all.yml", f'cluster_kubernetes_version: "{KUBERNETES_VERSION}"', "cluster_kubernetes_version: 1.36",
     ["cluster_kubernetes_version: is float 1.36, must be str (quote it"]),
    ("group_vars/all.yml", f'cluster_kubernetes_version: "{KUBERNETES_VERSION}"', 'cluster_kubernetes_version: "v1.36.5"',
     ["cluster_kubernetes_version: 'v1.36.5' is not a Kubernetes version"]),
    ("group_vars/all.yml", "", "cluster_kubernetes_source: offline\n",
     ["cluster_kubernetes_source: 'offline' is not one of upstream, artifacts"]),
    ("group_vars/all.yml", "", "cluster_kubernetes_source: artifacts\n",
     ["cluster_kubernetes_artifacts_dir: missing; cluster_kubernetes_source is artifacts"]),
    ("group_vars/all.yml", "", "cluster_kubernetes_source: artifacts\ncluster_kubernetes_artifacts_dir: /nonexistent\n",
     ["cluster_kubernetes_artifacts_dir: /nonexistent/manifest.json does not exist"]),
    ("group_vars/all.yml", "", "cluster_registry_port: \"5000\"\n",
     ["cluster_registry_port: is str '5000', must be int (a whole number, unquoted)"]),
    ("group_vars/all.yml", "", "cluster_registry_host: cp1\n",
     ["cluster_registry_host: 'cp1' is not a node of this inventory (did you mean cp01?)"]),
    ("group_vars/all.yml", "", "cluster_image_repository: https://registry.k8s.io\n",
     ["cluster_image_repository: 'https://registry.k8s.io' is not an image registry"]),
    ("group_vars/all.yml", "", "cluster_kubeadm_ignore_preflight_errors: [all]\n",
     ["cluster_kubeadm_ignore_preflight_errors[0]: 'all' is 'all', which would hide every kubeadm preflight problem"]),
    ("group_vars/all.yml", "cluster_shared_data_dir: /srv/spark-data", "cluster_shared_data_dir: srv/spark-data",
     ["cluster_shared_data_dir: 'srv/spark-data' is not an absolute path"]),
    # -- spark_submit_* (read by the controller's submit)
    ("group_vars/all.yml", "spark_submit_executor_instances: 4", "spark_submit_executor_instances: 0",
     ["spark_submit_executor_instances: is 0, must be at least 1"]),
    ("group_vars/all.yml", "", "spark_submit_executor_memory: 2 GB\n",
     ["spark_submit_executor_memory: '2 GB' is not a memory size such as 512m or 2g"]),
    ("group_vars/all.yml", "", "spark_submit_pull_policy: ifnotpresent\n",
     ["spark_submit_pull_policy: 'ifnotpresent' is not one of Always, IfNotPresent, Never (did you mean IfNotPresent?)"]),
    ("group_vars/all.yml", "path: /srv/spark-data}]", "path: srv/spark-data}]",
     ["spark_submit_pvc_mounts[0].path: 'srv/spark-data' is not an absolute path"]),
    ("group_vars/all.yml", ", path: /srv/spark-data}]", "}]",
     ["spark_submit_pvc_mounts[0]: has no path"]),
    ("group_vars/all.yml", ", path: /srv/spark-data}]", ", path: /srv/spark-data, readonly: true}]",
     ["spark_submit_pvc_mounts[0]: unknown key 'readonly' (did you mean read_only?)"]),
    ("group_vars/all.yml", "", "spark_submit_jobs: [word_count]\n",
     ["spark_submit_jobs[0]: is str 'word_count', must be list"]),
    ("group_vars/all.yml", "", "spark_submit_conf: [spark.executor.cores=2]\n",
     ["spark_submit_conf: is list", "must be dict"]),
    # -- typos: unknown variables with a role's or cluster_/spark_ prefix
    ("group_vars/all.yml", "", "cluster_pod_cdir: 10.244.0.0/16\n",
     ["group_vars/all.yml: group all: cluster_pod_cdir: unknown variable; did you mean cluster_pod_cidr?"]),
    ("group_vars/all.yml", "", "spark_submit_executor_instance: 3\n",
     ["spark_submit_executor_instance: unknown variable; did you mean spark_submit_executor_instances?"]),
    ("group_vars/all.yml", "", "calico_encapsulaton: VXLAN\n",
     ["calico_encapsulaton: unknown variable; did you mean calico_encapsulation?"]),
    ("group_vars/all.yml", "", "cluster_colour: blue\n",
     ["cluster_colour: unknown variable; no role reads it"]),
    # -- role variables, against each role's argument specs
    ("group_vars/all.yml", "", "calico_encapsulation: vxlan\n",
     ["calico_encapsulation: 'vxlan' is not one of IPIP, VXLAN, IPIPCrossSubnet, VXLANCrossSubnet, None (did you mean VXLAN?)"]),
    ("group_vars/all.yml", "", "calico_block_size: 19\n",
     ["calico_block_size: is 19, must be between 20 and 32"]),
    ("group_vars/all.yml", "", "registry_port: 70000\n",
     ["registry_port: is 70000, must be between 1 and 65535"]),
    ("group_vars/all.yml", "", "join_token_ttl: 2 hours\n",
     ["join_token_ttl: '2 hours' is not a duration such as 2h"]),
    ("group_vars/all.yml", "", "join_batch_size: 0\n",
     ["join_batch_size: is 0, must be at least 1"]),
    ("group_vars/all.yml", "", "container_runtime_docker_log_max_size: lots\n",
     ["container_runtime_docker_log_max_size: 'lots' is not a size"]),
    ("group_vars/all.yml", "", "container_runtime_registries: [{host: cp01}]\n",
     ["container_runtime_registries[0].host: 'cp01' is not HOST:PORT"]),
    ("group_vars/all.yml", "", "kubernetes_packages_revision: 1.1\n",
     ["kubernetes_packages_revision: is float 1.1, must be str (quote it: \"1.1\")"]),
    ("group_vars/all.yml", "", "control_plane_kubelet_config: failSwapOn=false\n",
     ["control_plane_kubelet_config: is str 'failSwapOn=false', must be dict"]),
    ("group_vars/all.yml", "", "control_plane_endpoint: cp01\n",
     ["control_plane_endpoint: 'cp01' is not HOST:PORT"]),
    ("group_vars/all.yml", "", "base_node_address: 10.20.0.11\n",
     ["base_node_address: '10.20.0.11' has no prefix length"]),
    ("group_vars/all.yml", "", "base_netplan_match_mac: 52-54-00-12-34-56\n",
     ["base_netplan_match_mac: '52-54-00-12-34-56' is not a MAC address"]),
    ("group_vars/all.yml", "", "preflight_min_cpus: {control_plane: 2}\n",
     ["preflight_min_cpus: has no workers"]),
    ("group_vars/all.yml", "", "spark_standalone_worker_memory: lots\n",
     ["spark_standalone_worker_memory: 'lots' is not a memory size"]),
    ("group_vars/all.yml", "", "cluster_registry_push_port: 5000\n",
     ["group_vars/all.yml: group all: cluster_registry_push_port: 5000 is cluster_registry_port too"]),
    ("group_vars/all.yml", "", "kafka_version: 3.9.1\n",
     ["kafka_version: '3.9.1' is not a Kafka 4 release"]),
    ("group_vars/all.yml", "", "kafka_topics: [{name: transactions}]\n",
     ["kafka_topics[0]: has no partitions"]),
    ("group_vars/all.yml", "", "kafka_cluster_id: my-cluster\n",
     ["kafka_cluster_id: 'my-cluster' is not a KRaft cluster id"]),
    ("group_vars/all.yml", "", "package_cache_host: wk100\n",
     ["package_cache_host: 'wk100' is not a node of this inventory"]),
    # -- upgrade batches: a count or a share of the workers
    ("group_vars/all.yml", "", "cluster_upgrade_batch: 0\n", ["cluster_upgrade_batch: is 0, must be at least 1"]),
    ("group_vars/all.yml", "", "cluster_upgrade_batch: '150%'\n",
     ["cluster_upgrade_batch: '150%' is not a batch size: a number of nodes such as 5, or a share such as 20%"]),
    ("group_vars/all.yml", "", "cluster_upgrade_batch: 'half'\n", ["cluster_upgrade_batch: 'half' is not a batch size"]),
    # -- a host's own override is named with its file and host
    ("host_vars/wk001.yml", "", "cluster_manage_network: 'no'\n",
     ["host_vars/wk001.yml: host wk001: cluster_manage_network: is str 'no', must be bool"]),
    ("hosts.yml", "wk001: {node_ip: 10.20.0.12}", "wk001: {node_ip: 10.20.0.12, join_retries: -1}",
     ["hosts.yml: host wk001: join_retries: is -1, must be at least 0"]),
]


@pytest.mark.parametrize("file,old,new,expected", BAD_INVENTORIES)
def test_bad_inventory_is_named(inventory, capsys, file, old, new, expected):
    edit(inventory / file, old, new)
    code, out = check(inventory, capsys)
    assert code == 2, out
    assert "Traceback" not in out
    for words in expected:
        assert words in out, out


GOOD_HOSTS = """all:
  children:
    control_plane:
      hosts:
        cp01: {node_ip: 10.20.0.11}
    workers:
      hosts:
        wk001: {node_ip: 10.20.0.12}
    k8s_cluster:
      children:
        control_plane:
        workers:
"""
# Whole hosts.yml files: a group the playbooks need, missing or empty.
BAD_SHAPES = [
    (GOOD_HOSTS.replace("        workers:\n", "").replace("    workers:\n      hosts:\n        wk001: {node_ip: 10.20.0.12}\n", ""),
     ["group workers: missing; the playbooks target it"]),
    (GOOD_HOSTS.replace("        wk001: {node_ip: 10.20.0.12}\n", ""),
     ["group workers: has no hosts"]),
    (GOOD_HOSTS.split("    k8s_cluster:")[0],
     ["group k8s_cluster: missing; the playbooks target it: declare it with control_plane and workers as its children"]),
    (GOOD_HOSTS + "    kafka:\n      hosts:\n        kf01: {node_ip: 10.20.0.40}\n",
     ["host kf01: is in kafka but not a node (k8s_cluster)"]),
    ("all:\n  hosts:\n    cp01: {node_ip: 10.20.0.11}\n",
     ["group control_plane: missing", "group workers: missing", "group k8s_cluster: missing",
      "host cp01: is in no group"]),
]


@pytest.mark.parametrize("hosts,expected", BAD_SHAPES)
def test_bad_shape_is_named(inventory, capsys, hosts, expected):
    (inventory / "hosts.yml").write_text(hosts)
    code, out = check(inventory, capsys)
    assert code == 2, out
    assert "no problems found" not in out and "Traceback" not in out
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
    edit(inventory / "group_vars/all.yml", "", "cluster_pod_cdir: 10.0.0.0/8\nregistry_port: 0\n")
    code, out = check(inventory, capsys)
    assert code == 2
    assert "4 problem(s)" in out and "host wk002" in out and "cluster_manage_network" in out, out
    assert "cluster_pod_cdir" in out and "registry_port" in out


def test_same_problem_on_every_host_is_reported_once(inventory, capsys):
    edit(inventory / "group_vars/all.yml", "cluster_manage_network: true", "cluster_manage_network: 1")
    code, out = check(inventory, capsys)
    assert code == 2 and "1 problem(s)" in out and out.count("cluster_manage_network") == 1, out


def test_yaml_syntax_error_names_file_line_column(inventory, capsys):
    edit(inventory / "group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: [26")
    code, out = check(inventory, capsys)
    assert code == 2
    assert f"{inventory / 'group_vars/all.yml'}:" in out and "YAML syntax error" in out
    assert "Traceback" not in out


def test_every_yaml_syntax_error_at_once(inventory, capsys):
    edit(inventory / "group_vars/all.yml", "cluster_pod_block_size: 26", "cluster_pod_block_size: [26")
    edit(inventory / "hosts.yml", "wk001: {node_ip: 10.20.0.12}", "wk001: {node_ip: 10.20.0.12")
    code, out = check(inventory, capsys)
    assert code == 2 and "2 problem(s)" in out and "hosts.yml:" in out and "all.yml:" in out, out


def test_unknown_inventory_lists_known_ones(capsys):
    code, out = check(Path("no-such-inventory"), capsys)
    assert code == 2
    assert "inventory 'no-such-inventory' not found" in out and "lab100" in out


@pytest.mark.parametrize(("quantity", "valid"), [
    ("100m", True), ("512Mi", True), ("1Gi", True), ("1k", True), ("1Ki", True), ("1.5G", True), ("256", True),
    ("1K", False), ("1g", False), ("1GB", False), ("Mi", False), ("-1Mi", False),
])
def test_a_kubernetes_quantity_takes_only_kubernetes_suffixes(quantity, valid):
    """kubelet refuses 1K or 1g at start; the check refuses them before any node is touched."""
    problem = inventory_checks.FORMATS["k8s-quantity"](quantity, {})
    assert (problem is None) == valid, problem
