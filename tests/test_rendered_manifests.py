"""What the Kubernetes roles would apply, rendered for inventory/lab100 and a lab inventory, then validated.

No cluster is involved: Kubernetes objects are checked with kubernetes-validate (strict) against the
pinned minor, the kubeadm config against the v1beta4 fields, and cross-checks prove one inventory
variable feeds both kubeadm and Calico.
"""

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from clusterboot.inventory_writer import KUBERNETES_VERSION, InventorySpec, write_inventory

PROJECT = Path(__file__).resolve().parent.parent
# The schema of the minor the project installs by default.
KUBERNETES_MINOR = ".".join(KUBERNETES_VERSION.split(".")[:2]) + ".0"

# kubeadm.k8s.io/v1beta4 fields this project may set, from kubeadm's own types
# (cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go); a typo or a v1beta3-only field fails here.
ARG = {"name": None, "value": None}
V1BETA4 = {
    "InitConfiguration": {
        "apiVersion": None, "kind": None, "bootstrapTokens": None, "dryRun": None, "certificateKey": None,
        "skipPhases": None, "patches": None, "timeouts": None,
        "localAPIEndpoint": {"advertiseAddress": None, "bindPort": None},
        "nodeRegistration": {"name": None, "criSocket": None, "taints": None, "kubeletExtraArgs": [ARG],
                             "ignorePreflightErrors": None, "imagePullPolicy": None, "imagePullSerial": None},
    },
    "ClusterConfiguration": {
        "apiVersion": None, "kind": None, "etcd": None, "kubernetesVersion": None, "controlPlaneEndpoint": None,
        "networking": {"serviceSubnet": None, "podSubnet": None, "dnsDomain": None},
        "apiServer": {"extraArgs": [ARG], "extraVolumes": None, "extraEnvs": None, "certSANs": None},
        "controllerManager": None, "scheduler": None, "dns": None, "proxy": None, "certificatesDir": None,
        "imageRepository": None, "featureGates": None, "clusterName": None, "encryptionAlgorithm": None,
        "certificateValidityPeriod": None, "caCertificateValidityPeriod": None,
    },
}


def unknown_fields(doc, allowed, path=""):
    if allowed is None:
        return []
    if isinstance(allowed, list):
        return [f for item in doc for f in unknown_fields(item, allowed[0], path + "[]")]
    found = []
    for key, value in doc.items():
        if key not in allowed:
            found.append(f"{path}.{key}")
        else:
            found += unknown_fields(value, allowed[key], f"{path}.{key}")
    return found


RENDERED_FILES = ["calico-installation.yaml", "kubeadm-config.yaml", "spark-namespace.yaml"]


def render(inventory: Path, out: Path) -> Path:
    """Render into `out`, a new empty folder: files of an earlier run can never stand in for this one's."""
    assert not out.exists()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           "-e", f"render_dir={out}", "playbooks/render.yml"],
                          cwd=PROJECT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert sorted(p.name for p in out.iterdir()) == RENDERED_FILES
    return out


@pytest.fixture(scope="module", params=["lab100", "lab", "ha"])
def rendered(request, tmp_path_factory):
    if request.param == "lab100":
        inventory = PROJECT / "inventory" / "lab100"
    else:
        ha = request.param == "ha"
        spec = InventorySpec(name="rendertest", node_network="10.213.0.0/22", first_ip="10.213.0.11",
                             control_planes=3 if ha else 1, workers=4, pod_cidr="10.244.0.0/16",
                             control_plane_vip="10.213.0.10" if ha else None)
        inventory = write_inventory(spec, tmp_path_factory.mktemp("inv") / "rendertest")
    variables = yaml.safe_load((inventory / "group_vars/all.yml").read_text())
    return render(inventory, tmp_path_factory.mktemp("rendered") / variables["cluster_name"]), variables


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubeadm_config_uses_only_v1beta4_fields(rendered):
    out, _ = rendered
    kinds = {}
    for doc in docs(out / "kubeadm-config.yaml"):
        kinds[doc["kind"]] = doc
        if doc["kind"] in V1BETA4:
            assert doc["apiVersion"] == "kubeadm.k8s.io/v1beta4"
            assert unknown_fields(doc, V1BETA4[doc["kind"]]) == []
    assert sorted(kinds) == ["ClusterConfiguration", "InitConfiguration", "KubeletConfiguration"]
    assert kinds["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert kinds["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_kubeadm_config_comes_from_the_inventory(rendered):
    out, variables = rendered
    init, cluster, _ = docs(out / "kubeadm-config.yaml")
    assert cluster["networking"]["podSubnet"] == variables["cluster_pod_cidr"]
    assert cluster["networking"]["serviceSubnet"] == variables["cluster_service_cidr"]
    assert cluster["clusterName"] == variables["cluster_name"]
    assert cluster["kubernetesVersion"] == "v" + variables["cluster_kubernetes_version"]
    advertise = init["localAPIEndpoint"]["advertiseAddress"]
    # Several control planes: the API's stable address is the VIP, and every control plane's certificate fits.
    vip = variables.get("cluster_control_plane_vip")
    assert cluster["controlPlaneEndpoint"] == f"{vip or advertise}:6443"
    assert advertise in cluster["apiServer"]["certSANs"]
    if vip:
        assert {"cp01", "cp02", "cp03", "10.213.0.12", "10.213.0.13"} <= set(cluster["apiServer"]["certSANs"])
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert "ignorePreflightErrors" not in init["nodeRegistration"]


def test_calico_pool_is_the_pod_cidr(rendered):
    out, variables = rendered
    installation = docs(out / "calico-installation.yaml")[0]
    assert installation["apiVersion"] == "operator.tigera.io/v1" and installation["kind"] == "Installation"
    network = installation["spec"]["calicoNetwork"]
    (pool,) = network["ipPools"]
    assert pool["cidr"] == variables["cluster_pod_cidr"]
    assert pool["blockSize"] == variables["cluster_pod_block_size"]
    assert pool["encapsulation"] in ("IPIP", "VXLAN", "IPIPCrossSubnet", "VXLANCrossSubnet", "None")
    assert network["nodeAddressAutodetectionV4"] == {"cidrs": [variables["cluster_node_network"]]}


def test_calico_bgp_is_off_with_vxlan(rendered):
    """VXLAN routes without BGP: left on, every node keeps a BGP session to every other on TCP 179."""
    out, _ = rendered
    network = docs(out / "calico-installation.yaml")[0]["spec"]["calicoNetwork"]
    assert network["ipPools"][0]["encapsulation"].startswith("VXLAN")
    assert network["bgp"] == "Disabled"


def test_spark_namespace_objects_are_valid_kubernetes(rendered):
    out, _ = rendered
    objects = docs(out / "spark-namespace.yaml")
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (namespace,) = by_kind["Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    roles = {role["metadata"]["name"]: role for role in by_kind["Role"]}
    assert sorted(roles) == ["spark-driver", "spark-submitter"]
    driver = roles["spark-driver"]
    assert driver["rules"][0]["resources"] == ["pods", "services", "configmaps", "persistentvolumeclaims"]
    assert set(driver["rules"][0]["verbs"]) == {"get", "list", "watch", "create", "update", "patch", "delete",
                                                "deletecollection"}
    # Neither role reaches secrets: a job or its submitter cannot read another workload's credentials.
    assert not any("secrets" in rule["resources"] for role in roles.values() for rule in role["rules"])
    bindings = {b["roleRef"]["name"]: b["subjects"] for b in by_kind["RoleBinding"]}
    assert bindings == {"spark-driver": [{"kind": "ServiceAccount", "name": "spark", "namespace": "spark"}],
                        "spark-submitter": [{"kind": "ServiceAccount", "name": "spark-submitter",
                                             "namespace": "spark"}]}
    accounts = {a["metadata"]["name"]: a for a in by_kind["ServiceAccount"]}
    assert accounts["spark-executor"]["automountServiceAccountToken"] is False
    # Each claim names its volume, so it binds to exactly that one.
    volumes = {pv["metadata"]["name"]: pv for pv in by_kind["PersistentVolume"]}
    for claim in by_kind["PersistentVolumeClaim"]:
        pv = volumes[claim["spec"]["volumeName"]]
        assert claim["spec"]["accessModes"] == pv["spec"]["accessModes"]
        assert claim["spec"]["resources"]["requests"]["storage"] == pv["spec"]["capacity"]["storage"]


def test_a_bad_object_is_caught_by_the_validator():
    bad = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"},
           "spec": {"accessModes": "ReadWriteMany"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_MINOR, strict=True)


def test_unknown_kubeadm_field_is_caught():
    assert unknown_fields({"networking": {"podCIDR": "x"}}, V1BETA4["ClusterConfiguration"]) == [".networking.podCIDR"]
