"""Linear regression pipeline from the source notes: assembler + LinearRegression, RMSE and R² on the test split."""

from __future__ import annotations

import sys

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression
from pyspark.sql import DataFrame

from spark_jobs.ml_common import ml_parser, select_numeric, split
from spark_jobs.session import announce_outputs, publish_metrics, session_from_args


def build_pipeline(feature_cols: list[str], label_col: str) -> Pipeline:
    assembler = VectorAssembler(inputCols=feature_cols, outputCol="features")
    return Pipeline(stages=[assembler, LinearRegression(featuresCol="features", labelCol=label_col)])


def evaluate(predictions: DataFrame, label_col: str) -> dict[str, float]:
    evaluator = RegressionEvaluator(labelCol=label_col, predictionCol="prediction")
    return {name: evaluator.evaluate(predictions, {evaluator.metricName: name}) for name in ("rmse", "r2")}


def fit(df: DataFrame, feature_cols: list[str], label_col: str, train_fraction: float,
        seed: int) -> tuple[PipelineModel, DataFrame, dict]:
    """The fitted pipeline, the test split's predictions, and metrics with the learned coefficients."""
    train, test = split(select_numeric(df, feature_cols, label_col), train_fraction, seed)
    model = build_pipeline(feature_cols, label_col).fit(train)
    predictions = model.transform(test)
    linear = model.stages[-1]
    metrics = evaluate(predictions, label_col)
    metrics.update(coefficients=dict(zip(feature_cols, linear.coefficients.toArray().tolist())),
                   intercept=linear.intercept)
    return model, predictions.select(*feature_cols, label_col, "prediction"), metrics


def main(argv: list[str]) -> int:
    parser = ml_parser("regression.py", __doc__.splitlines()[0])
    parser.add_argument("--predictions-out", required=True, help="folder for the test split's predictions (parquet)")
    args = parser.parse_args(argv)
    spark = session_from_args("RegressionPipeline", args)
    try:
        df = spark.read.csv(args.input, header=True, inferSchema=True)
        _, predictions, metrics = fit(df, args.features.split(","), args.label, args.train_fraction, args.seed)
        predictions.write.mode("overwrite").parquet(args.predictions_out)
        publish_metrics(spark, metrics, args.metrics_out)
        announce_outputs(args.predictions_out, args.metrics_out)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
