"""PySpark jobs from the source notes, each runnable with spark-submit: spark_jobs/<job>.py --help."""
