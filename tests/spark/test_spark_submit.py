"""Jobs through the real spark-submit in local mode, checked against known answers or independent counts: word
count and the DL job (which runs nowhere else). Classification and regression go through spark-submit on the
shared cluster (tests/test_cluster_spark.py) with the same assertions; their transforms: test_ml_jobs.py."""

import json
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from clusterboot.spark_env import spark_submit_env, spark_submit_path

PROJECT = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = spark_submit_path()


@pytest.fixture(scope="module")
def jobs_zip(tmp_path_factory) -> Path:
    """spark_jobs as --py-files, the way the runner ships it."""
    path = tmp_path_factory.mktemp("pyfiles") / "spark_jobs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in (PROJECT / "spark_jobs").glob("*.py"):
            archive.write(file, f"spark_jobs/{file.name}")
    return path


def submit(jobs_zip: Path, job: str, *args: str) -> str:
    cmd = [SPARK_SUBMIT, "--master", "local[2]", "--conf", "spark.ui.enabled=false",
           "--py-files", str(jobs_zip), str(PROJECT / "spark_jobs" / f"{job}.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, env=spark_submit_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def read_metrics(spark, path: Path) -> dict:
    return json.loads(spark.read.text(str(path)).first().value)


def test_word_count_job(spark, jobs_zip, tmp_path):
    submit(jobs_zip, "data_generator", "text", str(tmp_path / "corpus"), "--lines", "3000", "--seed", "5")
    submit(jobs_zip, "word_count", str(tmp_path / "corpus"), str(tmp_path / "counts"), "--format", "parquet")
    # Counted here in plain Python from the generator's files, not by the job's own count_words.
    lines = [line for part in sorted((tmp_path / "corpus").glob("part-*")) for line in part.read_text().splitlines()]
    assert len(lines) == 3000
    expected = Counter(w for line in lines for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", line.lower()))
    counted = {row.word: row["count"] for row in spark.read.parquet(str(tmp_path / "counts")).collect()}
    assert counted == dict(expected)
    assert sum(counted.values()) == 3000 * 12  # the generator's default: 12 words per line


def test_dl_training_job(spark, jobs_zip, tmp_path):
    import torch

    submit(jobs_zip, "data_generator", "classification", str(tmp_path / "data"), "--rows", "2000",
           "--format", "parquet")
    submit(jobs_zip, "dl_training", str(tmp_path / "data"), "--features", "feature1,feature2", "--label", "label",
           "--processes", "2", "--epochs", "8", "--model-out", str(tmp_path / "model.pt"),
           "--metrics-out", str(tmp_path / "m"))
    metrics = read_metrics(spark, tmp_path / "m")
    assert metrics["processes"] == 2 and metrics["losses"][-1] < metrics["losses"][0]
    weights = torch.load(tmp_path / "model.pt")
    assert weights["0.weight"].shape == (64, 2)


def test_bad_arguments_fail_clearly(jobs_zip, tmp_path):
    cmd = [SPARK_SUBMIT, "--master", "local[1]", "--py-files", str(jobs_zip),
           str(PROJECT / "spark_jobs" / "classification.py"), "x.csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120, env=spark_submit_env())
    assert proc.returncode != 0
    # spark-submit's PythonRunner merges the driver's stderr into stdout.
    assert "the following arguments are required: --features, --label, --metrics-out, --model-out" in proc.stdout
    assert shutil.which("java"), "spark-submit needs java"
