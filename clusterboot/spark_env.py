"""Environment for running pip-installed PySpark's spark-submit from this Python, whatever is on PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def spark_submit_path() -> str:
    return str(spark_home() / "bin" / "spark-submit")


def spark_submit_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """SPARK_HOME and the Python interpreters pinned to this venv, so driver and workers match the client."""
    return {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        **(extra or {}),
    }
