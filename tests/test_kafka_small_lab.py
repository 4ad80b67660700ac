"""Kafka and fraud detection end to end on the smallest real lab, sized for CI (./dev test).

Two nodes: cp01 is the Spark master and the one Kafka broker (KRaft, broker and controller in one), wk001 the
Spark worker. Real: the kafka role on the node, from a release tarball (kafka_source: release) that the broker
downloads over HTTP from this machine and checks against its sha512; payments written to Kafka by `bootstrap.py
submit data_generator`, fraud_detection.py reading them through `bootstrap.py submit` (driver here, executors on
wk001). Checked: the topics exist with one replica each, every injected fraud is alerted exactly once in
parquet and on the alerts topic and no clean payment is, a second `--phase streaming` run changes nothing, and a
tarball that does not match kafka_release_sha512 is refused.
tests/test_kafka_lab.py runs the three-broker quorum, the driver restart and the broker stop (marked long).
"""

import re
import subprocess
import time

import pytest

from clusterboot.lab import lab
from kafka_support import (PROJECT, alert_keys_on_topic, alerted_ids, answer, bootstrap, broker_tool,
                           changed_total, generate_payments, kafka_lab, local_spark_session)

pytestmark = pytest.mark.lab

BROKER = "10.222.1.11:9092"
ROWS = 4000


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="kafkaci", subnet="10.222.1.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    with kafka_lab(cfg, nodes=2, brokers=["cp01"], release_from=tmp_path_factory.mktemp("mirror")) as first:
        yield cfg, first


def test_broker_up_and_topics_created(small_lab):
    cfg, first = small_lab
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    described = broker_tool(f"{cfg.name}-cp01", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKER,
                            "--describe")
    for topic in ("transactions", "fraud-alerts"):
        assert f"Topic: {topic}\tTopicId" in described
    # The broker runs from the unpacked release, not from jars copied by the controller.
    unit = docker_exec(cfg, "systemctl", "cat", "kafka")
    assert re.search(r'-cp "/opt/kafka/kafka_2\.13-[0-9.]+/libs/\*"', unit), unit
    assert described.count("PartitionCount: 3\tReplicationFactor: 1") == 2, described


def test_every_fraud_alerted_exactly_once_and_no_clean_payment(small_lab):
    cfg, _ = small_lab
    payments = generate_payments(cfg, cfg.shared_data_dir / "payments", ROWS, BROKER, "--fraud-rate", "0.02")
    alerts, checkpoint = cfg.shared_data_dir / "alerts", cfg.shared_data_dir / "checkpoints" / "alerts"
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--",
                    "--bootstrap-servers", BROKER, "--alerts-path", str(alerts), "--checkpoint", str(checkpoint),
                    "--available-now")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    with local_spark_session() as spark:
        frauds, rows = answer(spark, payments)
        assert rows == ROWS and 40 < len(frauds) < 130, (rows, len(frauds))
        assert sorted(alerted_ids(spark, alerts)) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(f"{cfg.name}-cp01", BROKER, "fraud-alerts") == frauds


def test_second_run_changes_nothing(small_lab):
    cfg, _ = small_lab
    again = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed_total(again) == 0, again.stdout[-4000:]


def test_a_release_that_does_not_match_its_checksum_is_refused(small_lab):
    """The tarball served is the same; the inventory's sha512 is not its own: get_url refuses the download and
    keeps the file already checked, and the broker runs on."""
    cfg, _ = small_lab
    settings = cfg.inventory_dir / "group_vars" / "kafka.yml"
    right = settings.read_text()
    settings.write_text(re.sub(r"kafka_release_sha512: \w+", "kafka_release_sha512: '" + "f" * 128 + "'", right))
    before = docker_exec(cfg, "bash", "-c", "sha512sum /opt/kafka/*.tgz")
    try:
        refused = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    finally:
        settings.write_text(right)  # the lab as the other tests expect it
    assert refused.returncode == 1, refused.stdout[-4000:]
    failing = next(line for line in refused.stdout.splitlines() if line.startswith("cp01 "))
    assert "Download the Kafka release" in failing and "checksum" in failing.lower(), failing
    assert docker_exec(cfg, "bash", "-c", "sha512sum /opt/kafka/*.tgz") == before
    assert docker_exec(cfg, "systemctl", "is-active", "kafka").strip() == "active"


def test_a_log_folder_that_lost_its_format_is_refused_not_formatted(small_lab):
    """As if the broker's data disk were not mounted: its folder is empty. The broker does not start on it and
    nothing formats it (a new voter with empty metadata); a run stops and names the folder. Put back, the
    broker runs on its old data."""
    cfg, _ = small_lab
    docker_exec(cfg, "systemctl", "stop", "kafka")
    docker_exec(cfg, "mv", "/var/lib/kafka/data", "/var/lib/kafka/data.mounted")
    docker_exec(cfg, "install", "-d", "-o", "kafka", "-g", "kafka", "-m", "0750", "/var/lib/kafka/data")
    try:
        docker_exec(cfg, "systemctl", "start", "kafka")
        time.sleep(20)  # Restart=on-failure: several starts come and go meanwhile
        assert docker_exec(cfg, "ls", "-A", "/var/lib/kafka/data").strip() == ""
        assert docker_exec(cfg, "systemctl", "is-active", "kafka").strip() != "active" or \
            "meta.properties" in docker_exec(cfg, "journalctl", "-u", "kafka", "--no-pager", "-n", "50")
        refused = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
        assert refused.returncode == 1, refused.stdout[-4000:]
        assert "/var/lib/kafka/data holds no meta.properties, but this broker formatted it before" in refused.stdout, \
            refused.stdout[-4000:]
        assert docker_exec(cfg, "ls", "-A", "/var/lib/kafka/data").strip() == ""
    finally:
        docker_exec(cfg, "systemctl", "stop", "kafka")
        docker_exec(cfg, "rm", "-rf", "/var/lib/kafka/data")
        docker_exec(cfg, "mv", "/var/lib/kafka/data.mounted", "/var/lib/kafka/data")
        docker_exec(cfg, "systemctl", "reset-failed", "kafka")
        docker_exec(cfg, "systemctl", "start", "kafka")
    back = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert back.returncode == 0, back.stdout[-4000:]
    assert "Topic: transactions" in broker_tool(f"{cfg.name}-cp01", "org.apache.kafka.tools.TopicCommand",
                                                "--bootstrap-server", BROKER, "--describe")


def docker_exec(cfg, *argv: str) -> str:
    return subprocess.run(["docker", "exec", f"{cfg.name}-cp01", *argv], capture_output=True, text=True,
                          check=False).stdout
