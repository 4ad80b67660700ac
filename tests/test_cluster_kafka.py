"""Kafka and fraud detection on the shared cluster (tests/shared_cluster.py): its three workers are the brokers
(Kafka 4, KRaft combined mode, jars from Maven Central through the kafka role), fraud_detection.py and the
data generator run on `k8s://` as driver and executor pods (the Kafka connector is in the Spark image).

Checked: the brokers form one quorum with three voters, the topics have three replicas, kubelet keeps each
broker's memory from pods, a changed config restarts the brokers one at a time, a second streaming run with the
kafka group reordered changes nothing and one that drops a voter is refused. Then one stream through two faults, as they come in production: payments stream in while the
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
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kafka_support import alert_keys_on_topic, alerted_ids, answer, broker_tool, committed_batches, local_spark_session
from shared_cluster import ADDRESSES, BROKERS, PROJECT, WORKERS, SharedCluster, totals

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


def test_kubelet_keeps_each_brokers_heap_and_page_cache_from_pods(shared_cluster: SharedCluster) -> None:
    """The running kubelets' own configuration (configz): every node reserves the cluster's kubeReserved and
    systemReserved; a broker's systemReserved also holds its heap (384m in this lab) and page-cache reserve (1g),
    and pods are offered exactly that much less of the same machine's memory."""
    def configz(node: str) -> dict:
        return json.loads(shared_cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/configz"))["kubeletconfig"]

    def allocatable_mib(node: str) -> float:
        memory = shared_cluster.json("get", "node", node)["status"]["allocatable"]["memory"]
        assert memory.endswith("Ki"), memory
        return int(memory[:-2]) / 1024

    broker, control_plane = configz(TOOL_NODE), configz("cp01")
    assert control_plane["kubeReserved"] == broker["kubeReserved"] == {"cpu": "100m", "memory": "256Mi"}
    assert control_plane["systemReserved"] == {"cpu": "100m", "memory": "512Mi"}
    assert broker["systemReserved"] == {"cpu": "100m", "memory": "1920Mi"}  # 512Mi + 384m + 1g
    # The lab's nodes are containers on one machine: the same capacity, so the difference is the broker's.
    assert allocatable_mib("cp01") - allocatable_mib(TOOL_NODE) == 1920 - 512


def broker_started_at(cluster: SharedCluster, node: str) -> str:
    shown = cluster.node_exec(node, "systemctl", "show", "kafka", "-p", "ActiveEnterTimestampMonotonic", "--value")
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_a_config_change_restarts_the_brokers_one_at_a_time(shared_cluster: SharedCluster) -> None:
    """Every broker's server.properties is newer than the running broker (as after a changed setting). One
    streaming run restarts all three, and a poller connecting to each broker's client port (the lab's containers)
    four times a second never sees two down at once: each restarted broker answers, and no partition is
    under-replicated, before the next one stops."""
    cluster = shared_cluster
    before = {node: broker_started_at(cluster, node) for node in WORKERS}
    for node in WORKERS:
        assert cluster.node_exec(node, "touch", "/etc/kafka/server.properties").returncode == 0
    down_at_once: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            down = 0
            for node in WORKERS:
                try:
                    socket.create_connection((ADDRESSES[node], 9092), timeout=0.5).close()
                except OSError:
                    down += 1
            down_at_once.append(down)
            time.sleep(0.25)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        run = cluster.bootstrap("--phase", "streaming")
    finally:
        done.set()
        poller.join()
    assert run.returncode == 0, run.stdout[-4000:]
    assert all(broker_started_at(cluster, node) != before[node] for node in WORKERS), "a broker was not restarted"
    assert 1 in down_at_once, "the poller never saw a broker down: it proves nothing"
    assert max(down_at_once) == 1, f"{max(down_at_once)} brokers were down at once"
    under_replicated = broker_tool(cluster.container(TOOL_NODE), "org.apache.kafka.tools.TopicCommand",
                                   "--bootstrap-server", BROKERS, "--describe", "--under-replicated-partitions")
    assert under_replicated.strip() == "", under_replicated


def inventory_with_brokers(cluster: SharedCluster, folder: Path, brokers: list[str]) -> Path:
    """A copy of the cluster's inventory whose kafka group lists these brokers, in this order."""
    copy = folder / "inventory"
    shutil.copytree(cluster.inventory, copy)
    hosts = yaml.safe_load((copy / "hosts.yml").read_text())
    hosts["all"]["children"]["kafka"] = {"hosts": {node: None for node in brokers}}
    (copy / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return copy


def test_a_second_streaming_run_with_the_group_reordered_changes_nothing(shared_cluster: SharedCluster,
                                                                         tmp_path: Path) -> None:
    """A second streaming run, the kafka group listed backwards: every broker keeps its node id, so nothing
    changes and no broker restarts. Then a broker (a voter) left out of the group: the run stops before any
    broker is touched."""
    cluster = shared_cluster
    before = {node: broker_started_at(cluster, node) for node in WORKERS}
    reordered = cluster.bootstrap("--phase", "streaming",
                                  inventory=inventory_with_brokers(cluster, tmp_path / "reordered", WORKERS[::-1]))
    assert reordered.returncode == 0, reordered.stdout[-4000:]
    assert totals(reordered.stdout)["changed"] == 0, reordered.stdout[-4000:]
    assert {node: broker_started_at(cluster, node) for node in WORKERS} == before
    shrunk = cluster.bootstrap("--phase", "streaming",
                               inventory=inventory_with_brokers(cluster, tmp_path / "shrunk", WORKERS[:2]))
    assert shrunk.returncode != 0
    assert "a static KRaft quorum cannot add or lose a voter" in shrunk.stdout, shrunk.stdout[-4000:]
    assert totals(shrunk.stdout)["changed"] == 0, shrunk.stdout[-4000:]
    assert {node: broker_started_at(cluster, node) for node in WORKERS} == before


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
