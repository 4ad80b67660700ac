"""The spark-submit arguments generated for inventory/lab100, checked against Spark-on-Kubernetes needs."""

import os
import re
import shlex
import subprocess
import time
from pathlib import Path, PurePosixPath

import jinja2
import pytest
import yaml

from clusterboot import inventory, runner, submit

PROJECT = Path(__file__).resolve().parent.parent
LAB100 = PROJECT / "inventory" / "lab100"
SPARK_IMAGE_ROLE = PROJECT / "roles" / "spark_image"
IMAGE = "cp01:5000/spark:0123456789abcdef"
TARGET = submit.KubernetesTarget(image=IMAGE, image_bytes=10**9, namespace="spark-jobs", service_account="driver",
                                 executor_service_account="executor",
                                 kubeconfig=Path("/home/op/.artifacts/kubeconfig-lab100-spark-jobs"),
                                 pod_template=Path("/home/op/.artifacts/spark-pod-template-lab100.yaml"),
                                 event_log_dir="/srv/spark-data/spark-events", history_url="http://10.20.0.11:31080")


@pytest.fixture(scope="module")
def lab100() -> submit.Cluster:
    return submit.Cluster.from_inventory(*inventory.load(LAB100))


def confs(args: list[str]) -> dict[str, str]:
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


def test_kubernetes_arguments_for_lab100(lab100):
    args = submit.kubernetes_submit_args(lab100, "word_count", ["/srv/spark-data/in", "/srv/spark-data/out"], TARGET)
    assert args[:6] == ["--master", "k8s://https://10.20.0.11:6443", "--deploy-mode", "cluster", "--name", "word-count"]
    conf = confs(args)
    # Namespace, account and event logs are what the spark_namespace role recorded, not defaults retyped here.
    assert conf["spark.kubernetes.namespace"] == "spark-jobs"
    assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == "driver"
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "executor"
    for role in ("driver", "executor"):  # the template that meets the namespace's Pod Security level
        assert conf[f"spark.kubernetes.{role}.podTemplateFile"] == "/home/op/.artifacts/spark-pod-template-lab100.yaml"
    assert conf["spark.eventLog.enabled"] == "true"
    assert conf["spark.eventLog.dir"] == "file:///srv/spark-data/spark-events"
    assert conf["spark.kubernetes.container.image"] == IMAGE
    assert conf["spark.kubernetes.container.image.pullPolicy"] == "IfNotPresent"
    assert conf["spark.kubernetes.submission.waitAppCompletion"] == "true"
    # The mark prune_finished_drivers looks for: it deletes no one else's driver.
    assert conf["spark.kubernetes.driver.label.app.kubernetes.io/managed-by"] == "clusterboot"
    assert conf["spark.executor.instances"] == "99"
    for role in ("driver", "executor"):
        prefix = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.spark-data"
        assert conf[f"{prefix}.options.claimName"] == "spark-data"
        assert conf[f"{prefix}.mount.path"] == "/srv/spark-data"
    # The application is a path inside the image, followed by the job's own arguments.
    assert args[-3:] == ["local:///opt/spark/jobs/spark_jobs/word_count.py", "/srv/spark-data/in", "/srv/spark-data/out"]


@pytest.mark.parametrize("job", ["word_count", "classification", "regression", "dl_training", "data_generator"])
def test_app_and_driver_pod_names_are_dns_labels(lab100, job):
    conf = confs(submit.kubernetes_submit_args(lab100, job, [], TARGET))
    for name in (submit.app_name(job), conf["spark.kubernetes.driver.pod.name"]):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63


def image_files(base_source: str) -> set[str]:
    """The files the spark_image role puts in the image, from its own tasks and Dockerfile template.

    The build context is what image.yml's copy tasks put under the context folder (a src ending in / copies
    the folder's contents); then each COPY of the rendered Dockerfile takes a context path into the image.
    """
    context_root = "{{ spark_image_build_dir }}/context/"
    context: dict[str, Path] = {}  # context-relative path -> controller file
    for task in yaml.safe_load((SPARK_IMAGE_ROLE / "tasks" / "image.yml").read_text()):
        copy = task.get("ansible.builtin.copy")
        if not copy or "src" not in copy or not copy["dest"].startswith(context_root):
            continue
        src = Path(jinja2.Template(copy["src"]).render(playbook_dir=PROJECT / "playbooks",
                                                       pyspark_wheel_dir=PROJECT / "no-wheels",
                                                       spark_kafka_jars_manifest={"folder": PROJECT / "no-jars"}))
        dest = copy["dest"][len(context_root):].rstrip("/")
        if src.is_dir():
            for file in src.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    context[f"{dest}/{file.relative_to(src)}"] = file
        elif src.is_file():
            context[dest] = src
    dockerfile = jinja2.Template((SPARK_IMAGE_ROLE / "templates" / "Dockerfile.j2").read_text()).render(
        spark_image_base_source=base_source, spark_image_from="base", pyspark_wheel_version="0")
    files = set()
    for line in dockerfile.splitlines():
        if not line.startswith("COPY "):
            continue
        *sources, target = shlex.split(line)[1:]
        for source in sources:
            source = source.rstrip("/")
            for path in context:
                if path == source:
                    files.add(str(PurePosixPath(target, path.rsplit("/", 1)[-1]) if target.endswith("/") else target))
                elif path.startswith(source + "/"):
                    files.add(str(PurePosixPath(target, path[len(source) + 1:])))
    return files


@pytest.mark.parametrize("base_source", ["local", "upstream"])
def test_every_job_is_baked_into_the_image_where_submit_points(lab100, base_source):
    files = image_files(base_source)
    assert submit.available_jobs() == ["classification", "data_generator", "dl_training", "fraud_detection", "regression",
                                      "word_count"]
    for job in submit.available_jobs():
        app = submit.kubernetes_submit_args(lab100, job, [], TARGET)[-1]
        assert app.startswith("local://") and app[len("local://"):] in files, f"{app} is not in the image"
    # The modules the jobs import come along too.
    for module in ("__init__", "session", "ml_common"):
        assert f"{submit.IMAGE_JOBS_DIR}/{module}.py" in files


def test_standalone_arguments(tmp_path):
    cluster = submit.Cluster(name="t", manager="standalone", master_ip="127.0.0.1", worker_ips={},
                             settings={"spark_submit_executor_memory": "512m"})
    args = submit.standalone_submit_args(cluster, "word_count", ["in", "out"], tmp_path / "jobs.zip")
    conf = confs(args)
    assert args[:4] == ["--master", "spark://127.0.0.1:7077", "--deploy-mode", "client"]
    assert conf["spark.driver.host"] == "127.0.0.1"  # the controller's address on the route to the master
    assert conf["spark.pyspark.python"] == "/opt/spark/venv/bin/python"
    assert conf["spark.executor.memory"] == "512m"
    assert args[-3:] == [str(submit.JOBS_DIR / "word_count.py"), "in", "out"]


def test_a_users_own_script_reaches_the_driver_through_the_shared_folder(lab100, tmp_path):
    script = tmp_path / "my-job.py"
    script.write_text("print('hello')\n")
    helper = tmp_path / "helpers.py"
    helper.write_text("X = 1\n")
    args = submit.kubernetes_submit_args(lab100, str(script), ["a"], TARGET, py_files=[helper])
    conf = confs(args)
    assert conf["spark.kubernetes.file.upload.path"] == "file:///srv/spark-data/.spark-uploads"
    assert args[args.index("--py-files") + 1] == str(helper)
    assert args[-2:] == [str(script), "a"]
    assert args[args.index("--name") + 1] == "my-job"


def test_command_line_conf_overrides_the_inventorys(lab100):
    cluster = submit.Cluster(name="t", manager="kubernetes", master_ip="10.0.0.1", worker_ips={},
                             settings={**lab100.settings, "spark_submit_conf": {"spark.executor.memory": "3g",
                                                                                "spark.sql.shuffle.partitions": 8}})
    conf = confs(submit.kubernetes_submit_args(cluster, "word_count", [], TARGET,
                                               extra_conf={"spark.sql.shuffle.partitions": "16"}))
    assert conf["spark.executor.memory"] == "3g"  # the inventory's over the built-in default
    assert conf["spark.sql.shuffle.partitions"] == "16"  # the command line's over the inventory's
    # Pods run the image's Python, never this machine's venv path.
    assert conf["spark.pyspark.python"] == conf["spark.pyspark.driver.python"] == "python3"


def test_a_failed_drivers_error_is_one_line():
    log = """26/11/26 14:43:44 WARN FileStreamSink: Assume no metadata directory. Error while looking for metadata
java.io.FileNotFoundException: File /data/missing does not exist
\tat org.apache.spark.sql.execution.QueryExecution$.withInternalError(QueryExecution.scala:927)
Traceback (most recent call last):
  File "/opt/spark/jobs/spark_jobs/word_count.py", line 60, in <module>
pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] Path does not exist: file:/data/missing.
26/11/26 14:43:45 INFO ShutdownHookManager: Shutdown hook called
"""
    assert submit.last_error_line(log) == ("pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] "
                                           "Path does not exist: file:/data/missing.")
    assert submit.last_error_line("all fine\n") == ""


def test_the_report_names_where_the_job_wrote_its_results():
    log = "26/11/26 INFO SparkContext: Running Spark\nmetrics: {'r2': 0.99}\noutput: /data/pred, /data/metrics\n"
    assert submit.announced_outputs(log) == "/data/pred, /data/metrics"
    result = submit.SubmitResult(0, Path("/a/driver.log"), 3.0, "spark-1", {"wk001": 2}, outputs="/data/pred")
    assert submit.report("regression", result) == ("job regression: exit 0 after 3.0s; app spark-1; executors by "
                                                   "worker: wk001: 2; driver log: /a/driver.log; output: /data/pred")
    assert submit.announced_outputs("no such line\n") == ""


def test_two_submits_of_one_job_in_the_same_second_get_their_own_driver_pods():
    started = time.time()
    names = {submit.driver_pod_name("a-job-name-longer-than-the-forty-characters-kept", started) for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) and len(n) <= 63 for n in names), names


def test_two_runs_started_in_the_same_second_get_their_own_artifacts_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "ARTIFACTS_DIR", tmp_path)
    monkeypatch.setattr(runner.time, "strftime", lambda _: "20261206-170145")
    first = runner.new_artifacts_dir("submit-word-count")
    # Another process's folder appearing between a look and a mkdir: stood for by a look that answers "not there".
    monkeypatch.setattr(Path, "exists", lambda _: False)
    second = runner.new_artifacts_dir("submit-word-count")
    assert (first.name, second.name) == ("20261206-170145-submit-word-count", "20261206-170145-submit-word-count-2")


def test_pruning_keeps_the_newest_runs_and_any_run_still_under_way(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "ARTIFACTS_DIR", tmp_path)
    monkeypatch.setattr(runner, "KEEP_RUNS", 3)
    monkeypatch.setattr(runner.time, "strftime", lambda _: "20261206-140000")
    sleeper = subprocess.Popen(["sleep", "60"])  # another terminal's run, still going
    me = f"{os.getpid()} {runner._started(os.getpid())}\n"
    try:
        for name, owner in (("20261206-100000-site", f"{sleeper.pid} {runner._started(sleeper.pid)}\n"),
                            # this PID, started at another time: a PID reused after its run's process exited
                            ("20261206-103000-render", f"{os.getpid()} 1\n"),
                            ("20261206-105000-site", None),  # from before owner files
                            ("20261206-110000-site", me),
                            ("20261206-120000-site", None)):
            (tmp_path / name).mkdir()
            if owner:
                (tmp_path / name / runner.OWNER_FILE).write_text(owner)
        new = runner.new_artifacts_dir("site")
        assert (new / runner.OWNER_FILE).read_text() == me
        # The three oldest are past the newest 3 (the new one counted); the oldest's process still runs.
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "20261206-100000-site", "20261206-110000-site", "20261206-120000-site", "20261206-140000-site"]
        sleeper.kill()
        sleeper.wait()
        runner.new_artifacts_dir("site")  # now the oldest goes; the next is this process's, which still runs
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "20261206-110000-site", "20261206-120000-site", "20261206-140000-site", "20261206-140000-site-2"]
    finally:
        sleeper.kill()


def driver(name: str, created: str, phase: str) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"phase": phase}}


def test_finished_drivers_beyond_the_newest_kept_are_deleted_and_running_ones_never():
    pods = [driver("old", "2026-12-07T10:00:00Z", "Succeeded"), driver("failed", "2026-12-07T11:00:00Z", "Failed"),
            driver("running", "2026-12-07T09:00:00Z", "Running"), driver("new", "2026-12-07T12:00:00Z", "Succeeded"),
            driver("pending", "2026-12-07T08:00:00Z", "Pending")]
    assert submit.finished_drivers_to_delete(pods, 1) == ["failed", "old"]
    assert submit.finished_drivers_to_delete(pods, 0) == ["new", "failed", "old"]
    assert submit.finished_drivers_to_delete(pods, 3) == []
