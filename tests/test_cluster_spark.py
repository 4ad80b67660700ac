"""Spark on `k8s://` on the shared cluster (tests/shared_cluster.py): the seed's jobs submitted by `bootstrap.py
submit`, driver and executors as pods of the project's Spark image from the cluster registry, data on the shared
volume (the spark-data claim), every answer computed here independently; the history server; a failed job's
exit and error; a user's own script; the notes' EKS path (an inventory with only a kubeconfig).

Each test makes its own output folders; the corpus and its word count are module fixtures, made once for the
tests that read them, so any subset of these tests proves the same as all of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import browser
from clusterboot import settings
from shared_cluster import ADDRESSES, PROJECT, SUBNET, SharedCluster, totals

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

SUBNET_PREFIX = SUBNET.rsplit(".", 2)[0] + "."  # "10.228.0."
CORPUS_LINES = 3000


def read_counts(folder: Path) -> dict[str, int]:
    counted = {}
    for part in folder.glob("part-*"):
        for line in part.read_text().splitlines():
            word, number = line.split("\t")
            counted[word] = int(number)
    return counted


@pytest.fixture(scope="module")
def corpus(shared_cluster: SharedCluster) -> Path:
    """A generated text corpus on the shared volume, written by the data generator's pods."""
    folder = shared_cluster.data / "k8s-corpus"
    generate = shared_cluster.submit("data_generator", "--", "text", str(folder), "--lines", str(CORPUS_LINES),
                                     "--partitions", "3")
    assert generate.returncode == 0, generate.stdout[-3000:] + generate.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def word_count(shared_cluster: SharedCluster, corpus: Path) -> tuple[Path, subprocess.CompletedProcess, dict]:
    """The corpus counted by word_count on Kubernetes: its output folder, the submit run and its driver pod as
    the API had it then (later submissions delete finished drivers beyond spark_submit_keep_finished_drivers)."""
    out = shared_cluster.data / "k8s-counts"
    run = shared_cluster.submit("word_count", "--", str(corpus), str(out))
    app = re.search(r"; app (spark-\w+);", run.stdout)
    pods = shared_cluster.json("get", "pods", "-n", "spark", "-l",
                               f"spark-app-selector={app.group(1)},spark-role=driver")["items"] if app else []
    return out, run, pods[0] if pods else {}


def test_word_count_runs_on_kubernetes_and_is_right(shared_cluster: SharedCluster, corpus: Path, word_count) -> None:
    """spark-submit to k8s://: driver and executors are pods of the project's Spark image from the cluster
    registry; the answer counted here independently."""
    out, count, driver = word_count
    assert count.returncode == 0, count.stdout[-3000:] + count.stderr[-3000:]
    text = "".join(p.read_text() for p in sorted(corpus.glob("part-*")))
    expected = Counter(w for line in text.splitlines() for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", line.lower()))
    assert read_counts(out) == dict(expected)
    assert sum(expected.values()) == CORPUS_LINES * 12
    # The driver and its executors ran as pods of the cluster registry's image; the driver succeeded.
    assert driver["metadata"]["name"].startswith("word-count-") and driver["status"]["phase"] == "Succeeded"
    assert driver["spec"]["containers"][0]["image"].startswith("cp01:5000/")
    # While it ran, submit showed the driver's phase and its executors; at the end, the nodes that ran them,
    # read from the executor pods in the API: more than one node.
    assert re.search(r"driver Running on \w+, executors running: [1-9]", count.stdout), count.stdout[-3000:]
    report = next(line for line in count.stdout.splitlines() if line.startswith("job word_count: exit 0"))
    assert f"output: {out};" in report, report
    nodes = re.findall(r"(\w+): \d+", report.split("executors by worker: ")[1].split(";")[0])
    assert len(set(nodes)) >= 2, report


def history_url(cluster: SharedCluster) -> str:
    url = json.loads((PROJECT / ".artifacts" / f"spark-namespace-{cluster.cfg.name}.json").read_text())["history_url"]
    assert url.startswith(f"http://{SUBNET_PREFIX}"), url  # a node of this lab, never another address
    return url


def history_applications(cluster: SharedCluster) -> list[dict]:
    with urllib.request.urlopen(f"{history_url(cluster)}/api/v1/applications", timeout=10) as response:
        return json.loads(response.read())


def test_the_history_server_shows_finished_jobs_from_their_event_logs(shared_cluster: SharedCluster,
                                                                      word_count) -> None:
    """Event logs on the shared volume, read by the history server behind a node port on the lab's nodes."""
    cluster = shared_cluster
    _, run, _ = word_count
    assert run.returncode == 0, run.stdout[-3000:]
    app_id = re.search(r"; app (spark-\w+);", run.stdout).group(1)
    assert f"history: http://{SUBNET_PREFIX}" in run.stdout and f"/history/{app_id}/" in run.stdout
    assert list((cluster.data / "spark-events").glob(f"*{app_id}*")), "no event log on the shared volume"
    deadline = time.monotonic() + 90  # the server rescans its folder every 5 s
    while time.monotonic() < deadline:
        apps = {a["id"]: a for a in history_applications(cluster)}
        if app_id in apps and apps[app_id]["attempts"][0]["completed"]:
            break
        time.sleep(3)
    assert app_id in apps and apps[app_id]["name"] == "WordCount", sorted(apps)
    # And in a browser: the server's list, which its page's script fetches, then the job's stages page; the
    # screenshots stay in the job's run folder beside its driver log.
    url, run_folder = history_url(cluster), Path(re.search(r"driver log: (\S+?);", run.stdout).group(1)).parent
    listing = browser.rendered(f"{url}/", screenshot=run_folder / "history-server.png")
    assert app_id in listing and "WordCount" in listing, listing[:2000]
    stages = browser.rendered(f"{url}/history/{app_id}/stages/", screenshot=run_folder / "history-stages.png")
    completed = re.search(r"Completed Stages:? \(?(\d+)", stages)
    assert completed and int(completed.group(1)) >= 2, stages[:2000]  # the words read, then counted
    assert (run_folder / "history-stages.png").stat().st_size > 10_000


def metrics(folder: Path) -> dict:
    """The one JSON record spark_jobs.session.publish_metrics writes, read without Spark."""
    part = next(folder.glob("part-*.json"))
    return json.loads(part.read_text().splitlines()[0])


def test_classification_and_regression_run_on_kubernetes(shared_cluster: SharedCluster) -> None:
    """Both ML jobs on `k8s://`, submitted side by side as two users would, sharing the executors. Their data is
    generated here, by the generator's own code in a local Spark (its pods already wrote the corpus and the Kafka
    payments): two submissions fewer on two shared cores."""
    cluster = shared_cluster
    data = cluster.data
    generated = [
        ("classification", f"{data}/cls", "--rows", "3000", "--partitions", "3"),
        ("regression", f"{data}/reg", "--rows", "3000", "--coefficients", "1.5,-2.0", "--intercept", "0.5",
         "--noise", "0.05", "--partitions", "3"),
    ]
    jobs = [
        ("classification", f"{data}/cls", "--features", "feature1,feature2", "--label", "label",
         "--model-out", f"{data}/cls-model", "--metrics-out", f"{data}/cls-metrics"),
        ("regression", f"{data}/reg", "--features", "feature1,feature2", "--label", "target",
         "--predictions-out", f"{data}/reg-pred", "--metrics-out", f"{data}/reg-metrics"),
    ]

    def generate(args: tuple[str, ...]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "spark_jobs.data_generator", *args, "--master", "local[1]"],
                              cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False)

    def submit(job: tuple[str, ...]) -> str:
        proc = cluster.submit(job[0], "--", *job[1:])
        return "" if proc.returncode == 0 else f"{job[0]}: " + proc.stdout[-3000:] + proc.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        for proc in pool.map(generate, generated):
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        failures = [f for f in pool.map(submit, jobs) if f]
    assert not failures, "\n".join(failures)
    assert metrics(data / "cls-metrics")["accuracy"] >= 0.95
    model = json.loads(next((data / "cls-model" / "metadata").glob("part-*")).read_text())
    assert model["class"] == "org.apache.spark.ml.PipelineModel" and len(model["paramMap"]["stageUids"]) == 2
    coefficients = metrics(data / "reg-metrics")["coefficients"]
    assert coefficients == pytest.approx({"feature1": 1.5, "feature2": -2.0}, abs=0.02)
    assert (data / "reg-pred" / "_SUCCESS").exists() and list((data / "reg-pred").glob("part-*.parquet"))


def test_a_failed_job_exits_non_zero_with_the_drivers_error_in_one_line(shared_cluster: SharedCluster) -> None:
    """spark-submit itself exits 0 after a failed driver pod: submit reports the driver container's exit."""
    cluster = shared_cluster
    data = cluster.data
    proc = cluster.submit("word_count", "--", f"{data}/no-such-input", f"{data}/never-written")
    assert proc.returncode == 1, proc.stdout[-3000:]
    report = next(line for line in proc.stdout.splitlines() if line.startswith("job word_count: exit "))
    assert "error: " in report and "PATH_NOT_FOUND" in report, report
    assert "driver log: " in report and "Traceback" not in proc.stderr


USER_SCRIPT = """import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
total = spark.range(1, 1001).groupBy().sum("id").collect()[0][0]
with open(sys.argv[1], "w") as out:
    out.write(f"{total} {spark.conf.get('spark.sql.shuffle.partitions')}")
"""


def test_a_users_own_script_runs_on_kubernetes_with_command_line_conf(shared_cluster: SharedCluster,
                                                                      tmp_path: Path) -> None:
    cluster = shared_cluster
    script = tmp_path / "sum_ids.py"
    script.write_text(USER_SCRIPT)
    result = cluster.data / "sum-ids.txt"
    proc = cluster.submit("--conf", "spark.sql.shuffle.partitions=3", str(script), "--", str(result))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert result.read_text() == "500500 3"
    assert "app spark-" in proc.stdout and "executors by worker: wk00" in proc.stdout


def test_a_kubeconfig_only_inventory_runs_the_spark_phase_and_a_job(shared_cluster: SharedCluster, tmp_path: Path,
                                                                    corpus: Path, word_count) -> None:
    """The notes' EKS path, against this lab's cluster as if someone else had built it: an inventory with its
    kubeconfig, its registry and a Docker host that can push there, and no nodes. The Spark phase makes its own
    namespace, RBAC, volume and history server through the kubeconfig alone; then a job runs in it."""
    cluster = shared_cluster
    data = cluster.data
    lab_vars = yaml.safe_load((cluster.cfg.inventory_dir / "group_vars" / "all.yml").read_text())
    inventory = tmp_path / "external"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        # The builder: any Docker host that can push to the registry (here the lab's first node, over SSH).
        "children": {"spark_image_builder": {"hosts": {"builder": {
            "ansible_host": ADDRESSES["cp01"], "ansible_user": "root",
            "ansible_ssh_private_key_file": str(cluster.cfg.ssh_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={cluster.cfg.known_hosts}"}}}}}}))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "cluster_name": f"{cluster.cfg.name}-external",
        "cluster_kubeconfig": str(cluster.kubeconfig),
        "cluster_shared_data_dir": str(data),
        "spark_image_registry": "cp01:5000",
        # The builder is cp01, whose root the registry role logged in to the push side on its loopback.
        "spark_image_push_registry": f"127.0.0.1:{settings.declared_defaults()['cluster_registry_push_port']}",
        "spark_image_base_source": "local",
        "spark_namespace_name": "analytics",
        "spark_namespace_service_account": "jobs",
        "spark_namespace_host_path": str(data),
        "spark_namespace_history_node_port": 31081,
        "spark_namespace_history_address": ADDRESSES["wk001"],
        "spark_submit_pvc_mounts": [{"name": "spark-data", "claim": "spark-data", "path": str(data)}],
        "spark_submit_conf": lab_vars["spark_submit_conf"],
        "spark_submit_keep_finished_drivers": 0,  # a busy namespace's housekeeping, taken to its end
    }))
    check = subprocess.run([sys.executable, "bootstrap.py", "inventory", "check", "-i", str(inventory)], cwd=PROJECT,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "no problems found" in check.stdout, check.stdout + check.stderr
    first = cluster.bootstrap("--no-jobs", inventory=inventory)
    assert first.returncode == 0, first.stdout[-5000:]
    again = cluster.bootstrap("--no-jobs", inventory=inventory)
    assert again.returncode == 0 and totals(again.stdout)["changed"] == 0, again.stdout[-4000:]
    account = "system:serviceaccount:analytics:jobs"
    assert cluster.kubectl("auth", "can-i", "create", "pods", f"--as={account}", "-n", "analytics").strip() == "yes"
    cluster.kubectl("rollout", "status", "-n", "analytics", "deployment/spark-history", "--timeout=300s")
    env = {**os.environ, "PATH": f"{Path(cluster.kubectl_bin).parent}:{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "bootstrap.py", "submit", "--inventory", str(inventory), "word_count", "--",
                          str(corpus), f"{data}/external-counts"], cwd=PROJECT, capture_output=True,
                         text=True, timeout=1800, check=False, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "as pod analytics/word-count-" in run.stdout and f"history: http://{ADDRESSES['wk001']}:31081/" in run.stdout
    # Deleted once its log was kept: the driver pod, and with it (by owner) the Service Spark made for it.
    driver_pod = re.search(r"as pod analytics/(\S+),", run.stdout).group(1)
    assert "deleted 1 finished driver pod(s)" in run.stdout, run.stdout[-3000:]
    assert "output: " in Path(re.search(r"driver log: (\S+?);", run.stdout).group(1)).read_text()
    deadline = time.monotonic() + 120
    while owned_by(cluster, "analytics", driver_pod) and time.monotonic() < deadline:
        time.sleep(2)
    assert not owned_by(cluster, "analytics", driver_pod)
    ours = sorted(word_count[0].glob("part-*"))
    theirs = sorted((data / "external-counts").glob("part-*"))
    assert theirs and sorted(line for f in theirs for line in f.read_text().splitlines()) == sorted(
        line for f in ours for line in f.read_text().splitlines())
    cluster.kubectl("delete", "namespace", "analytics", "--wait=false")


def owned_by(cluster: SharedCluster, namespace: str, pod: str) -> list[str]:
    """The pod itself and the Services and ConfigMaps it owns, while they exist."""
    items = cluster.json("get", "pods,services,configmaps", "-n", namespace)["items"]
    return [f"{i['kind']}/{i['metadata']['name']}" for i in items
            if i["metadata"]["name"] == pod and i["kind"] == "Pod"
            or any(o.get("name") == pod for o in i["metadata"].get("ownerReferences", []))]


def test_the_spark_namespace_refuses_a_privileged_pod(shared_cluster: SharedCluster) -> None:
    """Pod Security Admission at `restricted`: what a job's code could otherwise ask the API for (a privileged pod
    with the node's root filesystem mounted) is refused by the API server, even for the cluster admin."""
    cluster = shared_cluster
    image = json.loads((PROJECT / ".artifacts" / f"spark-image-{cluster.cfg.name}.json").read_text())["reference"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escape", "namespace": "spark"},
           "spec": {"containers": [{"name": "shell", "image": image, "command": ["sleep", "60"],
                                    "securityContext": {"privileged": True},
                                    "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
                    "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
    proc = subprocess.run([cluster.kubectl_bin, "--kubeconfig", str(cluster.kubeconfig), "apply", "--dry-run=server",
                           "-f", "-"], input=json.dumps(pod), capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr


def test_submit_credentials_and_job_accounts_reach_only_the_spark_namespace(shared_cluster: SharedCluster,
                                                                           word_count) -> None:
    """submit's kubeconfig (the spark-submitter account, 0600) may start drivers in the namespace and nothing
    else; drivers may manage only their own namespace; executors may do nothing; the word count's driver ran as
    the drivers' account, as a non-root user."""
    cluster = shared_cluster
    record = json.loads((PROJECT / ".artifacts" / f"spark-namespace-{cluster.cfg.name}.json").read_text())
    submitter = Path(record["kubeconfig"])
    assert oct(submitter.stat().st_mode & 0o777) == "0o600"

    def can(kubeconfig: Path, *args: str) -> str:
        return subprocess.run([cluster.kubectl_bin, "--kubeconfig", str(kubeconfig), "auth", "can-i", *args],
                              capture_output=True, text=True, check=False).stdout.strip()

    assert can(submitter, "create", "pods", "-n", "spark") == "yes"
    for denied in (["get", "secrets", "-n", "spark"], ["get", "secrets", "-n", "kube-system"], ["list", "nodes"],
                   ["create", "pods", "-n", "default"], ["create", "rolebindings", "-n", "spark"]):
        assert can(submitter, *denied) == "no", denied
    driver, executor = (f"system:serviceaccount:spark:{record[key]}" for key in ("service_account",
                                                                                "executor_service_account"))
    assert can(cluster.kubeconfig, "create", "pods", "-n", "spark", f"--as={driver}") == "yes"
    assert can(cluster.kubeconfig, "create", "pods", "-n", "kube-system", f"--as={driver}") == "no"
    assert can(cluster.kubeconfig, "get", "pods", "-n", "spark", f"--as={executor}") == "no"
    pod = word_count[2]
    assert pod["spec"]["serviceAccountName"] == record["service_account"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
