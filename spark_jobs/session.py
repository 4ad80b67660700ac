"""Build a SparkSession from command-line arguments: app name, optional master, --conf pairs."""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """--master and --conf; without --master the one spark-submit gives is used (no hard-coded master)."""
    parser.add_argument("--master", help="e.g. local[2], spark://host:7077; default: whatever spark-submit set")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="Spark config, repeatable")


def parse_conf(pairs: list[str]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--conf {pair!r}: expected KEY=VALUE")
        conf[key] = value
    return conf


def build_session(app_name: str, master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def session_from_args(app_name: str, args: argparse.Namespace) -> SparkSession:
    return build_session(app_name, args.master, parse_conf(args.conf))


def publish_metrics(spark: SparkSession, metrics: dict, path: str) -> None:
    """Metrics as one JSON record through Spark's writer (so hdfs:// and s3a:// work), and on stdout."""
    spark.createDataFrame([metrics]).coalesce(1).write.mode("overwrite").json(path)
    print(f"metrics: {metrics}")


def announce_outputs(*paths: str) -> None:
    """One line the submitter reads from the driver's log to tell the user where the results are."""
    print(f"output: {', '.join(paths)}", flush=True)
