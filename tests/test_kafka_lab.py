"""Kafka and fraud detection end to end on a 3-node lab (cp01, wk001, wk002; all three are brokers).

Real: three Kafka 4 brokers in KRaft combined mode from Maven Central's jars (the kafka role), Spark standalone
with the Kafka connector installed at build time, payments written to Kafka by `bootstrap.py submit
data_generator`, and fraud_detection.py reading them through `bootstrap.py submit` (driver on this machine,
executors on the workers). Checked: the brokers form one quorum, the topics exist, a second run changes nothing;
every injected fraud is alerted exactly once in parquet (and at least once on the alerts topic) and no clean
payment is; a driver killed mid-stream and submitted again leaves each alert exactly once in parquet.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clusterboot.artifacts.build import default_cache
from clusterboot.lab import lab

# 21 min here at load 40-100: not in ./dev test (CI's 90-minute budget); `pytest -m long`.
pytestmark = [pytest.mark.lab, pytest.mark.long]

PROJECT = Path(__file__).resolve().parent.parent
BROKERS = "10.222.0.11:9092,10.222.0.12:9092,10.222.0.13:9092"
ROWS = 20000


def bootstrap(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def add_kafka_group(inventory: Path) -> None:
    """Every node is a broker; a smaller heap, since the lab's nodes share one machine."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    children = hosts["all"]["children"]
    nodes = [*children["control_plane"]["hosts"], *children["workers"]["hosts"]]
    children["kafka"] = {"hosts": {node: None for node in nodes}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    with (inventory / "group_vars" / "all.yml").open("a") as group_vars:
        group_vars.write("kafka_heap_size: 384m\n")


def changed_total(run: subprocess.CompletedProcess) -> int:
    line = next(line for line in run.stdout.splitlines() if line.startswith("totals:"))
    return int(line.split("changed=")[1].split()[0])


@pytest.fixture(scope="module")
def kafka_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="kafkalab", subnet="10.222.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    try:
        lab.up(cfg, nodes=3, control_planes=1, spark_manager="standalone", log=lambda _: None)
        add_kafka_group(cfg.inventory_dir)
        spark = bootstrap("--inventory", str(cfg.inventory_dir), "--role", "spark_standalone")
        assert spark.returncode == 0, spark.stdout[-4000:] + spark.stderr[-2000:]
        first = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
        yield cfg, first
    finally:
        lab.down(cfg, log=lambda _: None)


def broker_tool(*args: str) -> str:
    """A Kafka admin tool run on a broker with the jars the role installed."""
    script = ('L=$(ls -d /opt/kafka/*/libs | head -1); exec java -cp "$L/*" '
              '-Dlog4j2.configurationFile=/etc/kafka/log4j2-tools.yaml "$@"')
    proc = subprocess.run(["docker", "exec", "kafkalab-wk001", "bash", "-c", script, "tool", *args],
                          capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


def test_brokers_form_one_quorum_and_topics_exist(kafka_lab):
    _, first = kafka_lab
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    status = broker_tool("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", BROKERS,
                         "describe", "--status")
    voters = json.loads(next(line for line in status.splitlines() if line.startswith("CurrentVoters:"))
                        .split(":", 1)[1])
    assert sorted(v["id"] for v in voters) == [1, 2, 3]
    described = broker_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKERS, "--describe")
    for topic in ("transactions", "fraud-alerts"):
        assert f"Topic: {topic}\tTopicId" in described and "PartitionCount: 3\tReplicationFactor: 3" in described


def test_second_run_changes_nothing(kafka_lab):
    cfg, _ = kafka_lab
    again = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed_total(again) == 0, again.stdout[-4000:]


@pytest.fixture(scope="module")
def payments(kafka_lab):
    """ROWS payments in the topic, and the answer key (is_fraud) on the shared folder."""
    cfg, _ = kafka_lab
    out = cfg.shared_data_dir / "payments"
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--", "transactions",
                    str(out), "--rows", str(ROWS), "--fraud-rate", "0.01", "--kafka-bootstrap", BROKERS)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def local_spark():
    """Reads the results here: the file sink's own log decides which parquet files count, as for any reader."""
    from pyspark.sql import SparkSession

    jars = sorted(glob.glob(str(default_cache() / "artifacts" / "spark-kafka-*" / "libs" / "*.jar")))
    session = (SparkSession.builder.master("local[1]").appName("kafka-lab-checks").config("spark.jars", ",".join(jars))
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def answer(spark, payments_dir: Path) -> tuple[set[str], int]:
    key = spark.read.parquet(str(payments_dir))
    frauds = {r.transaction_id for r in key.where("is_fraud").select("transaction_id").collect()}
    return frauds, key.count()


def test_every_fraud_alerted_exactly_once_and_no_clean_payment(kafka_lab, payments, local_spark):
    cfg, _ = kafka_lab
    alerts, checkpoint = cfg.shared_data_dir / "alerts", cfg.shared_data_dir / "checkpoints" / "alerts"
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--",
                    "--bootstrap-servers", BROKERS, "--alerts-path", str(alerts), "--checkpoint", str(checkpoint),
                    "--available-now")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    frauds, rows = answer(local_spark, payments)
    assert rows == ROWS and 150 < len(frauds) < 260
    alerted = [r.transaction_id for r in local_spark.read.parquet(str(alerts)).select("transaction_id").collect()]
    assert sorted(alerted) == sorted(frauds)  # each fraud once, nothing else
    on_topic = {r.key for r in local_spark.read.format("kafka").option("kafka.bootstrap.servers", BROKERS)
                .option("subscribe", "fraud-alerts").load().selectExpr("CAST(key AS STRING) AS key").collect()}
    assert on_topic == frauds


def committed_batches(alerts: Path) -> int:
    log = alerts / "_spark_metadata"
    return len([f for f in log.glob("*") if f.name.isdigit()]) if log.exists() else 0


def test_driver_killed_mid_stream_then_resubmitted_alerts_each_fraud_once(kafka_lab, payments, local_spark):
    cfg, _ = kafka_lab
    alerts, checkpoint = cfg.shared_data_dir / "alerts-restart", cfg.shared_data_dir / "checkpoints" / "restart"
    args = ["submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--", "--bootstrap-servers", BROKERS,
            "--alerts-path", str(alerts), "--checkpoint", str(checkpoint), "--max-offsets-per-trigger", "1500",
            "--trigger-seconds", "2"]
    driver = subprocess.Popen([sys.executable, "bootstrap.py", *args], cwd=PROJECT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < 3 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(1)
        before = committed_batches(alerts)
        assert before >= 3, f"only {before} batches committed before the deadline (driver rc {driver.poll()})"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver JVM too: it is in the submitter's session
        driver.wait()
    assert committed_batches(alerts) < ROWS // 1500, "the stream had already finished: nothing was cut"
    rerun = bootstrap("submit", *args[1:], "--available-now")
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-2000:]
    frauds, _ = answer(local_spark, payments)
    alerted = [r.transaction_id for r in local_spark.read.parquet(str(alerts)).select("transaction_id").collect()]
    assert sorted(alerted) == sorted(frauds)
