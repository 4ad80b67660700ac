#!/usr/bin/env python3
"""Word count and classification throughput in local mode: python bench/spark_jobs_bench.py --gigabytes 1

Generates the inputs with spark_jobs.data_generator (deterministic), then times each job's transform
end to end (read, compute, write) and prints rows/s and MB/s. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from spark_jobs import classification, word_count
from spark_jobs.data_generator import classification_data, text_corpus
from spark_jobs.session import build_session

PROJECT = Path(__file__).resolve().parent.parent

WORDS_PER_LINE = 12
TEXT_BYTES_PER_LINE = 58  # measured average of generated lines (12 words of "w<base36>" plus separators)
CSV_BYTES_PER_ROW = 42  # two doubles and a label


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.0, help="size of each generated input")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--workdir", default=str(PROJECT / ".artifacts" / "spark-bench"))
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    spark = build_session("spark-jobs-bench", args.master, {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
    lines = int(args.gigabytes * 1e9 / TEXT_BYTES_PER_LINE)
    rows = int(args.gigabytes * 1e9 / CSV_BYTES_PER_ROW)
    results = {}
    try:
        generate_text = timed(lambda: text_corpus(spark, lines, WORDS_PER_LINE, 50000, seed=1)
                              .write.mode("overwrite").text(str(work / "corpus")))
        wc = timed(lambda: word_count.count_words(spark.read.text(str(work / "corpus")))
                   .write.mode("overwrite").parquet(str(work / "counts")))
        results["word_count"] = {"input_mb": round(size_mb(work / "corpus")), "lines": lines, "seconds": round(wc, 1),
                                 "rows_per_s": round(lines / wc), "words_per_s": round(lines * WORDS_PER_LINE / wc),
                                 "generate_seconds": round(generate_text, 1)}
        generate_csv = timed(lambda: classification_data(spark, rows, 2, 0.05, seed=1)
                             .write.mode("overwrite").csv(str(work / "points"), header=True))
        df = spark.read.csv(str(work / "points"), header=True, inferSchema=True)
        fit = timed(lambda: classification.train_and_evaluate(df, ["feature1", "feature2"], "label", 0.8, seed=1))
        results["classification"] = {"input_mb": round(size_mb(work / "points")), "rows": rows, "seconds": round(fit, 1),
                                     "rows_per_s": round(rows / fit), "generate_seconds": round(generate_csv, 1)}
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| job | input MB | rows | seconds | rows/s |")
    print("|---|---|---|---|---|")
    for job, r in results.items():
        print(f"| {job} | {r['input_mb']} | {r.get('lines', r.get('rows'))} | {r['seconds']} | {r['rows_per_s']} |")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
