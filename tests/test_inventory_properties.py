"""Property-based tests of the inventory checks over generated inventories (hypothesis).

- Every inventory `inventory generate` writes (any node network, first address, worker count, gateway,
  DNS servers, pod and service networks it accepts) passes `inventory check`: exit 0, "N nodes".
- Mutating such an inventory at random (any YAML value for any declared or misspelt variable, hosts
  moved between groups, addresses changed) never raises: `inventory check` answers exit 0 or 2, and
  exit 2 always comes with at least one problem line.
- The check function itself, fed arbitrary host variables and groups, returns a list of strings.

CLUSTERBOOT_HYPOTHESIS_EXAMPLES sets the example count of the file-based properties (default 100; the
in-memory one runs 5 times as many).
"""

import contextlib
import io
import ipaddress
import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clusterboot import inventory_checks
from clusterboot.cli import main
from clusterboot.errors import UserError
from clusterboot.inventory_writer import InventorySpec, write_inventory

EXAMPLES = int(os.environ.get("CLUSTERBOOT_HYPOTHESIS_EXAMPLES", "100"))
FILE_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_check(folder: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inventory", "check", "--inventory", str(folder)])
    return code, out.getvalue() + err.getvalue()


@st.composite
def inventory_specs(draw) -> InventorySpec:
    """Mostly inputs `inventory generate` accepts, with a share of ones it must refuse."""
    prefix = draw(st.integers(min_value=16, max_value=29))
    base = draw(st.sampled_from(["10.20.0.0", "172.16.0.0", "192.168.0.0", "100.80.0.0", "10.200.0.0"]))
    network = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)
    hosts = network.num_addresses - 2
    offset = draw(st.integers(min_value=2, max_value=min(hosts, 200)))
    workers = draw(st.integers(min_value=0, max_value=max(1, min(120, hosts - offset))))
    gateway = draw(st.none() | st.none() | st.integers(min_value=0, max_value=min(hosts + 1, 300)).map(
        lambda n: str(network.network_address + n)))
    dns = draw(st.lists(st.sampled_from(["1.1.1.1", "8.8.8.8", "9.9.9.9", "2001:4860:4860::8888",
                                         str(network.network_address + 1), str(network.network_address + 1),
                                         "10.96.0.10", "127.0.0.53", str(network.broadcast_address)]), max_size=2))
    pod = draw(st.sampled_from(["192.168.0.0/16", "10.244.0.0/16", "10.244.0.0/20", "172.20.0.0/14", "100.64.0.0/12"]))
    service = draw(st.sampled_from(["10.96.0.0/12", "10.96.0.0/16", "172.31.0.0/16", "10.96.0.0/12", "10.0.0.0/8"]))
    name = draw(st.sampled_from(["lab", "t1", "prod-a", "x" * 63, "lab", "t1", "prod-a", "Lab_1"]))
    return InventorySpec(name=name, node_network=str(network), first_ip=str(network.network_address + offset),
                         control_planes=draw(st.sampled_from([1, 1, 1, 1, 1, 2])), workers=workers, gateway=gateway,
                         dns_servers=tuple(dns), pod_cidr=pod, service_cidr=service)


@FILE_SETTINGS
@given(inventory_specs())
def test_every_generated_inventory_passes(spec):
    """`inventory generate` either refuses the input with a message or writes an inventory that passes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / spec.name
        try:
            write_inventory(spec, folder)
        except UserError as err:
            assert str(err).startswith("inventory generate: "), err
            event("refused by the generator")
            return
        event("written and checked")
        code, out = run_check(folder)
        nodes = spec.control_planes + spec.workers
        assert code == 0, f"{spec}\n{out}"
        assert f"{nodes} nodes, no problems found" in out


VARIABLES = sorted(inventory_checks.load_specs())
yaml_scalars = (st.none() | st.booleans() | st.integers(min_value=-10**6, max_value=10**6)
                | st.floats(allow_nan=False, allow_infinity=False, width=32)
                | st.text(max_size=20) | st.sampled_from(["{{ node_ip }}", "10.20.0.1", "10.20.0.0/24", "1.34.2", "cp01",
                                                          "wk001", "cp01:5000", "2h", "1g", "/srv", "all", ""]))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
keys = st.sampled_from(VARIABLES) | st.sampled_from(VARIABLES).map(lambda k: k[:-1]) | st.from_regex(
    r"(cluster|spark|calico)_[a-z_]{1,12}", fullmatch=True)
mutations = st.one_of(
    st.tuples(st.just("group_var"), keys, yaml_values),
    st.tuples(st.just("host_var"), st.sampled_from(["cp01", "wk001", "wk002"]), keys, yaml_values),
    st.tuples(st.just("node_ip"), st.sampled_from(["cp01", "wk001", "wk002"]), yaml_scalars),
    st.tuples(st.just("drop"), st.sampled_from(["cluster_name", "cluster_pod_cidr", "cluster_node_network",
                                                "cluster_dns_servers", "cluster_spark_manager"])),
    st.tuples(st.just("move"), st.sampled_from(["cp01", "wk001", "wk002"]),
              st.sampled_from(["control_plane", "workers", "k8s_cluster", "ungrouped", "extra"])),
)


@FILE_SETTINGS
@given(st.lists(mutations, min_size=1, max_size=6))
def test_mutated_inventory_answers_0_or_2(changes):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_inventory(InventorySpec(name="m", node_network="10.20.0.0/24", first_ip="10.20.0.11",
                                               control_planes=1, workers=2), Path(tmp) / "m")
        group_vars = yaml.safe_load((folder / "group_vars/all.yml").read_text())
        hosts = yaml.safe_load((folder / "hosts.yml").read_text())
        children = hosts["all"]["children"]
        host_vars: dict[str, dict] = {}
        for change in changes:
            if change[0] == "group_var":
                group_vars[change[1]] = change[2]
            elif change[0] == "host_var":
                host_vars.setdefault(change[1], {})[change[2]] = change[3]
            elif change[0] == "node_ip":
                host_vars.setdefault(change[1], {})["node_ip"] = change[2]
            elif change[0] == "drop":
                group_vars.pop(change[1], None)
            else:
                host, group = change[1], change[2]
                if group == "ungrouped":
                    hosts["all"].setdefault("hosts", {})[host] = None
                else:
                    entry = children.setdefault(group, {})
                    if not isinstance(entry.get("hosts"), dict):
                        entry["hosts"] = {}
                    entry["hosts"][host] = None
        (folder / "group_vars/all.yml").write_text(yaml.safe_dump(group_vars))
        (folder / "hosts.yml").write_text(yaml.safe_dump(hosts))
        (folder / "host_vars").mkdir()
        for host, variables in host_vars.items():
            (folder / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(variables))
        code, out = run_check(folder)
        assert code in (0, 2), out
        assert "Traceback" not in out
        if code == 2:
            assert out.startswith("error: ") and len(out.strip()) > len("error: "), out


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(st.dictionaries(st.sampled_from(["cp01", "wk001", "WK2", ""]),
                       st.dictionaries(keys | st.sampled_from(["node_ip", "inventory_file"]), yaml_values, max_size=6),
                       min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(["control_plane", "workers", "k8s_cluster", "ungrouped", "all"]),
                       st.lists(st.sampled_from(["cp01", "wk001", "WK2", ""]), max_size=3), max_size=5))
def test_check_function_never_raises(hostvars, groups):
    """In a play the filter gets hostvars and groups as they are; whatever they hold, it answers a list."""
    hostvars = {h: v for h, v in hostvars.items()}
    for members in groups.values():
        for host in members:
            hostvars.setdefault(host, {})
    problems = inventory_checks.cluster_inventory_errors(hostvars, groups)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
