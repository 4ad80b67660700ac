"""Kafka and fraud detection end to end on a 3-node lab (cp01, wk001, wk002; all three are brokers).

Real: three Kafka 4 brokers in KRaft combined mode from Maven Central's jars (the kafka role), Spark standalone
with the Kafka connector installed at build time, payments written to Kafka by `bootstrap.py submit
data_generator`, and fraud_detection.py reading them through `bootstrap.py submit` (driver on this machine,
executors on the workers). Checked: the brokers form one quorum, the topics exist, a second run changes nothing;
every injected fraud is alerted exactly once in parquet (and at least once on the alerts topic) and no clean
payment is; a driver killed mid-stream and submitted again leaves each alert exactly once in parquet; a broker
stopped while payments stream in leaves the job running and the parquet sink with each fraud once.
tests/test_kafka_small_lab.py is the one-broker run CI does.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from clusterboot.lab import lab
from kafka_support import (PROJECT, alert_keys_on_topic, alerted_ids, answer, bootstrap, broker_tool,
                           changed_total, committed_batches, generate_payments, kafka_lab, local_spark_session)

# 25-30 min here at load 10-100: not in ./dev test (CI's 90-minute budget); `pytest -m long`.
pytestmark = [pytest.mark.lab, pytest.mark.long]

BROKERS = "10.222.0.11:9092,10.222.0.12:9092,10.222.0.13:9092"
# Where the Kafka tools run: a broker the tests never stop.
TOOL_NODE = "kafkalab-wk001"
ROWS = 20000
# The broker-stop test's own topics, so its answer key is only its own payments.
TOPICS = """kafka_topics:
  - {name: transactions, partitions: 3}
  - {name: fraud-alerts, partitions: 3}
  - {name: payments-failover, partitions: 3}
  - {name: alerts-failover, partitions: 3}
"""


@pytest.fixture(scope="module")
def three_brokers(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="kafkalab", subnet="10.222.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    with kafka_lab(cfg, nodes=3, brokers=["cp01", "wk001", "wk002"], extra_vars=TOPICS) as first:
        yield cfg, first


def test_brokers_form_one_quorum_and_topics_exist(three_brokers):
    _, first = three_brokers
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    status = broker_tool(TOOL_NODE, "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", BROKERS,
                         "describe", "--status")
    voters = json.loads(next(line for line in status.splitlines() if line.startswith("CurrentVoters:"))
                        .split(":", 1)[1])
    assert sorted(v["id"] for v in voters) == [1, 2, 3]
    described = broker_tool(TOOL_NODE, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKERS,
                            "--describe")
    for topic in ("transactions", "fraud-alerts", "payments-failover", "alerts-failover"):
        assert f"Topic: {topic}\tTopicId" in described
    assert described.count("PartitionCount: 3\tReplicationFactor: 3") == 4, described


def test_second_run_changes_nothing(three_brokers):
    cfg, _ = three_brokers
    again = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed_total(again) == 0, again.stdout[-4000:]


@pytest.fixture(scope="module")
def payments(three_brokers):
    """ROWS payments in the topic, and the answer key (is_fraud) on the shared folder."""
    cfg, _ = three_brokers
    return generate_payments(cfg, cfg.shared_data_dir / "payments", ROWS, BROKERS, "--fraud-rate", "0.01")


@pytest.fixture(scope="module")
def local_spark():
    with local_spark_session() as session:
        yield session


def test_every_fraud_alerted_exactly_once_and_no_clean_payment(three_brokers, payments, local_spark):
    cfg, _ = three_brokers
    alerts, checkpoint = cfg.shared_data_dir / "alerts", cfg.shared_data_dir / "checkpoints" / "alerts"
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--",
                    "--bootstrap-servers", BROKERS, "--alerts-path", str(alerts), "--checkpoint", str(checkpoint),
                    "--available-now")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    frauds, rows = answer(local_spark, payments)
    assert rows == ROWS and 150 < len(frauds) < 260
    assert sorted(alerted_ids(local_spark, alerts)) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(TOOL_NODE, BROKERS, "fraud-alerts") == frauds


def start(args: list[str]) -> subprocess.Popen:
    """A bootstrap.py run in its own session, so a kill reaches the JVMs it starts."""
    return subprocess.Popen([sys.executable, "bootstrap.py", *args], cwd=PROJECT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def test_driver_killed_mid_stream_then_resubmitted_alerts_each_fraud_once(three_brokers, payments, local_spark):
    cfg, _ = three_brokers
    alerts, checkpoint = cfg.shared_data_dir / "alerts-restart", cfg.shared_data_dir / "checkpoints" / "restart"
    args = ["submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--", "--bootstrap-servers", BROKERS,
            "--alerts-path", str(alerts), "--checkpoint", str(checkpoint), "--max-offsets-per-trigger", "1500",
            "--trigger-seconds", "2"]
    driver = start(args)
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
    assert sorted(alerted_ids(local_spark, alerts)) == sorted(frauds)


def test_broker_stopped_mid_stream_job_keeps_going_each_fraud_once(three_brokers, local_spark):
    """wk002's broker (a KRaft voter and a partition leader) stopped with systemctl while the generator writes
    payments and the job reads them; it comes back only after the checks."""
    cfg, _ = three_brokers
    alerts, checkpoint = cfg.shared_data_dir / "alerts-failover", cfg.shared_data_dir / "checkpoints" / "failover"
    answer_key = cfg.shared_data_dir / "payments-failover"
    rows, rate = 8000, 200
    job = start(["submit", "--inventory", str(cfg.inventory_dir), "--conf", "spark.cores.max=2", "fraud_detection",
                 "--", "--bootstrap-servers", BROKERS, "--transactions-topic", "payments-failover",
                 "--alerts-topic", "alerts-failover", "--alerts-path", str(alerts), "--checkpoint", str(checkpoint),
                 "--trigger-seconds", "2"])
    generator = None
    try:
        time.sleep(45)  # the job's driver and executors up and subscribed before the first payment
        assert job.poll() is None, f"the job ended before any payment (rc {job.returncode})"
        generator = start(["submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--", "transactions",
                           str(answer_key), "--rows", str(rows), "--rate", str(rate), "--fraud-rate", "0.02",
                           "--kafka-bootstrap", BROKERS, "--kafka-topic", "payments-failover"])
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < 2 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(1)
        at_stop = committed_batches(alerts)
        assert at_stop >= 2 and generator.poll() is None, (at_stop, generator.poll(), job.poll())
        subprocess.run(["docker", "exec", "kafkalab-wk002", "systemctl", "stop", "kafka"], check=True, timeout=180)
        stopped_at = time.monotonic()
        assert generator.wait(timeout=900) == 0, "the generator failed with a broker down"
        frauds, produced = answer(local_spark, answer_key)
        assert produced == rows and 100 < len(frauds) < 230, (produced, len(frauds))
        deadline = time.monotonic() + 600
        while set(alerted_ids(local_spark, alerts)) != frauds and time.monotonic() < deadline:
            assert job.poll() is None, f"the job ended with a broker down (rc {job.returncode})"
            time.sleep(10)
        assert job.poll() is None, f"the job ended with a broker down (rc {job.returncode})"
        after_stop = committed_batches(alerts)
        caught_up = time.monotonic() - stopped_at
    finally:
        for proc in (job, generator):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        subprocess.run(["docker", "exec", "kafkalab-wk002", "systemctl", "start", "kafka"], check=False, timeout=180)
    alerted = alerted_ids(local_spark, alerts)
    print(f"broker stop: {at_stop} batches committed before wk002's broker stopped, {after_stop} when every "
          f"fraud was in; {len(frauds)} frauds in {rows} payments, {len(alerted)} parquet alerts; "
          f"all in {caught_up:.0f} s after the stop")
    assert after_stop > at_stop
    assert sorted(alerted) == sorted(frauds)
