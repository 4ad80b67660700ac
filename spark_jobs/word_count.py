"""Word count, as in the source notes, with deliberate normalisation.

The notes split on single spaces, so "Spark," "spark" and "spark\\t" count as three words. Here a
word is a run of letters or digits, optionally joined by apostrophes ("don't"), compared in lower
case; everything else (punctuation, tabs, repeated spaces) separates words.
Output: (word, count) sorted by count descending, then word; as text lines "word<TAB>count" or parquet.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.session import add_session_arguments, announce_outputs, session_from_args

# Java regex (Spark evaluates it on the JVM); Python's equivalent is [^\W_]+(?:'[^\W_]+)*
WORD_PATTERN = r"[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*"


def words(lines: DataFrame) -> DataFrame:
    """One row per normalised word, from a DataFrame with a `value` column of text lines."""
    extracted = F.regexp_extract_all(F.lower(F.col("value")), F.lit(WORD_PATTERN), F.lit(0))
    return lines.select(F.explode(extracted).alias("word"))


def count_words(lines: DataFrame) -> DataFrame:
    """(word, count) sorted by count descending, then word ascending."""
    return (
        words(lines).groupBy("word").agg(F.count(F.lit(1)).cast("long").alias("count"))
        .orderBy(F.col("count").desc(), F.col("word").asc())
    )


def as_text_lines(counts: DataFrame) -> DataFrame:
    return counts.select(F.concat_ws("\t", "word", F.col("count").cast("string")).alias("value"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="word_count.py", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="text file or folder (local path, hdfs://, s3a://)")
    parser.add_argument("output", help="output folder")
    parser.add_argument("--format", choices=["text", "parquet"], default="text")
    add_session_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    spark = session_from_args("WordCount", args)
    try:
        counts = count_words(spark.read.text(args.input))
        if args.format == "text":
            as_text_lines(counts).write.mode("overwrite").text(args.output)
        else:
            counts.write.mode("overwrite").parquet(args.output)
        announce_outputs(args.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
