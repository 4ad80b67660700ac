"""The kafka role's storage format command, run for real with Kafka's own StorageTool on the controller, and the
unit that no longer formats anything at start.

Needs Java and the Kafka jars from Maven Central (assembled into the artifacts cache once, as the role uses them).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from clusterboot import settings
from clusterboot.artifacts import maven
from clusterboot.artifacts.build import default_cache

pytestmark = pytest.mark.cluster

PROJECT = Path(__file__).resolve().parent.parent
# The role's own filter, loaded from its file as Ansible loads it (as tests/test_join_tokens.py does).
_spec = importlib.util.spec_from_file_location("kafka_ids", PROJECT / "roles/kafka/filter_plugins/kafka_ids.py")
kafka_ids = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kafka_ids)


def format_argv(variables: dict) -> list[str]:
    """The argv of roles/kafka/tasks/format.yml's format task, rendered as Ansible renders it."""
    tasks = yaml.safe_load((PROJECT / "roles/kafka/tasks/format.yml").read_text())
    task = next(t for t in tasks if t["name"].startswith("Format the log folder"))
    environment = jinja2.Environment()
    rendered = dict(variables)
    rendered["kafka_java"] = ast.literal_eval(environment.from_string(
        yaml.safe_load((PROJECT / "roles/kafka/vars/main.yml").read_text())["kafka_java"]).render(variables))
    return ast.literal_eval(environment.from_string(task["ansible.builtin.command"]["argv"]).render(rendered))


@pytest.mark.parametrize("cluster_name", ["lab", "sim"])
def test_the_role_formats_a_log_folder_with_the_derived_cluster_id(cluster_name: str, tmp_path: Path) -> None:
    """`lab` derives an id that starts with "-": the role must pass it so the parser does not read an option."""
    cluster_id = kafka_ids.kafka_cluster_id_of(cluster_name)
    version = settings.role_setting("kafka", "kafka_version", {})
    assert maven.assemble(maven.kafka(version), default_cache())[0]["jars"]
    argv = format_argv({"kafka_user": "kafka", "kafka_libs": str(maven.kafka(version).folder(default_cache()) / "libs"),
                        "kafka_config_dir": str(tmp_path), "kafka_effective_cluster_id": cluster_id})
    assert argv[:4] == ["runuser", "-u", "kafka", "--"]  # as the broker's user; this test runs it as itself
    (tmp_path / "log4j2-tools.yaml").write_text("Configuration:\n  Loggers:\n    Root:\n      level: warn\n")
    (tmp_path / "server.properties").write_text(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:19093\n"
        "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\ncontroller.listener.names=CONTROLLER\n"
        f"log.dirs={tmp_path / 'logs'}\n")
    proc = subprocess.run(argv[4:], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"cluster.id={cluster_id}\n" in (tmp_path / "logs" / "meta.properties").read_text()


def test_the_unit_formats_nothing_and_waits_for_its_disk() -> None:
    """A start never formats: an empty mount point is refused by the broker, not turned into a new voter."""
    unit = (PROJECT / "roles/kafka/templates/kafka.service.j2").read_text()
    assert "StorageTool" not in unit and "ExecStartPre" not in unit
    assert "RequiresMountsFor={{ kafka_data_dir }}" in unit
