"""Kafka and fraud detection on the shared cluster (tests/shared_cluster.py): its three workers are the brokers
(Kafka 4, KRaft combined mode, jars from Maven Central through the kafka role), fraud_detection.py and the
data generator run on `k8s://` as driver and executor pods (the Kafka connector is in the Spark image).

Checked: the brokers form one quorum with three voters, the topics have three replicas, a second streaming run
changes nothing; every injected fraud is alerted exactly once in parquet and on the alerts topic and no clean
payment is; a driver pod deleted mid-stream and the job submitted again leaves each alert exactly once; a broker
stopped while payments stream in leaves the job running and the parquet sink with each fraud once.
tests/test_kafka_small_lab.py is the one-broker standalone run (the release tarball path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_support import alert_keys_on_topic, alerted_ids, answer, broker_tool, committed_batches, local_spark_session
from shared_cluster import BROKERS, PROJECT, SharedCluster

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

TOOL_NODE = "wk001"  # where the Kafka tools run: a broker the tests never stop
STOPPED_BROKER = "wk002"  # a KRaft voter and a partition leader


def changed_total(run: subprocess.CompletedProcess) -> int:
    line = next(line for line in run.stdout.splitlines() if line.startswith("totals:"))
    return int(line.split("changed=")[1].split()[0])


def start(cluster: SharedCluster, *args: str) -> subprocess.Popen:
    """`bootstrap.py submit` in its own session, left running (a streaming job)."""
    return subprocess.Popen([sys.executable, "bootstrap.py", "submit", "--inventory", str(cluster.inventory), *args],
                            cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(cluster: SharedCluster, proc: subprocess.Popen | None, driver_prefix: str) -> None:
    """A submit left running, and its driver pod (spark-submit's exit does not stop a job in cluster mode)."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    cluster.delete_spark_drivers(driver_prefix)


def generate_payments(cluster: SharedCluster, out: Path, rows: int, *extra: str) -> Path:
    """Payments written to Kafka by the generator's pods, and the answer key (is_fraud) as parquet in out."""
    run = cluster.submit("data_generator", "--", "transactions", str(out), "--rows", str(rows), "--kafka-bootstrap",
                         BROKERS, *extra)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def local_spark() -> Iterator:
    with local_spark_session() as session:
        yield session


def test_brokers_form_one_quorum_and_topics_have_three_replicas(shared_cluster: SharedCluster) -> None:
    tool_node = shared_cluster.container(TOOL_NODE)
    status = broker_tool(tool_node, "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", BROKERS,
                         "describe", "--status")
    voters = json.loads(next(line for line in status.splitlines() if line.startswith("CurrentVoters:"))
                        .split(":", 1)[1])
    assert sorted(v["id"] for v in voters) == [1, 2, 3]
    described = broker_tool(tool_node, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKERS,
                            "--describe")
    topics = ("transactions", "fraud-alerts", "payments-restart", "alerts-restart", "payments-failover",
              "alerts-failover")
    for topic in topics:
        assert f"Topic: {topic}\tTopicId" in described
    assert described.count("PartitionCount: 3\tReplicationFactor: 3") == len(topics), described


def test_a_second_streaming_run_changes_nothing(shared_cluster: SharedCluster) -> None:
    again = shared_cluster.bootstrap("--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed_total(again) == 0, again.stdout[-4000:]


def test_every_fraud_alerted_exactly_once_and_no_clean_payment(shared_cluster: SharedCluster, local_spark) -> None:
    """Payments written by data_generator's pods, scored by fraud_detection's driver and executor pods until the
    topic is drained (--available-now)."""
    cluster = shared_cluster
    payments = generate_payments(cluster, cluster.data / "payments", 3000, "--fraud-rate", "0.02")
    alerts = cluster.data / "alerts"
    detect = cluster.submit("fraud_detection", "--", "--bootstrap-servers", BROKERS, "--alerts-path", str(alerts),
                            "--checkpoint", str(cluster.data / "checkpoints" / "alerts"), "--available-now")
    assert detect.returncode == 0, detect.stdout[-3000:] + detect.stderr[-3000:]
    assert "job fraud_detection: exit 0" in detect.stdout, detect.stdout[-3000:]
    frauds, rows = answer(local_spark, payments)
    assert rows == 3000 and 25 < len(frauds) < 100, (rows, len(frauds))
    assert sorted(alerted_ids(local_spark, alerts)) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(cluster.container(TOOL_NODE), BROKERS, "fraud-alerts") == frauds


def test_driver_pod_lost_mid_stream_then_resubmitted_alerts_each_fraud_once(shared_cluster: SharedCluster,
                                                                            local_spark) -> None:
    """The job's driver pod deleted after a few committed batches (its executors go with it); the same job
    submitted again resumes from its checkpoint on the shared volume and drains the topic."""
    cluster = shared_cluster
    rows, per_trigger = 6000, 500
    payments = generate_payments(cluster, cluster.data / "payments-restart", rows, "--fraud-rate", "0.02",
                                 "--kafka-topic", "payments-restart")
    alerts = cluster.data / "alerts-restart"
    args = ["fraud_detection", "--", "--bootstrap-servers", BROKERS, "--transactions-topic", "payments-restart",
            "--alerts-topic", "alerts-restart", "--alerts-path", str(alerts), "--checkpoint",
            str(cluster.data / "checkpoints" / "restart"), "--max-offsets-per-trigger", str(per_trigger),
            "--trigger-seconds", "2"]
    job = start(cluster, *args)
    try:
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < 3 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(1)
        assert committed_batches(alerts) >= 3, f"only {committed_batches(alerts)} batches (submit rc {job.poll()})"
    finally:
        stop(cluster, job, "fraud-detection-")
    assert committed_batches(alerts) < rows // per_trigger, "the stream had already finished: nothing was cut"
    rerun = cluster.submit(*args, "--available-now")
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-2000:]
    frauds, _ = answer(local_spark, payments)
    assert sorted(alerted_ids(local_spark, alerts)) == sorted(frauds)


def test_broker_stopped_mid_stream_job_keeps_going_each_fraud_once(shared_cluster: SharedCluster,
                                                                   local_spark) -> None:
    """wk002's broker stopped with systemctl while the generator writes payments and the job reads them; it
    comes back only after the checks."""
    cluster = shared_cluster
    alerts, answer_key = cluster.data / "alerts-failover", cluster.data / "payments-failover"
    rows, rate = 12000, 150  # 80 s of payments: the stop comes while they stream in
    # The job reads the topic from its start: it and the generator start together.
    job = start(cluster, "fraud_detection", "--", "--bootstrap-servers", BROKERS, "--transactions-topic",
                "payments-failover", "--alerts-topic", "alerts-failover", "--alerts-path", str(alerts),
                "--checkpoint", str(cluster.data / "checkpoints" / "failover"), "--trigger-seconds", "2")
    generator = start(cluster, "data_generator", "--", "transactions", str(answer_key), "--rows", str(rows),
                      "--rate", str(rate), "--fraud-rate", "0.02", "--kafka-bootstrap", BROKERS,
                      "--kafka-topic", "payments-failover")
    try:
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < 2 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(1)
        at_stop = committed_batches(alerts)
        assert at_stop >= 2 and generator.poll() is None, (at_stop, generator.poll(), job.poll())
        subprocess.run(["docker", "exec", cluster.container(STOPPED_BROKER), "systemctl", "stop", "kafka"],
                       check=True, timeout=180)
        stopped_at = time.monotonic()
        assert generator.wait(timeout=900) == 0, "the generator failed with a broker down"
        frauds, produced = answer(local_spark, answer_key)
        assert produced == rows and 150 < len(frauds) < 340, (produced, len(frauds))
        deadline = time.monotonic() + 600
        while set(alerted_ids(local_spark, alerts)) != frauds and time.monotonic() < deadline:
            assert job.poll() is None, f"the job ended with a broker down (rc {job.returncode})"
            time.sleep(10)
        assert job.poll() is None, f"the job ended with a broker down (rc {job.returncode})"
        after_stop = committed_batches(alerts)
        caught_up = time.monotonic() - stopped_at
    finally:
        stop(cluster, generator, "data-generator-")
        stop(cluster, job, "fraud-detection-")
        subprocess.run(["docker", "exec", cluster.container(STOPPED_BROKER), "systemctl", "start", "kafka"],
                       check=False, timeout=180)
    alerted = alerted_ids(local_spark, alerts)
    print(f"broker stop: {at_stop} batches committed before {STOPPED_BROKER}'s broker stopped, {after_stop} when "
          f"every fraud was in; {len(frauds)} frauds in {rows} payments, {len(alerted)} parquet alerts; "
          f"all in {caught_up:.0f} s after the stop")
    assert after_stop > at_stop
    assert sorted(alerted) == sorted(frauds)
