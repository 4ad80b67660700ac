"""Fraud detection on the lab's Kafka: throughput (payments/s) and end-to-end latency p50/p99.

Needs a lab bootstrapped with a kafka group and Spark standalone (tests/test_standalone_lab.py builds one the same
way). Everything goes through `bootstrap.py submit`, as a user would run it:
- throughput: N payments put in a fresh topic first, then the job run with --available-now from a fresh
  checkpoint; the same job started at the topic's end (nothing to do) gives the fixed cost (JVM, executors,
  Kafka metadata), and the throughput is N / (backlog run - empty run);
- latency: the job running with its processing-time trigger (each value of --triggers in turn) while the
  generator writes --rate payments/s for --seconds; for each alert on the alerts topic, the alert record's Kafka
  timestamp (CreateTime: when the job's producer sent it) minus the payment record's (received_at, CreateTime:
  when the generator's producer sent it), the first alert of each payment. The job runs until every injected
  fraud has its alert (at most CATCH_UP_SECONDS after the last payment), so the slowest count in p99. The nodes
  share this machine's clock.
Prints a table and writes JSON to .artifacts/bench-kafka.json.

  python bench/kafka_bench.py --inventory /path/to/inventory/kafkadev --rows 200000 --rate 500 --seconds 60
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from clusterboot import inventory
from clusterboot.artifacts.build import default_cache

PROJECT = Path(__file__).resolve().parent.parent
# How long the latency run waits, after the last payment, for the alerts of every injected fraud.
CATCH_UP_SECONDS = 300


def submit(inventory_dir: Path, job: str, args: list[str]) -> float:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "bootstrap.py", "submit", "--inventory", str(inventory_dir), job, "--",
                           *args], cwd=PROJECT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"submit {job} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def machine() -> str:
    """This machine's name, cores, memory and load: the lab's nodes and the brokers all run on it."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
    return (f"{platform.node()}: {os.cpu_count()} cores ({model}), {memory / 2**20:.0f} GiB, "
            f"load {load()}")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def throughput(inv: Path, shared: Path, brokers: str, rows: int, run: str) -> dict:
    topic, alerts = f"bench-{run}-tx", f"bench-{run}-alerts"
    produce = submit(inv, "data_generator", ["transactions", f"{shared}/bench/{run}/payments", "--rows", str(rows),
                                             "--kafka-bootstrap", brokers, "--kafka-topic", topic])
    job = ["--bootstrap-servers", brokers, "--transactions-topic", topic, "--alerts-topic", alerts, "--available-now"]
    # From the topic's end: nothing to do, so this is the fixed cost of a run.
    empty = submit(inv, "fraud_detection", [*job, "--starting-offsets", "latest", "--alerts-path",
                                            f"{shared}/bench/{run}/empty", "--checkpoint", f"{shared}/bench/{run}/ck-empty"])
    backlog = submit(inv, "fraud_detection", [*job, "--alerts-path", f"{shared}/bench/{run}/alerts",
                                              "--checkpoint", f"{shared}/bench/{run}/ck"])
    return {"topic": topic, "rows": rows, "empty_run_s": round(empty, 1), "backlog_run_s": round(backlog, 1),
            "produce_s": round(produce, 1), "payments_per_s": round(rows / max(backlog - empty, 0.1))}


def latency(inv: Path, shared: Path, brokers: str, topic: str, first_id: int, rate: int, seconds: int,
            trigger: float, run: str) -> dict:
    """The job starts at the end of the throughput run's topic (it exists, so the job can subscribe), then new
    payments arrive, numbered after the ones already there. The job runs until every injected fraud is on the
    alerts topic (or CATCH_UP_SECONDS pass), so the slowest alerts count in p99 instead of being cut off."""
    from pyspark.sql import SparkSession

    alerts, key_dir = f"bench-{run}-live-alerts", f"{shared}/bench/{run}/live-payments"
    job = subprocess.Popen(
        # Half the cores at most: on standalone the first app takes every core, and the generator needs some.
        [sys.executable, "bootstrap.py", "submit", "--inventory", str(inv), "--conf", "spark.cores.max=2",
         "fraud_detection", "--",
         "--bootstrap-servers", brokers, "--transactions-topic", topic, "--alerts-topic", alerts,
         "--alerts-path", f"{shared}/bench/{run}/live", "--checkpoint", f"{shared}/bench/{run}/ck-live",
         "--starting-offsets", "latest", "--trigger-seconds", str(trigger)],
        cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    jars = ",".join(sorted(glob.glob(str(default_cache() / "artifacts" / "spark-kafka-*" / "libs" / "*.jar"))))
    spark = (SparkSession.builder.master("local[1]").config("spark.jars", jars).config("spark.ui.enabled", "false")
             .getOrCreate())
    try:
        time.sleep(60)  # the driver and executors up, the first (empty) batches done
        if job.poll() is not None:
            raise SystemExit(f"fraud_detection ended before any payment (rc {job.returncode})")
        submit(inv, "data_generator", ["transactions", key_dir, "--rows", str(rate * seconds), "--rate", str(rate),
                                       "--fraud-rate", "0.05", "--first-id", str(first_id),
                                       "--kafka-bootstrap", brokers, "--kafka-topic", topic])
        key = spark.read.parquet(key_dir).where("is_fraud").select("transaction_id")
        frauds = {r.transaction_id for r in key.collect()}
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            # The alert record's timestamp (CreateTime: set when the job's producer sent it) minus the payment's
            # (received_at: the payment record's CreateTime, set when the generator's producer sent it).
            rows = (spark.read.format("kafka").option("kafka.bootstrap.servers", brokers).option("subscribe", alerts)
                    .load().selectExpr("CAST(key AS STRING) AS id", "timestamp AS alerted",
                                       "get_json_object(CAST(value AS STRING), '$.received_at') AS received")
                    .selectExpr("id", "CAST(alerted AS DOUBLE) - CAST(CAST(received AS TIMESTAMP) AS DOUBLE) AS s")
                    .groupBy("id").min("s").withColumnRenamed("min(s)", "s").collect())
            if {r.id for r in rows} >= frauds or time.monotonic() > deadline:
                break
            time.sleep(5)
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait()
        spark.stop()
    seconds_each = [r.s for r in rows if r.s is not None]
    if not seconds_each:
        raise SystemExit(f"no alerts on {alerts}: the job did not keep up or did not start")
    return {"rate": rate, "seconds": seconds, "trigger_s": trigger, "frauds": len(frauds),
            "alerts": len(seconds_each), "p50_ms": round(percentile(seconds_each, 0.5) * 1000),
            "p99_ms": round(percentile(seconds_each, 0.99) * 1000), "max_ms": round(max(seconds_each) * 1000)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True, help="a bootstrapped lab inventory with a kafka group")
    parser.add_argument("--rows", type=int, default=200000, help="payments for the throughput run")
    parser.add_argument("--rate", type=int, default=500, help="payments per second for the latency run")
    parser.add_argument("--seconds", type=int, default=60, help="length of the latency run")
    parser.add_argument("--triggers", default="1,0", help="processing-time triggers to compare (s; 0: back to back)")
    args = parser.parse_args(argv)
    inv = Path(args.inventory).resolve()
    hostvars, groups = inventory.check(inv)
    any_host = next(iter(hostvars.values()))
    brokers = ",".join(f"{hostvars[h]['node_ip']}:{any_host.get('kafka_port', 9092)}" for h in groups["kafka"])
    shared = Path(str(any_host["cluster_shared_data_dir"]))
    run = time.strftime("%Y%m%d%H%M%S")
    result = {"machine": machine(), "brokers": len(groups["kafka"]), "workers": len(groups["workers"]),
              "throughput": throughput(inv, shared, brokers, args.rows, run)}
    topic = result["throughput"]["topic"]
    result["latency"] = [latency(inv, shared, brokers, topic, args.rows + i * args.rate * args.seconds, args.rate,
                                 args.seconds, float(t), f"{run}-{i}") for i, t in enumerate(args.triggers.split(","))]
    out = PROJECT / ".artifacts" / "bench-kafka.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    t = result["throughput"]
    result["load_after"] = load()
    print(f"machine: {result['machine']} (at the start; {result['load_after']} at the end); "
          f"{result['brokers']} brokers, {result['workers']} Spark workers")
    print(f"throughput: {t['rows']} payments in {t['backlog_run_s']} s (empty topic: {t['empty_run_s']} s) "
          f"= {t['payments_per_s']} payments/s; producing them took {t['produce_s']} s")
    print("| trigger s | rate /s | frauds | alerts | p50 ms | p99 ms | max ms |")
    for lat in result["latency"]:
        print(f"| {lat['trigger_s']} | {lat['rate']} | {lat['frauds']} | {lat['alerts']} | {lat['p50_ms']} "
              f"| {lat['p99_ms']} | {lat['max_ms']} |")
    print(f"json: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
