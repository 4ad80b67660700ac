"""One home per setting: the roles' declarations are what Ansible and the Python runner both read.

Ansible: plugins/vars/cluster_defaults.py gives every play the defaults declared in the preflight role's
`inventory` argument spec, under the inventory's own group_vars. Python: clusterboot.settings reads the same
spec and the roles' defaults, so changing a role default changes what submit sends to spark-submit.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterboot import settings, submit
from clusterboot.errors import UserError

PROJECT = Path(__file__).resolve().parent.parent
ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")


@pytest.fixture
def roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the roles the runner reads, which the test may change; the runner is pointed at it."""
    copy = tmp_path / "roles"
    for role in ("preflight", "spark_standalone", "spark_image", "spark_namespace", "control_plane", "spark_kafka_jars"):
        shutil.copytree(PROJECT / "roles" / role, copy / role)
    monkeypatch.setattr(settings, "ROLES_DIR", copy)
    return copy


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def standalone_conf(cluster: submit.Cluster, tmp_path: Path) -> tuple[str, dict[str, str]]:
    args = submit.standalone_submit_args(cluster, "word_count", ["in", "out"], tmp_path / "jobs.zip")
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    return args[1], dict(p.split("=", 1) for p in pairs)


def test_changing_a_role_default_changes_what_submit_does(roles, tmp_path):
    cluster = submit.Cluster(name="t", manager="standalone", master_ip="127.0.0.1", worker_ips={}, settings={})
    master, conf = standalone_conf(cluster, tmp_path)
    assert master == "spark://127.0.0.1:7077"
    assert conf["spark.pyspark.python"] == "/opt/spark/venv/bin/python"
    assert conf["spark.executor.memory"] == "1g"

    def standalone(defaults: dict) -> None:
        defaults.update(spark_standalone_master_port=7177, spark_standalone_home="/srv/spark-here")

    def inventory_spec(spec: dict) -> None:
        spec["argument_specs"]["inventory"]["options"]["spark_submit_executor_memory"]["default"] = "3g"

    edit_yaml(roles / "spark_standalone" / "defaults" / "main.yml", standalone)
    edit_yaml(roles / "preflight" / "meta" / "argument_specs.yml", inventory_spec)
    cluster = submit.Cluster(name="t", manager="standalone", master_ip="127.0.0.1", worker_ips={}, settings={})
    master, conf = standalone_conf(cluster, tmp_path)
    assert master == "spark://127.0.0.1:7177"
    assert conf["spark.pyspark.python"] == "/srv/spark-here/venv/bin/python"
    assert conf["spark.executor.memory"] == "3g"
    # The inventory's own value still wins over the role's default.
    tuned = submit.Cluster(name="t", manager="standalone", master_ip="127.0.0.1", worker_ips={},
                           settings={"spark_standalone_master_port": 7000})
    assert standalone_conf(tuned, tmp_path)[0] == "spark://127.0.0.1:7000"


def test_the_files_submit_reads_are_where_the_roles_write_them(roles, tmp_path):
    """The kubeconfig, image and namespace records: paths from the roles' defaults, rendered for the cluster."""
    def elsewhere(defaults: dict) -> None:
        defaults["spark_image_record"] = str(tmp_path / "image-{{ cluster_name }}.json")

    edit_yaml(roles / "spark_image" / "defaults" / "main.yml", elsewhere)
    record = {"reference": "r:5000/spark:1", "size_bytes": 5, "pyspark": "4"}
    (tmp_path / "image-lab.json").write_text(json.dumps(record))
    cluster = submit.Cluster.from_inventory({"cp01": {"cluster_name": "lab", "node_ip": "10.0.0.2"}},
                                            {"control_plane": ["cp01"], "workers": []})
    assert cluster.kubeconfig == PROJECT / ".artifacts" / "kubeconfig-lab"
    # The image record is found at the changed path; the namespace's, at the role's default path, is missing.
    with pytest.raises(UserError, match=re.escape(str(PROJECT / ".artifacts" / "spark-namespace-lab.json"))):
        submit.KubernetesTarget.load(cluster)


def ansible_sees(inventory: Path) -> dict:
    out = subprocess.run([ANSIBLE_INVENTORY, "-i", str(inventory), "--host", "h1"], cwd=PROJECT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_ansible_gets_the_declared_defaults_under_the_inventorys_values(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": None},
                                                                "children": {"workers": {"hosts": {"h1": None}}}}}))
    (tmp_path / "group_vars" / "all.yml").write_text('cluster_kubernetes_version: "1.33.1"\n')
    (tmp_path / "group_vars" / "workers.yml").write_text("cluster_registry_port: 6000\n")
    seen = ansible_sees(tmp_path)
    declared = settings.declared_defaults()
    assert seen["cluster_kubernetes_version"] == "1.33.1"  # group_vars/all.yml over the declared default
    assert seen["cluster_registry_port"] == 6000  # a group's file too
    assert seen["cluster_image_repository"] == declared["cluster_image_repository"]
    assert seen["spark_submit_pvc_mounts"] == declared["spark_submit_pvc_mounts"] == []


def test_a_declared_default_that_is_a_template_is_rendered_by_ansible(tmp_path):
    """cluster_registry_host defaults to the first control plane through a template: ansible-core renders only
    trusted templates, so the vars plugin must mark the project's own defaults trusted (a real run once wrote
    the template itself into Docker's insecure-registries)."""
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "control_plane": {"hosts": {"cp7": None}}, "workers": {"hosts": {"w1": None}}}}}))
    (tmp_path / "plays").mkdir()  # not the inventory's folder: the plugin gives defaults at the inventory's level
    (tmp_path / "plays" / "play.yml").write_text(
        "- hosts: w1\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n"
        "        msg: \"registry={{ cluster_registry_host }}:{{ cluster_registry_port }}\"\n")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                           "-c", "local", str(tmp_path / "plays" / "play.yml")], cwd=PROJECT, capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")}, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "registry=cp7:5000" in proc.stdout, proc.stdout


def test_no_role_retypes_a_declared_default():
    """A `| default(...)` after a declared setting would be a second home for its default."""
    declared = "|".join(settings.declared_defaults())
    pattern = re.compile(rf"\b({declared})\s*\|\s*default\(")
    files = [*PROJECT.glob("roles/*/defaults/main.yml"), *PROJECT.glob("roles/*/tasks/*.yml"),
             *PROJECT.glob("roles/*/templates/*.j2"), *PROJECT.glob("playbooks/*.yml")]
    found = [f"{f.relative_to(PROJECT)}: {m.group(0)}" for f in files for m in pattern.finditer(f.read_text())]
    assert found == []


def test_no_file_retypes_a_declared_port():
    """A declared port (cluster_api_port, cluster_registry_port, ...) written as a number anywhere else would be a
    second home for it: a changed setting would leave that copy behind."""
    ports = {name: str(value) for name, value in settings.declared_defaults().items() if name.endswith("_port")}
    assert "cluster_api_port" in ports
    files = [*PROJECT.glob("roles/*/defaults/main.yml"), *PROJECT.glob("roles/*/tasks/*.yml"),
             *PROJECT.glob("roles/*/templates/*.j2"), *PROJECT.glob("playbooks/*.yml"),
             *PROJECT.glob("clusterboot/**/*.py"), *PROJECT.glob("bench/*.py")]
    files.remove(PROJECT / "clusterboot" / "inventory_checks.py")  # its messages show cp01:5000 as an example
    found = [f"{f.relative_to(PROJECT)}: {value} ({name})" for f in files for name, value in ports.items()
             if re.search(rf"(?<![\d.]){value}(?![\d.])", f.read_text())]
    assert found == []
