"""What the Kafka lab tests share: bringing a lab up with a kafka group, bootstrap runs, and the answer checks.

Not a test module: test_standalone_lab.py (one broker from a release tarball, standalone Spark),
shared_cluster.py and test_cluster_kafka.py (three brokers, Spark on Kubernetes) import it.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from clusterboot.artifacts import maven
from clusterboot.artifacts.build import default_cache
from clusterboot.lab import lab
from clusterboot.settings import role_setting

PROJECT = Path(__file__).resolve().parent.parent


def bootstrap(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def add_kafka_group(inventory: Path, brokers: list[str], extra_vars: str = "") -> None:
    """The brokers become group kafka, with their own group_vars (over the lab's group all): a smaller heap,
    since the lab's nodes share one machine, and extra_vars."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["kafka"] = {"hosts": {node: None for node in brokers}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (inventory / "group_vars" / "kafka.yml").write_text("kafka_heap_size: 384m\n" + extra_vars)


def release_shaped_tarball(folder: Path) -> tuple[Path, str]:
    """kafka_2.13-VERSION.tgz in Apache's layout (its top folder, then libs/), holding the jars the maven source
    assembles: Apache's download site is not reachable here, so this stands in for the file, not for the path
    (a real download over HTTP, its sha512 checked, unpacked on the broker). Returns the file and its sha512."""
    version = role_setting("kafka", "kafka_version", {})
    manifest, _ = maven.assemble(maven.kafka(version), default_cache())
    top = f"kafka_2.13-{version}"
    tarball = folder / f"{top}.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for jar in sorted(manifest["jars"]):
            archive.add(Path(manifest["folder"]) / "libs" / jar, arcname=f"{top}/libs/{jar}")
    return tarball, hashlib.sha512(tarball.read_bytes()).hexdigest()


@contextmanager
def http_server(folder: Path, address: str) -> Iterator[str]:
    """folder served read-only on address (the lab network's gateway on this machine); yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def generate_payments(cfg: lab.LabConfig, out: Path, rows: int, bootstrap_servers: str, *extra: str) -> Path:
    """Payments written to Kafka by the cluster, and the answer key (is_fraud) as parquet in out."""
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--", "transactions",
                    str(out), "--rows", str(rows), "--kafka-bootstrap", bootstrap_servers, *extra)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return out


@contextmanager
def local_spark_session():
    """Reads the parquet results here: the file sink's own log decides which files count, as for any reader.
    No Kafka in it: in one pytest process an earlier test may have started the JVM without the connector."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("kafka-lab-checks")
               .config("spark.ui.enabled", "false").getOrCreate())
    try:
        yield session
    finally:
        session.stop()


def answer(spark, payments_dir: Path) -> tuple[set[str], int]:
    """The injected frauds' ids and the number of payments, from the generator's answer key."""
    key = spark.read.parquet(str(payments_dir))
    frauds = {r.transaction_id for r in key.where("is_fraud").select("transaction_id").collect()}
    return frauds, key.count()


def alerted_ids(spark, alerts_dir: Path) -> list[str]:
    """Every alert's transaction id in the parquet sink, repeats kept."""
    return [r.transaction_id for r in spark.read.parquet(str(alerts_dir)).select("transaction_id").collect()]


def broker_tool(container: str, *args: str, timeout: int = 120) -> str:
    """A Kafka tool (a main class) run on a broker node with the jars the kafka role installed."""
    script = ('L=$(ls -d /opt/kafka/*/libs | head -1); exec java -cp "$L/*" '
              '-Dlog4j2.configurationFile=/etc/kafka/log4j2-tools.yaml "$@"')
    return subprocess.run(["docker", "exec", container, "bash", "-c", script, "tool", *args],
                          capture_output=True, text=True, timeout=timeout, check=True).stdout


def alert_keys_on_topic(container: str, bootstrap_servers: str, topic: str) -> set[str]:
    """The records' keys on the topic, read by Kafka's console consumer on a broker node. A set: Spark's
    Kafka sink is at-least-once, so a retried batch may write a key twice (the parquet sink may not)."""
    out = broker_tool(container, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                      bootstrap_servers, "--topic", topic, "--from-beginning", "--timeout-ms", "20000",
                      "--property", "print.key=true", "--property", "print.value=false",
                      timeout=300)
    return {line for line in out.splitlines() if line.strip()}


def committed_batches(alerts: Path) -> int:
    log = alerts / "_spark_metadata"
    return len([f for f in log.glob("*") if f.name.isdigit()]) if log.exists() else 0
