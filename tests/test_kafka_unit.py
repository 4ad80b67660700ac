"""The Kafka unit's storage format command, run for real with Kafka's own StorageTool on the controller.

Needs Java and the Kafka jars from Maven Central (assembled into the artifacts cache once, as the role uses them).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from clusterboot import settings
from clusterboot.artifacts import maven
from clusterboot.artifacts.build import default_cache

pytestmark = pytest.mark.cluster

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "roles" / "kafka" / "filter_plugins"))
from kafka_ids import kafka_cluster_id_of  # noqa: E402  (the role's own filter)


def format_command(unit: str) -> list[str]:
    """ExecStartPre's argv, its continuation lines joined."""
    line = re.search(r"^ExecStartPre=(.*?)(?<!\\)$", unit.replace("\\\n", " "), re.M).group(1)
    return shlex.split(line)


@pytest.mark.parametrize("cluster_name", ["lab", "sim"])
def test_the_unit_formats_a_log_folder_with_the_derived_cluster_id(cluster_name: str, tmp_path: Path) -> None:
    """`lab` derives an id that starts with "-": the unit must pass it so the parser does not read an option."""
    cluster_id = kafka_cluster_id_of(cluster_name)
    version = settings.role_setting("kafka", "kafka_version", {})
    libs = maven.assemble(maven.kafka(version), default_cache())[0]
    libs_dir = maven.kafka(version).folder(default_cache()) / "libs"
    assert libs["jars"], libs
    template = jinja2.Template((PROJECT / "roles/kafka/templates/kafka.service.j2").read_text())
    unit = template.render(ansible_managed="test", kafka_version=version, kafka_node_id=1, kafka_user="kafka",
                           kafka_libs=str(libs_dir), kafka_config_dir=str(tmp_path),
                           kafka_effective_cluster_id=cluster_id, kafka_heap_size="256m")
    (tmp_path / "log4j2-tools.yaml").write_text("Configuration:\n  Loggers:\n    Root:\n      level: warn\n")
    (tmp_path / "server.properties").write_text(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:19093\n"
        "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\ncontroller.listener.names=CONTROLLER\n"
        f"log.dirs={tmp_path / 'logs'}\n")
    proc = subprocess.run(format_command(unit), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"cluster.id={cluster_id}\n" in (tmp_path / "logs" / "meta.properties").read_text()
