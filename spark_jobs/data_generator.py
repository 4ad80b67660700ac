"""Synthetic inputs with known answers, any size, deterministic by seed.

Every random draw is a hash of (row id, column, seed), so the data does not depend on how Spark
partitions the work: the same seed gives the same rows on a laptop and on 100 nodes.
- text: lines of words "w<base36>" with random capitals, trailing commas/periods and tabs, for word count;
- classification: features uniform in [-1, 1), label = [w·x + b > 0], a fraction of labels flipped as noise;
- regression: target = Σ cᵢxᵢ + intercept + Gaussian noise, with the coefficients given;
- transactions: card payments for fraud detection, a known fraction of them frauds injected by construction
  (see fraud_detection.py for the rules they break and clean ones never do), written to files with the answer
  in `is_fraud` and, with --kafka-bootstrap, to a Kafka topic without it (key: account, value: JSON).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.session import add_session_arguments, announce_outputs, session_from_args

UNIFORM_STEPS = 1 << 30


def uniform(seed: int, *keys: Column | int) -> Column:
    """A uniform draw in [0, 1) from a hash of the keys and seed."""
    hashed = F.xxhash64(*[k if isinstance(k, Column) else F.lit(k) for k in keys], F.lit(seed))
    return F.pmod(hashed, F.lit(UNIFORM_STEPS)).cast("double") / UNIFORM_STEPS


def classification_weights(features: int, seed: int) -> tuple[list[float], float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(features)], rng.uniform(-0.2, 0.2)


def row_ids(spark: SparkSession, rows: int, partitions: int | None) -> DataFrame:
    """Row ids 0..rows-1 in `partitions` partitions (None: Spark's default); no draw depends on the split."""
    return spark.range(0, rows, 1, partitions)


def text_corpus(spark: SparkSession, lines: int, words_per_line: int, vocab_size: int, seed: int,
                partitions: int | None = None) -> DataFrame:
    ids = row_ids(spark, lines, partitions)
    tokens = []
    for k in range(words_per_line):
        word = F.concat(F.lit("w"), F.conv(F.floor(uniform(seed, F.col("id"), k) * vocab_size).cast("string"), 10, 36))
        word = F.when(uniform(seed + 1, F.col("id"), k) < 0.2, F.upper(word)).otherwise(F.lower(word))
        word = F.when(uniform(seed + 2, F.col("id"), k) < 0.1, F.concat(word, F.lit(","))).otherwise(word)
        separator = F.when(uniform(seed + 3, F.col("id"), k) < 0.05, F.lit("\t")).otherwise(F.lit(" "))
        tokens += [word, separator]
    return ids.select(F.concat(*tokens[:-1], F.lit(".")).alias("value"))


def classification_data(spark: SparkSession, rows: int, features: int, noise: float, seed: int,
                        partitions: int | None = None) -> DataFrame:
    weights, bias = classification_weights(features, seed)
    x = {f"feature{j + 1}": uniform(seed, F.col("id"), j) * 2 - 1 for j in range(features)}
    score = sum((F.col(name) * w for name, w in zip(x, weights)), F.lit(bias))
    flipped = uniform(seed + 7, F.col("id")) < noise
    clean = (score > 0).cast("int")
    return (
        row_ids(spark, rows, partitions).select("id", *[c.alias(n) for n, c in x.items()])
        .withColumn("label", F.when(flipped, 1 - clean).otherwise(clean)).drop("id")
    )


def regression_data(spark: SparkSession, rows: int, coefficients: list[float], intercept: float, noise: float,
                    seed: int, partitions: int | None = None) -> DataFrame:
    x = {f"feature{j + 1}": uniform(seed, F.col("id"), j) * 2 - 1 for j in range(len(coefficients))}
    # Box-Muller: a standard normal from two uniforms (1 - u keeps the log's argument above 0).
    gaussian = F.sqrt(-2 * F.log(1 - uniform(seed + 11, F.col("id")))) * F.cos(2 * 3.141592653589793 * uniform(seed + 13, F.col("id")))
    target = sum((F.col(name) * c for name, c in zip(x, coefficients)), F.lit(intercept)) + gaussian * noise
    return (row_ids(spark, rows, partitions).select("id", *[c.alias(n) for n, c in x.items()])
            .withColumn("target", target).drop("id"))


# Clean payments: at home, 1 to CLEAN_MAX_AMOUNT, any category. Frauds: one of two patterns, each breaking a
# rule of fraud_detection.py that no clean payment can (amount at least FRAUD_MIN_AMOUNT, or a gift-card buy
# abroad).
CATEGORIES = ["grocery", "fuel", "restaurant", "travel", "electronics", "gift_cards"]
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL"]
CLEAN_MAX_AMOUNT = 2000.0
FRAUD_MIN_AMOUNT = 5000.0
TRANSACTION_EPOCH_SECONDS = 1_767_225_600  # 2026-01-01T00:00:00Z: event times are reproducible too


def transactions(spark: SparkSession, rows: int, accounts: int, fraud_rate: float, seed: int,
                 first_id: int = 0, partitions: int | None = None) -> DataFrame:
    """Rows first_id..first_id+rows-1 of one endless deterministic stream; `is_fraud` is the answer key."""
    ids = spark.range(first_id, first_id + rows, 1, partitions)
    account = F.floor(uniform(seed, F.col("id"), 0) * accounts).cast("long")
    home = F.element_at(F.array(*map(F.lit, COUNTRIES)), (F.pmod(account, F.lit(len(COUNTRIES))) + 1).cast("int"))
    category = F.element_at(F.array(*map(F.lit, CATEGORIES)),
                            (F.floor(uniform(seed, F.col("id"), 1) * len(CATEGORIES)) + 1).cast("int"))
    fraud = uniform(seed, F.col("id"), 2) < fraud_rate
    large = uniform(seed, F.col("id"), 3) < 0.5  # which pattern a fraud follows
    abroad = F.element_at(F.array(*map(F.lit, COUNTRIES)),
                          (F.pmod(account + 1 + F.floor(uniform(seed, F.col("id"), 4) * (len(COUNTRIES) - 1)),
                                  F.lit(len(COUNTRIES))) + 1).cast("int"))
    clean_amount = F.round(1 + uniform(seed, F.col("id"), 5) * (CLEAN_MAX_AMOUNT - 1), 2)
    large_amount = F.round(FRAUD_MIN_AMOUNT + uniform(seed, F.col("id"), 5) * 15000, 2)
    return ids.select(
        F.format_string("t%010d", F.col("id")).alias("transaction_id"),
        F.format_string("a%06d", account).alias("account"),
        F.when(fraud & large, large_amount).otherwise(clean_amount).alias("amount"),
        F.when(fraud & ~large, F.lit("gift_cards")).otherwise(category).alias("merchant_category"),
        F.when(fraud & ~large, abroad).otherwise(home).alias("country"),
        home.alias("home_country"),
        F.timestamp_seconds(F.lit(TRANSACTION_EPOCH_SECONDS) + F.col("id")).alias("event_time"),
        fraud.alias("is_fraud"),
    )


def kafka_records(df: DataFrame) -> DataFrame:
    """What a payment terminal would send: key the account (one account's payments stay in order), value JSON
    without the answer key."""
    payload = df.drop("is_fraud")
    return payload.select(F.col("account").alias("key"), F.to_json(F.struct(*payload.columns)).alias("value"))


def write_transactions_to_kafka(spark: SparkSession, args: argparse.Namespace) -> None:
    """The rows in chunks of --rate per second (0: all at once), so a streaming job sees them arrive."""
    chunk = args.rate or args.rows
    started = time.monotonic()
    for index, first in enumerate(range(0, args.rows, chunk)):
        if args.rate:
            time.sleep(max(0.0, started + index - time.monotonic()))
        rows = transactions(spark, min(chunk, args.rows - first), args.accounts, args.fraud_rate, args.seed,
                            first_id=args.first_id + first)
        (kafka_records(rows).write.format("kafka").option("kafka.bootstrap.servers", args.kafka_bootstrap)
         .option("topic", args.kafka_topic).save())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="data_generator.py", description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    text = kinds.add_parser("text", help="a text corpus for word count")
    text.add_argument("--lines", type=int, default=1000)
    text.add_argument("--words-per-line", type=int, default=12)
    text.add_argument("--vocab", type=int, default=500)
    classification = kinds.add_parser("classification", help="labelled points for logistic regression / DL")
    classification.add_argument("--rows", type=int, default=10000)
    classification.add_argument("--features", type=int, default=2)
    classification.add_argument("--noise", type=float, default=0.0, help="fraction of labels flipped")
    classification.add_argument("--format", choices=["csv", "parquet"], default="csv")
    regression = kinds.add_parser("regression", help="linear data with known coefficients")
    regression.add_argument("--rows", type=int, default=10000)
    regression.add_argument("--coefficients", default="2.0,-3.0,0.5", help="comma-separated")
    regression.add_argument("--intercept", type=float, default=1.0)
    regression.add_argument("--noise", type=float, default=0.1, help="standard deviation of the noise")
    payments = kinds.add_parser("transactions", help="card payments with injected frauds, to files and Kafka")
    payments.add_argument("--rows", type=int, default=10000)
    payments.add_argument("--accounts", type=int, default=1000)
    payments.add_argument("--fraud-rate", type=float, default=0.01, help="fraction of payments that are frauds")
    payments.add_argument("--first-id", type=int, default=0, help="continue an earlier run's stream from this id")
    payments.add_argument("--kafka-bootstrap", help="host:port,...; also write the payments to --kafka-topic")
    payments.add_argument("--kafka-topic", default="transactions")
    payments.add_argument("--rate", type=int, default=0, help="payments per second to Kafka (0: all at once)")
    for sub in (text, classification, regression, payments):
        sub.add_argument("output", help="output folder (local path, hdfs://, s3a://)")
        sub.add_argument("--seed", type=int, default=42)
        sub.add_argument("--partitions", type=int, default=0, help="output files; default: Spark's choice")
        add_session_arguments(sub)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    spark = session_from_args(f"DataGenerator-{args.kind}", args)
    try:
        if args.kind == "text":
            df, fmt = text_corpus(spark, args.lines, args.words_per_line, args.vocab, args.seed), "text"
        elif args.kind == "transactions":
            df = transactions(spark, args.rows, args.accounts, args.fraud_rate, args.seed, args.first_id)
            fmt = "parquet"
            if args.kafka_bootstrap:
                write_transactions_to_kafka(spark, args)
        elif args.kind == "classification":
            df, fmt = classification_data(spark, args.rows, args.features, args.noise, args.seed), args.format
        else:
            coefficients = [float(c) for c in args.coefficients.split(",")]
            df, fmt = regression_data(spark, args.rows, coefficients, args.intercept, args.noise, args.seed), "csv"
        if args.partitions:
            df = df.repartition(args.partitions)
        writer = df.write.mode("overwrite")
        {"text": writer.text, "parquet": writer.parquet, "csv": lambda p: writer.csv(p, header=True)}[fmt](args.output)
        announce_outputs(args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
