"""What the Kafka lab tests share: bringing a lab up with a kafka group, bootstrap runs, and the answer checks.

Not a test module: test_kafka_lab.py (three brokers, long) and test_kafka_small_lab.py (one broker, in CI)
import it. Each test module builds its own lab from it, under its own name and subnet.
"""

from __future__ import annotations

import glob
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from clusterboot.artifacts.build import default_cache
from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent


def bootstrap(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def add_kafka_group(inventory: Path, brokers: list[str], extra_vars: str = "") -> None:
    """The brokers become group kafka; a smaller heap, since the lab's nodes share one machine."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["kafka"] = {"hosts": {node: None for node in brokers}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    with (inventory / "group_vars" / "all.yml").open("a") as group_vars:
        group_vars.write("kafka_heap_size: 384m\n" + extra_vars)


def changed_total(run: subprocess.CompletedProcess) -> int:
    line = next(line for line in run.stdout.splitlines() if line.startswith("totals:"))
    return int(line.split("changed=")[1].split()[0])


@contextmanager
def kafka_lab(cfg: lab.LabConfig, nodes: int, brokers: list[str],
              extra_vars: str = "") -> Iterator[subprocess.CompletedProcess]:
    """A standalone Spark lab with the brokers of the kafka group; yields the first `--phase streaming` run."""
    try:
        lab.up(cfg, nodes=nodes, control_planes=1, spark_manager="standalone", log=lambda _: None)
        add_kafka_group(cfg.inventory_dir, brokers, extra_vars)
        spark = bootstrap("--inventory", str(cfg.inventory_dir), "--role", "spark_standalone")
        assert spark.returncode == 0, spark.stdout[-4000:] + spark.stderr[-2000:]
        yield bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    finally:
        lab.down(cfg, log=lambda _: None)


def generate_payments(cfg: lab.LabConfig, out: Path, rows: int, bootstrap_servers: str, *extra: str) -> Path:
    """Payments written to Kafka by the cluster, and the answer key (is_fraud) as parquet in out."""
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--", "transactions",
                    str(out), "--rows", str(rows), "--kafka-bootstrap", bootstrap_servers, *extra)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return out


@contextmanager
def local_spark_session():
    """Reads the results here: the file sink's own log decides which parquet files count, as for any reader."""
    from pyspark.sql import SparkSession

    jars = sorted(glob.glob(str(default_cache() / "artifacts" / "spark-kafka-*" / "libs" / "*.jar")))
    session = (SparkSession.builder.master("local[1]").appName("kafka-lab-checks").config("spark.jars", ",".join(jars))
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


def alert_keys_on_topic(spark, bootstrap_servers: str, topic: str) -> set[str]:
    return {r.key for r in spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap_servers)
            .option("subscribe", topic).load().selectExpr("CAST(key AS STRING) AS key").collect()}


def committed_batches(alerts: Path) -> int:
    log = alerts / "_spark_metadata"
    return len([f for f in log.glob("*") if f.name.isdigit()]) if log.exists() else 0
