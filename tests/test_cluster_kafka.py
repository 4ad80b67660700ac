"""Kafka and fraud detection on the shared cluster (tests/shared_cluster.py): its three workers are the brokers
(Kafka 4, KRaft combined mode, jars from Maven Central through the kafka role), fraud_detection.py and the
data generator run on `k8s://` as driver and executor pods (the Kafka connector is in the Spark image).

Checked: the brokers form one quorum with three voters, the topics have three replicas, a second streaming run
changes nothing. Then one stream through two faults, as they come in production: payments stream in while the
job runs, a broker (a voter and a partition leader) is stopped and the job keeps committing, then the job's
driver pod is lost mid-stream and the job is submitted again; at the end every injected fraud is alerted exactly
once in parquet and on the alerts topic, and no clean payment is.
tests/test_kafka_small_lab.py is the one-broker standalone run (the release tarball path).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from kafka_support import alert_keys_on_topic, alerted_ids, answer, broker_tool, committed_batches, local_spark_session
from shared_cluster import BROKERS, PROJECT, SharedCluster, totals

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

TOOL_NODE = "wk001"  # where the Kafka tools run: a broker the tests never stop
STOPPED_BROKER = "wk002"  # a KRaft voter and a partition leader
STREAM_TOPICS = ("transactions", "fraud-alerts")  # the kafka role's default topics


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


@pytest.fixture(scope="module")
def local_spark() -> Iterator:
    with local_spark_session() as session:
        yield session


@pytest.fixture
def empty_stream(shared_cluster: SharedCluster) -> SharedCluster:
    """The stream's topics empty and its folders absent, as on a new cluster: a lab kept between sessions
    (CLUSTERBOOT_KEEP_SHARED_LAB) holds the last run's payments, alerts and checkpoints, which a job would read
    from the topic's start or resume from. Emptied topics are made again by the streaming phase (the kafka
    role creates the missing ones)."""
    cluster = shared_cluster
    for folder in ("alerts", "payments", "checkpoints"):
        shutil.rmtree(cluster.data / folder, ignore_errors=True)
    tool_node = cluster.container(TOOL_NODE)
    ends = broker_tool(tool_node, "org.apache.kafka.tools.GetOffsetShell", "--bootstrap-server", BROKERS,
                       "--topic", "|".join(STREAM_TOPICS))
    if any(int(line.rsplit(":", 1)[1]) > 0 for line in ends.splitlines() if line.count(":") == 2):
        for topic in STREAM_TOPICS:
            broker_tool(tool_node, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKERS, "--delete",
                        "--topic", topic)
        again = cluster.bootstrap("--phase", "streaming")
        assert again.returncode == 0, again.stdout[-4000:]
    return cluster


def test_brokers_form_one_quorum_and_topics_have_three_replicas(shared_cluster: SharedCluster) -> None:
    tool_node = shared_cluster.container(TOOL_NODE)
    status = broker_tool(tool_node, "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", BROKERS,
                         "describe", "--status")
    voters = json.loads(next(line for line in status.splitlines() if line.startswith("CurrentVoters:"))
                        .split(":", 1)[1])
    assert sorted(v["id"] for v in voters) == [1, 2, 3]
    described = broker_tool(tool_node, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKERS,
                            "--describe")
    for topic in STREAM_TOPICS:
        assert f"Topic: {topic}\tTopicId" in described
    assert described.count("PartitionCount: 3\tReplicationFactor: 3") == len(STREAM_TOPICS), described


def test_a_second_streaming_run_changes_nothing(shared_cluster: SharedCluster) -> None:
    again = shared_cluster.bootstrap("--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert totals(again.stdout)["changed"] == 0, again.stdout[-4000:]


def test_a_stream_through_a_broker_stop_and_a_lost_driver_alerts_each_fraud_once(empty_stream: SharedCluster,
                                                                                  local_spark) -> None:
    """fraud_detection on `k8s://` reads the topic from its start while data_generator's pods write 12,000
    payments at 150/s. After two committed batches wk002's broker stops (with systemctl); the job keeps
    committing and the generator finishes. Then the driver pod is deleted (its executors go with it) with payments
    still unread, and the same job is submitted again with --available-now: it resumes from its checkpoint on
    the shared volume. wk002's broker comes back only after the checks."""
    cluster = empty_stream
    alerts, answer_key = cluster.data / "alerts", cluster.data / "payments"
    rows, rate, per_trigger = 12000, 150, 300  # 80 s of payments, at least 40 batches to read them
    job_args = ["fraud_detection", "--", "--bootstrap-servers", BROKERS, "--alerts-path", str(alerts), "--checkpoint",
                str(cluster.data / "checkpoints" / "alerts"), "--max-offsets-per-trigger", str(per_trigger)]
    job = start(cluster, *job_args, "--trigger-seconds", "2")
    generator = start(cluster, "data_generator", "--", "transactions", str(answer_key), "--rows", str(rows),
                      "--rate", str(rate), "--fraud-rate", "0.02", "--kafka-bootstrap", BROKERS)
    try:
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < 2 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(1)
        at_stop = committed_batches(alerts)
        assert at_stop >= 2 and generator.poll() is None, (at_stop, generator.poll(), job.poll())
        subprocess.run(["docker", "exec", cluster.container(STOPPED_BROKER), "systemctl", "stop", "kafka"],
                       check=True, timeout=180)
        deadline = time.monotonic() + 600
        while committed_batches(alerts) < at_stop + 3 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(1)
        assert job.poll() is None, f"the job ended with a broker down (rc {job.returncode})"
        after_stop = committed_batches(alerts)
        assert after_stop >= at_stop + 3, f"{after_stop - at_stop} batches committed with a broker down"
        stop(cluster, job, "fraud-detection-")  # the driver lost mid-stream
        lost_at = committed_batches(alerts)
        assert generator.wait(timeout=900) == 0, "the generator failed with a broker down"
        assert lost_at < rows // per_trigger, "the stream had already finished: nothing was cut"
        again = cluster.submit(*job_args, "--available-now")
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
        assert "job fraud_detection: exit 0" in again.stdout, again.stdout[-3000:]
    finally:
        stop(cluster, generator, "data-generator-")
        stop(cluster, job, "fraud-detection-")
        subprocess.run(["docker", "exec", cluster.container(STOPPED_BROKER), "systemctl", "start", "kafka"],
                       check=False, timeout=180)
    frauds, produced = answer(local_spark, answer_key)
    assert produced == rows and 150 < len(frauds) < 340, (produced, len(frauds))
    alerted = alerted_ids(local_spark, alerts)
    print(f"stream: {at_stop} batches before wk002's broker stopped, {after_stop} with it down, driver lost at "
          f"{lost_at}, {committed_batches(alerts)} after the resubmit; {len(frauds)} frauds in {rows} payments, "
          f"{len(alerted)} parquet alerts")
    assert sorted(alerted) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(cluster.container(TOOL_NODE), BROKERS, "fraud-alerts") == frauds
