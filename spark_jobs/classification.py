"""Logistic regression from the source notes: CSV in, model and accuracy/F1/precision/recall out."""

from __future__ import annotations

import sys

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame

from spark_jobs.ml_common import ml_parser, select_numeric, split
from spark_jobs.session import announce_outputs, publish_metrics, session_from_args

METRICS = {"accuracy": "accuracy", "f1": "f1", "precision": "weightedPrecision", "recall": "weightedRecall"}


def build_pipeline(feature_cols: list[str], label_col: str, max_iter: int = 100) -> Pipeline:
    assembler = VectorAssembler(inputCols=feature_cols, outputCol="features")
    model = LogisticRegression(featuresCol="features", labelCol=label_col, maxIter=max_iter)
    return Pipeline(stages=[assembler, model])


def evaluate(predictions: DataFrame, label_col: str) -> dict[str, float]:
    evaluator = MulticlassClassificationEvaluator(labelCol=label_col, predictionCol="prediction")
    return {name: evaluator.evaluate(predictions, {evaluator.metricName: metric}) for name, metric in METRICS.items()}


def train_and_evaluate(df: DataFrame, feature_cols: list[str], label_col: str, train_fraction: float,
                       seed: int) -> tuple[PipelineModel, dict[str, float]]:
    train, test = split(select_numeric(df, feature_cols, label_col), train_fraction, seed)
    model = build_pipeline(feature_cols, label_col).fit(train)
    metrics = evaluate(model.transform(test), label_col)
    metrics.update(train_rows=train.count(), test_rows=test.count())
    return model, metrics


def main(argv: list[str]) -> int:
    parser = ml_parser("classification.py", __doc__.splitlines()[0])
    parser.add_argument("--model-out", required=True, help="folder for the fitted pipeline model")
    args = parser.parse_args(argv)
    spark = session_from_args("Classification", args)
    try:
        df = spark.read.csv(args.input, header=True, inferSchema=True)
        model, metrics = train_and_evaluate(df, args.features.split(","), args.label, args.train_fraction, args.seed)
        model.write().overwrite().save(args.model_out)
        publish_metrics(spark, metrics, args.metrics_out)
        announce_outputs(args.model_out, args.metrics_out)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
