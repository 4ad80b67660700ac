import pytest
from pyspark.testing import assertDataFrameEqual

from spark_jobs import classification, regression
from spark_jobs.data_generator import classification_data, regression_data
from spark_jobs.ml_common import select_numeric


def test_select_numeric_casts_and_drops_bad_rows(spark):
    df = spark.createDataFrame(
        [("1", "2.5", "1", "x"), ("oops", "1", "0", "y"), ("3", None, "1", "z"), ("4", "5", "0", "w")],
        ["feature1", "feature2", "label", "other"])
    expected = spark.createDataFrame([(1.0, 2.5, 1.0), (4.0, 5.0, 0.0)], ["feature1", "feature2", "label"])
    assertDataFrameEqual(select_numeric(df, ["feature1", "feature2"], "label"), expected)


def test_select_numeric_names_missing_columns(spark):
    df = spark.createDataFrame([(1.0, 0)], ["feature1", "label"])
    with pytest.raises(SystemExit, match="columns not in the input: feature9"):
        select_numeric(df, ["feature1", "feature9"], "label")


def test_regression_data_without_noise_is_the_formula(spark):
    df = regression_data(spark, rows=5, coefficients=[2.0, -3.0], intercept=1.0, noise=0.0, seed=1)
    by_hand = [(r.feature1, r.feature2, 2.0 * r.feature1 - 3.0 * r.feature2 + 1.0) for r in df.collect()]
    assertDataFrameEqual(df, spark.createDataFrame(by_hand, ["feature1", "feature2", "target"]))


def test_classification_labels_follow_the_separating_plane(spark):
    from spark_jobs.data_generator import classification_weights

    weights, bias = classification_weights(2, seed=5)
    df = classification_data(spark, rows=50, features=2, noise=0.0, seed=5)
    by_hand = [(r.feature1, r.feature2, int(weights[0] * r.feature1 + weights[1] * r.feature2 + bias > 0))
               for r in df.collect()]
    assertDataFrameEqual(df, spark.createDataFrame(by_hand, "feature1 double, feature2 double, label int"))


def test_classification_on_separable_data_is_accurate(spark):
    df = classification_data(spark, rows=4000, features=2, noise=0.0, seed=42)
    _, metrics = classification.train_and_evaluate(df, ["feature1", "feature2"], "label", 0.8, seed=42)
    assert metrics["accuracy"] >= 0.95, metrics
    assert metrics["f1"] >= 0.95 and metrics["precision"] >= 0.95 and metrics["recall"] >= 0.95


def test_classification_on_noisy_data_is_sane(spark):
    # 20% of labels flipped: the best possible accuracy is about 0.8, chance is 0.5.
    df = classification_data(spark, rows=4000, features=2, noise=0.2, seed=42)
    _, metrics = classification.train_and_evaluate(df, ["feature1", "feature2"], "label", 0.8, seed=42)
    assert 0.7 <= metrics["accuracy"] <= 0.9, metrics


def test_regression_recovers_the_generator_coefficients(spark):
    df = regression_data(spark, rows=5000, coefficients=[2.0, -3.0, 0.5], intercept=1.0, noise=0.1, seed=42)
    _, predictions, metrics = regression.fit(df, ["feature1", "feature2", "feature3"], "target", 0.8, seed=42)
    # With noise sd 0.1 over 4000 points, each coefficient's standard error is about 0.003.
    assert metrics["coefficients"] == pytest.approx({"feature1": 2.0, "feature2": -3.0, "feature3": 0.5}, abs=0.02)
    assert metrics["intercept"] == pytest.approx(1.0, abs=0.02)
    assert metrics["rmse"] == pytest.approx(0.1, abs=0.02)
    assert metrics["r2"] > 0.99
    assert predictions.columns == ["feature1", "feature2", "feature3", "target", "prediction"]
