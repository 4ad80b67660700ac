"""Shared by the MLlib jobs: cast feature and label columns, split, and the common arguments."""

from __future__ import annotations

import argparse

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.session import add_session_arguments


def select_numeric(df: DataFrame, feature_cols: list[str], label_col: str) -> DataFrame:
    """Features and label as doubles; rows with a missing or malformed value dropped (try_cast: Spark 4 is ANSI)."""
    missing = [c for c in [*feature_cols, label_col] if c not in df.columns]
    if missing:
        raise SystemExit(f"columns not in the input: {', '.join(missing)}; it has {', '.join(df.columns)}")
    return df.select(*[F.col(c).try_cast("double").alias(c) for c in [*feature_cols, label_col]]).dropna()


def split(df: DataFrame, train_fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    train, test = df.randomSplit([train_fraction, 1.0 - train_fraction], seed=seed)
    return train, test


def ml_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("input", help="CSV with a header row (local path, hdfs://, s3a://)")
    parser.add_argument("--features", required=True, help="comma-separated feature columns")
    parser.add_argument("--label", required=True, help="label column")
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--metrics-out", required=True, help="folder for the metrics JSON record")
    add_session_arguments(parser)
    return parser
