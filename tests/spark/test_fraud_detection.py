"""The fraud detection job's pure transforms and the generator's injected frauds, in local mode (no Kafka)."""

import datetime as dt
import json

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from spark_jobs import fraud_detection
from spark_jobs.data_generator import CLEAN_MAX_AMOUNT, kafka_records, transactions

PAYMENT = "transaction_id string, account string, amount double, merchant_category string, country string, " \
          "home_country string, event_time timestamp"
T0 = dt.datetime(2026, 1, 1, 0, 0, 0)
T1 = dt.datetime(2026, 1, 1, 0, 0, 1)


def payments(spark, rows):
    return spark.createDataFrame(rows, PAYMENT)


def test_score_alerts_each_rule_and_passes_clean_payments(spark):
    df = payments(spark, [
        ("t1", "a1", 12.5, "grocery", "DE", "DE", T0),          # clean
        ("t2", "a1", 5000.0, "travel", "DE", "DE", T0),         # large_amount, at the threshold
        ("t3", "a2", 40.0, "gift_cards", "FR", "DE", T0),       # gift_cards_abroad
        ("t4", "a2", 4999.99, "gift_cards", "DE", "DE", T0),    # gift cards at home: clean
        ("t5", "a3", 9000.0, "gift_cards", "NL", "DE", T0),     # both: the first rule wins
        ("t6", "a3", 300.0, "electronics", "ES", "DE", T0),     # abroad, not gift cards: clean
    ])
    expected = spark.createDataFrame([
        ("t2", "a1", 5000.0, "travel", "DE", "DE", T0, "large_amount"),
        ("t3", "a2", 40.0, "gift_cards", "FR", "DE", T0, "gift_cards_abroad"),
        ("t5", "a3", 9000.0, "gift_cards", "NL", "DE", T0, "large_amount"),
    ], PAYMENT + ", rule string")
    assertDataFrameEqual(fraud_detection.score(df), expected)


def test_parse_transactions_reads_the_json_and_kafka_time_and_drops_garbage(spark):
    good = json.dumps({"transaction_id": "t1", "account": "a1", "amount": 10.0, "merchant_category": "fuel",
                       "country": "DE", "home_country": "DE", "event_time": "2026-01-01T00:00:00.000Z"})
    records = spark.createDataFrame(
        [(bytearray(b"a1"), bytearray(good.encode()), T1), (None, bytearray(b"{not json"), T1),
         (None, bytearray(b'{"amount": 3}'), T1)],
        "key binary, value binary, timestamp timestamp")
    parsed = fraud_detection.parse_transactions(records).withColumn("event_time", F.col("event_time").cast("long"))
    expected = spark.createDataFrame([("t1", "a1", 10.0, "fuel", "DE", "DE", 1767225600, T1)],
                                     PAYMENT.replace("event_time timestamp", "event_time long")
                                     + ", received_at timestamp")
    assertDataFrameEqual(parsed, expected)


def test_alert_records_are_keyed_by_transaction_with_the_alert_as_json(spark):
    alerts = spark.createDataFrame([("t2", 5000.0, "large_amount")], "transaction_id string, amount double, rule string")
    expected = spark.createDataFrame(
        [("t2", '{"transaction_id":"t2","amount":5000.0,"rule":"large_amount"}')], "key string, value string")
    assertDataFrameEqual(fraud_detection.alert_records(alerts), expected)


def test_generated_frauds_are_exactly_the_alerts(spark):
    """The generator's answer key and the rules agree on every row: each injected fraud breaks a rule and no
    clean payment does. The payments go through the same JSON the Kafka topic carries."""
    generated = transactions(spark, rows=3000, accounts=50, fraud_rate=0.05, seed=7)
    frauds = generated.where("is_fraud").select("transaction_id")
    assert 100 < frauds.count() < 200
    assert generated.where("NOT is_fraud AND amount > %f" % CLEAN_MAX_AMOUNT).count() == 0
    records = kafka_records(generated).withColumn("timestamp", F.current_timestamp())
    alerted = fraud_detection.score(fraud_detection.parse_transactions(records)).select("transaction_id")
    assertDataFrameEqual(alerted, frauds)


def test_transactions_do_not_depend_on_partitioning_or_chunking(spark):
    whole = transactions(spark, rows=200, accounts=10, fraud_rate=0.1, seed=3, partitions=1)
    chunks = transactions(spark, rows=120, accounts=10, fraud_rate=0.1, seed=3, partitions=3).unionByName(
        transactions(spark, rows=80, accounts=10, fraud_rate=0.1, seed=3, first_id=120, partitions=2))
    assertDataFrameEqual(chunks, whole)
