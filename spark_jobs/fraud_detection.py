"""Real-time fraud detection: card payments from Kafka, alerts to Kafka and to parquet, by documented rules.

Rules (a payment is alerted for the first rule it breaks, in this order):
- large_amount: the amount is at least 5000 (LARGE_AMOUNT); the issuer's limit for a card-present payment.
- gift_cards_abroad: gift cards bought outside the account's home country, the usual way stolen cards are cashed.
Rules rather than the classification model: the model of classification.py is fitted on generic numeric
features, and a payment's risk here is a threshold and a combination of categories, which the rules state exactly.

Two queries read the same topic, each with its own checkpoint under --checkpoint: the parquet sink is
exactly-once across driver restarts (Spark's file sink commits each batch's files with its offsets); the Kafka
sink is at-least-once (a batch cut by a crash is written again on restart), so consumers key on transaction_id.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_jobs.session import add_session_arguments, announce_outputs, session_from_args

LARGE_AMOUNT = 5000.0
TRANSACTION_SCHEMA = T.StructType([
    T.StructField("transaction_id", T.StringType()),
    T.StructField("account", T.StringType()),
    T.StructField("amount", T.DoubleType()),
    T.StructField("merchant_category", T.StringType()),
    T.StructField("country", T.StringType()),
    T.StructField("home_country", T.StringType()),
    T.StructField("event_time", T.TimestampType()),
])


def rules() -> list[tuple[str, Column]]:
    """(name, broken) in the order of the module's docstring (a function: columns need a live session)."""
    return [
        ("large_amount", F.col("amount") >= LARGE_AMOUNT),
        ("gift_cards_abroad", (F.col("merchant_category") == "gift_cards") & (F.col("country") != F.col("home_country"))),
    ]


def parse_transactions(records: DataFrame) -> DataFrame:
    """Kafka records (value: JSON) to payments, with the time Kafka logged each one (for end-to-end latency).

    A value that is not a payment (bad JSON, no id) is dropped rather than failing the stream."""
    parsed = records.select(F.from_json(F.col("value").cast("string"), TRANSACTION_SCHEMA).alias("t"),
                            F.col("timestamp").alias("received_at"))
    return parsed.select("t.*", "received_at").where(F.col("transaction_id").isNotNull())


def score(payments: DataFrame) -> DataFrame:
    """Alerts: the payments that break a rule, with the first rule broken."""
    rule = F.lit(None).cast("string")
    for name, broken in reversed(rules()):
        rule = F.when(broken, F.lit(name)).otherwise(rule)
    return payments.withColumn("rule", rule).where(F.col("rule").isNotNull())


def alert_records(alerts: DataFrame) -> DataFrame:
    """Alerts as Kafka records: key transaction_id (consumers deduplicate on it), value the alert as JSON."""
    return alerts.select(F.col("transaction_id").alias("key"), F.to_json(F.struct(*alerts.columns)).alias("value"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fraud_detection.py", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, help="Kafka brokers, host:port,...")
    parser.add_argument("--transactions-topic", default="transactions")
    parser.add_argument("--alerts-topic", default="fraud-alerts")
    parser.add_argument("--alerts-path", required=True, help="parquet folder for alerts (the shared volume)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (the shared volume)")
    parser.add_argument("--starting-offsets", default="earliest", help="where a new checkpoint starts: earliest/latest")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=0, help="payments per batch (0: no limit)")
    parser.add_argument("--trigger-seconds", type=float, default=1.0)
    parser.add_argument("--available-now", action="store_true",
                        help="process what the topic holds now, then stop (otherwise run until stopped)")
    add_session_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    spark = session_from_args("FraudDetection", args)
    try:
        reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", args.bootstrap_servers)
                  .option("subscribe", args.transactions_topic).option("startingOffsets", args.starting_offsets)
                  .option("failOnDataLoss", "false"))
        if args.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
        alerts = score(parse_transactions(reader.load()))
        trigger = {"availableNow": True} if args.available_now else {"processingTime": f"{args.trigger_seconds} seconds"}
        to_parquet = (alerts.writeStream.format("parquet").option("path", args.alerts_path)
                      .option("checkpointLocation", f"{args.checkpoint}/parquet").trigger(**trigger)
                      .queryName("alerts-parquet").start())
        to_kafka = (alert_records(alerts).writeStream.format("kafka")
                    .option("kafka.bootstrap.servers", args.bootstrap_servers).option("topic", args.alerts_topic)
                    .option("checkpointLocation", f"{args.checkpoint}/kafka").trigger(**trigger)
                    .queryName("alerts-kafka").start())
        announce_outputs(args.alerts_path, f"kafka topic {args.alerts_topic}")
        for query in (to_parquet, to_kafka):
            query.awaitTermination()
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
