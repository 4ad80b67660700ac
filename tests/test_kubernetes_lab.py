"""A real Kubernetes cluster on a 4-node lab (1 control plane, 3 workers), formed by `bootstrap.py` from the
offline artifacts: kubeadm init and join, Calico VXLAN, CoreDNS, kube-proxy, every image from the cluster
registry. Then: a second run changes nothing, a wiped worker rejoins alone, no secret leaks, day-2 playbooks;
last, after a reset, the cluster is formed again with cp01's power cut half-way through kubeadm init.
wk003 is also the Kafka broker (group kafka, the streaming phase): fraud detection runs on k8s:// against it.

Black box: `python bootstrap.py` in a subprocess, the cluster read with the built kubectl and the fetched
kubeconfig. Traffic goes only to the lab's own containers.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from clusterboot.artifacts import build
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import lab
from kafka_support import add_kafka_group, alert_keys_on_topic, alerted_ids, answer, local_spark_session

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

PROJECT = Path(__file__).resolve().parent.parent
NODES = ["cp01", "wk001", "wk002", "wk003"]
WORKERS = NODES[1:]
BROKER_NODE, BROKER = "wk003", "10.216.0.14:9092"


def bootstrap(inventory: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(inventory), *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def totals(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("totals: "))
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def playbook(cluster: "Cluster", name: str, *extra: str) -> subprocess.CompletedProcess:
    """A day-2 playbook as an operator runs it: ansible-playbook with the project's ansible.cfg."""
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(cluster.cfg.inventory_dir),
                           f"playbooks/{name}", *extra], cwd=PROJECT, capture_output=True, text=True, timeout=1800,
                          check=False)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP rows: {host: {ok: .., changed: .., ...}}."""
    rows = re.findall(r"^(\S+)\s+:\s+(.*)$", output[output.rindex("PLAY RECAP"):], flags=re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in rows}


class Cluster:
    def __init__(self, cfg: lab.LabConfig, first_run: subprocess.CompletedProcess) -> None:
        self.cfg = cfg
        self.first_run = first_run
        self.kubectl_bin = str(build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "bin" / "kubectl")
        self.kubeconfig = PROJECT / ".artifacts" / f"kubeconfig-{cfg.name}"

    def kubectl(self, *args: str, check: bool = True, timeout: int = 300, stdin: str | None = None) -> str:
        proc = subprocess.run([self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}{proc.stdout}")
        return proc.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def node_exec(self, node: str, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", f"{self.cfg.name}-{node}", *argv], capture_output=True, text=True,
                              check=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="k8slab", subnet="10.216.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    build.build(KUBERNETES_VERSION, build.default_cache(), log=lambda _: None)
    lab.up(cfg, nodes=len(NODES), control_planes=1, spark_manager="kubernetes", log=lambda _: None)
    add_kafka_group(cfg.inventory_dir, [BROKER_NODE])
    try:
        first = bootstrap(cfg.inventory_dir, "--no-jobs", "-vvv")
        assert first.returncode == 0, first.stdout[-6000:]
        yield Cluster(cfg, first)
    finally:
        lab.down(cfg, log=lambda _: None)


def test_every_node_is_ready_at_the_built_version(cluster: Cluster) -> None:
    nodes = cluster.json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{KUBERNETES_VERSION}"
    control = next(n for n in nodes if n["metadata"]["name"] == "cp01")
    assert "node-role.kubernetes.io/control-plane" in control["metadata"]["labels"]


def test_calico_vxlan_pool_is_the_inventory_pod_cidr_and_system_pods_run(cluster: Cluster) -> None:
    pool = cluster.json("get", "ippools.crd.projectcalico.org", "default-ipv4-ippool")["spec"]
    assert pool["cidr"] == "192.168.0.0/16"
    assert pool["vxlanMode"] == "Always" and pool.get("ipipMode", "Never") == "Never"
    pods = cluster.json("get", "pods", "-n", "kube-system")["items"]
    assert len([p for p in pods if p["metadata"]["name"].startswith("calico-node-")]) == len(NODES)
    assert len([p for p in pods if p["metadata"]["name"].startswith("kube-proxy-")]) == len(NODES)
    assert len([p for p in pods if p["metadata"]["name"].startswith("coredns-")]) == 2
    for pod in pods:
        statuses = pod["status"].get("containerStatuses", [])
        assert pod["status"]["phase"] == "Running" and all(s["ready"] for s in statuses), pod["metadata"]["name"]
    # Every image came from the cluster registry, none from the internet.
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert all(image.startswith("cp01:5000/") for image in images), images


def test_pods_on_different_workers_reach_each_other_and_a_service_by_name(cluster: Cluster) -> None:
    """An etcd server pod on every node (pulled by every node from the registry), a Service in front of them,
    and from a client pod on each worker: the server on another worker by pod IP, then the Service by DNS name."""
    tags = {i["name"]: i["tag"] for i in json.loads(
        (build.artifacts_dir(build.default_cache(), KUBERNETES_VERSION) / "manifest.json").read_text())["images"]}
    manifest = {
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "echo", "namespace": "default"},
             "spec": {"selector": {"matchLabels": {"app": "echo"}}, "template": {
                 "metadata": {"labels": {"app": "echo"}},
                 "spec": {"tolerations": [{"operator": "Exists"}], "containers": [{
                     "name": "etcd", "image": f"cp01:5000/etcd:{tags['etcd']}",
                     "command": ["etcd", "--data-dir=/tmp/etcd", "--listen-client-urls=http://0.0.0.0:2379",
                                 "--advertise-client-urls=http://127.0.0.1:2379",
                                 "--listen-peer-urls=http://127.0.0.1:2380"],
                     "readinessProbe": {"tcpSocket": {"port": 2379}}}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": "default"},
             "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 2379}]}},
        ]}
    for worker in WORKERS:
        manifest["items"].append({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"client-{worker}", "namespace": "default"},
            "spec": {"nodeName": worker, "containers": [{
                "name": "client", "image": f"cp01:5000/kube-proxy:{tags['kube-proxy']}",
                "command": ["sleep", "3600"]}]}})
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl("rollout", "status", "daemonset/echo", "--timeout=300s")
    cluster.kubectl("wait", "--for=condition=Ready", "pod", *[f"client-{w}" for w in WORKERS], "--timeout=300s")
    servers = {p["spec"]["nodeName"]: p["status"]["podIP"]
               for p in cluster.json("get", "pods", "-l", "app=echo")["items"]}
    assert sorted(servers) == NODES  # every node pulled from the registry
    # bash's /dev/tcp: the client image has no curl; an HTTP/1.0 GET of etcd's /version answers with its version.
    get = 'exec 3<>/dev/tcp/{host}/{port} && printf "GET /version HTTP/1.0\\r\\n\\r\\n" >&3 && timeout 10 cat <&3'
    for index, worker in enumerate(WORKERS):
        other = WORKERS[(index + 1) % len(WORKERS)]
        answer = cluster.kubectl("exec", f"client-{worker}", "--", "bash", "-c",
                                 get.format(host=servers[other], port=2379))
        assert '"etcdserver":"3.6' in answer, (worker, other, answer)
        answer = cluster.kubectl("exec", f"client-{worker}", "--", "bash", "-c",
                                 get.format(host="echo.default.svc.cluster.local", port=80))
        assert '"etcdserver":"3.6' in answer, (worker, answer)
    cluster.kubectl("delete", "daemonset/echo", "service/echo", *[f"pod/client-{w}" for w in WORKERS],
                    "--wait=false")


def test_verify_playbook_passes(cluster: Cluster) -> None:
    """The acceptance playbook: nodes Ready, Calico and CoreDNS available, a pod on every node from the registry
    reaches a pod on the next node and the Service by name, the spark account may create pods, claims Bound."""
    proc = playbook(cluster, "verify.yml")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap(proc.stdout)["cp01"]["failed"] == 0


def submit(cluster: "Cluster", *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", "submit", "--inventory", str(cluster.cfg.inventory_dir),
                           *args], cwd=PROJECT, capture_output=True, text=True, timeout=1800, check=False)


def test_word_count_runs_on_kubernetes_and_is_right(cluster: Cluster) -> None:
    """spark-submit to k8s://: driver and executors are pods of the project's Spark image from the cluster
    registry; data on the shared volume (the spark-data claim); the answer counted here independently."""
    data = cluster.cfg.shared_data_dir
    generate = submit(cluster, "data_generator", "--", "text", f"{data}/k8s-corpus", "--lines", "3000",
                      "--partitions", "3")
    assert generate.returncode == 0, generate.stdout[-3000:] + generate.stderr[-3000:]
    count = submit(cluster, "word_count", "--", f"{data}/k8s-corpus", f"{data}/k8s-counts")
    assert count.returncode == 0, count.stdout[-3000:] + count.stderr[-3000:]
    corpus = "".join(p.read_text() for p in sorted((data / "k8s-corpus").glob("part-*")))
    expected = Counter(w for line in corpus.splitlines() for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", line.lower()))
    counted = {}
    for part in (data / "k8s-counts").glob("part-*"):
        for line in part.read_text().splitlines():
            word, number = line.split("\t")
            counted[word] = int(number)
    assert counted == dict(expected)
    assert sum(expected.values()) == 3000 * 12
    # The driver and its executors ran as pods of the cluster registry's image; the driver succeeded.
    pods = cluster.json("get", "pods", "-n", "spark")["items"]
    driver = next(p for p in pods if p["metadata"]["name"].startswith("word-count-")
                  and p["metadata"]["labels"].get("spark-role") == "driver")
    assert driver["status"]["phase"] == "Succeeded"
    assert driver["spec"]["containers"][0]["image"].startswith("cp01:5000/")
    # While it ran, submit showed the driver's phase and its executors; at the end, the nodes that ran them,
    # read from the executor pods in the API: more than one worker.
    assert re.search(r"driver Running on wk00\d, executors running: [1-9]", count.stdout), count.stdout[-3000:]
    report = next(line for line in count.stdout.splitlines() if line.startswith("job word_count: exit 0"))
    assert f"output: {data}/k8s-counts;" in report, report
    workers = re.findall(r"(wk\d+): \d+", report.split("executors by worker: ")[1].split(";")[0])
    assert len(set(workers)) >= 2, report


def history_applications(cluster: Cluster) -> list[dict]:
    url = json.loads((PROJECT / ".artifacts" / f"spark-namespace-{cluster.cfg.name}.json").read_text())["history_url"]
    assert url.startswith("http://10.216.0."), url  # a node of this lab, never another address
    with urllib.request.urlopen(f"{url}/api/v1/applications", timeout=10) as response:
        return json.loads(response.read())


def test_the_history_server_shows_finished_jobs_from_their_event_logs(cluster: Cluster) -> None:
    """Event logs on the shared volume, read by the history server behind a node port on the lab's nodes."""
    data = cluster.cfg.shared_data_dir
    run = submit(cluster, "word_count", "--", f"{data}/k8s-corpus", f"{data}/k8s-counts-history")
    assert run.returncode == 0, run.stdout[-3000:]
    app_id = re.search(r"; app (spark-\w+);", run.stdout).group(1)
    assert f"history: http://10.216.0." in run.stdout and f"/history/{app_id}/" in run.stdout
    assert list((data / "spark-events").glob(f"*{app_id}*")), "no event log on the shared volume"
    deadline = time.monotonic() + 90  # the server rescans its folder every 5 s
    while time.monotonic() < deadline:
        apps = {a["id"]: a for a in history_applications(cluster)}
        if app_id in apps and apps[app_id]["attempts"][0]["completed"]:
            break
        time.sleep(3)
    assert app_id in apps and apps[app_id]["name"] == "WordCount", sorted(apps)


def metrics(folder: Path) -> dict:
    """The one JSON record spark_jobs.session.publish_metrics writes, read without Spark."""
    part = next(folder.glob("part-*.json"))
    return json.loads(part.read_text().splitlines()[0])


def test_classification_and_regression_run_on_kubernetes(cluster: Cluster) -> None:
    data = cluster.cfg.shared_data_dir
    steps = [
        ("data_generator", "classification", f"{data}/cls", "--rows", "3000", "--partitions", "3"),
        ("classification", f"{data}/cls", "--features", "feature1,feature2", "--label", "label",
         "--model-out", f"{data}/cls-model", "--metrics-out", f"{data}/cls-metrics"),
        ("data_generator", "regression", f"{data}/reg", "--rows", "3000", "--coefficients", "1.5,-2.0",
         "--intercept", "0.5", "--noise", "0.05", "--partitions", "3"),
        ("regression", f"{data}/reg", "--features", "feature1,feature2", "--label", "target",
         "--predictions-out", f"{data}/reg-pred", "--metrics-out", f"{data}/reg-metrics"),
    ]
    for job, *args in steps:
        proc = submit(cluster, job, "--", *args)
        assert proc.returncode == 0, f"{job}: " + proc.stdout[-3000:] + proc.stderr[-2000:]
    assert metrics(data / "cls-metrics")["accuracy"] >= 0.95
    model = json.loads(next((data / "cls-model" / "metadata").glob("part-*")).read_text())
    assert model["class"] == "org.apache.spark.ml.PipelineModel" and len(model["paramMap"]["stageUids"]) == 2
    coefficients = metrics(data / "reg-metrics")["coefficients"]
    assert coefficients == pytest.approx({"feature1": 1.5, "feature2": -2.0}, abs=0.02)
    assert (data / "reg-pred" / "_SUCCESS").exists() and list((data / "reg-pred").glob("part-*.parquet"))


def test_fraud_detection_streams_from_kafka_on_kubernetes(cluster: Cluster) -> None:
    """Payments written to wk003's broker by data_generator's pods, scored by fraud_detection's driver and
    executor pods (the Kafka connector is in the Spark image), until the topic is drained (--available-now)."""
    data = cluster.cfg.shared_data_dir
    payments, alerts = data / "k8s-payments", data / "k8s-alerts"
    generate = submit(cluster, "data_generator", "--", "transactions", str(payments), "--rows", "2000",
                      "--fraud-rate", "0.02", "--kafka-bootstrap", BROKER)
    assert generate.returncode == 0, generate.stdout[-3000:] + generate.stderr[-3000:]
    detect = submit(cluster, "fraud_detection", "--", "--bootstrap-servers", BROKER, "--alerts-path", str(alerts),
                    "--checkpoint", str(data / "k8s-checkpoints" / "alerts"), "--available-now")
    assert detect.returncode == 0, detect.stdout[-3000:] + detect.stderr[-3000:]
    assert "job fraud_detection: exit 0" in detect.stdout, detect.stdout[-3000:]
    with local_spark_session() as spark:
        frauds, rows = answer(spark, payments)
        assert rows == 2000 and 15 < len(frauds) < 70, (rows, len(frauds))
        assert sorted(alerted_ids(spark, alerts)) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(f"{cluster.cfg.name}-{BROKER_NODE}", BROKER, "fraud-alerts") == frauds


def test_a_failed_job_exits_non_zero_with_the_drivers_error_in_one_line(cluster: Cluster) -> None:
    """spark-submit itself exits 0 after a failed driver pod: submit reports the driver container's exit."""
    data = cluster.cfg.shared_data_dir
    proc = submit(cluster, "word_count", "--", f"{data}/no-such-input", f"{data}/never-written")
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


def test_a_users_own_script_runs_on_kubernetes_with_command_line_conf(cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "sum_ids.py"
    script.write_text(USER_SCRIPT)
    result = cluster.cfg.shared_data_dir / "sum-ids.txt"
    proc = submit(cluster, "--conf", "spark.sql.shuffle.partitions=3", str(script), "--", str(result))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert result.read_text() == "500500 3"
    assert "app spark-" in proc.stdout and "executors by worker: wk00" in proc.stdout


def test_a_kubeconfig_only_inventory_runs_the_spark_phase_and_a_job(cluster: Cluster, tmp_path: Path) -> None:
    """The notes' EKS path, against this lab's cluster as if someone else had built it: an inventory with its
    kubeconfig, its registry and a Docker host that can push there, and no nodes. The Spark phase makes its own
    namespace, RBAC, volume and history server through the kubeconfig alone; then a job runs in it."""
    data = cluster.cfg.shared_data_dir
    lab_vars = yaml.safe_load((cluster.cfg.inventory_dir / "group_vars" / "all.yml").read_text())
    inventory = tmp_path / "external"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        # The builder: any Docker host that can push to the registry (here the lab's first node, over SSH).
        "children": {"spark_image_builder": {"hosts": {"builder": {
            "ansible_host": "10.216.0.11", "ansible_user": "root",
            "ansible_ssh_private_key_file": str(cluster.cfg.ssh_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={cluster.cfg.known_hosts}"}}}}}}))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "cluster_name": "k8slab-external",
        "cluster_kubeconfig": str(cluster.kubeconfig),
        "cluster_shared_data_dir": str(data),
        "spark_image_registry": "cp01:5000",
        "spark_image_base_source": "local",
        "spark_namespace_name": "analytics",
        "spark_namespace_service_account": "jobs",
        "spark_namespace_host_path": str(data),
        "spark_namespace_history_node_port": 31081,
        "spark_namespace_history_address": "10.216.0.12",
        "spark_submit_pvc_mounts": [{"name": "spark-data", "claim": "spark-data", "path": str(data)}],
        "spark_submit_conf": lab_vars["spark_submit_conf"],
    }))
    check = subprocess.run([sys.executable, "bootstrap.py", "inventory", "check", "-i", str(inventory)], cwd=PROJECT,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "no problems found" in check.stdout, check.stdout + check.stderr
    first = bootstrap(inventory, "--no-jobs")
    assert first.returncode == 0, first.stdout[-5000:]
    again = bootstrap(inventory, "--no-jobs")
    assert again.returncode == 0 and totals(again.stdout)["changed"] == 0, again.stdout[-4000:]
    account = "system:serviceaccount:analytics:jobs"
    assert cluster.kubectl("auth", "can-i", "create", "pods", f"--as={account}", "-n", "analytics").strip() == "yes"
    cluster.kubectl("rollout", "status", "-n", "analytics", "deployment/spark-history", "--timeout=300s")
    env = {**os.environ, "PATH": f"{Path(cluster.kubectl_bin).parent}:{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "bootstrap.py", "submit", "--inventory", str(inventory), "word_count", "--",
                          f"{data}/k8s-corpus", f"{data}/external-counts"], cwd=PROJECT, capture_output=True,
                         text=True, timeout=1800, check=False, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "as pod analytics/word-count-" in run.stdout and "history: http://10.216.0.12:31081/" in run.stdout
    ours = sorted((data / "k8s-counts").glob("part-*"))
    theirs = sorted((data / "external-counts").glob("part-*"))
    assert theirs and sorted(line for f in theirs for line in f.read_text().splitlines()) == sorted(
        line for f in ours for line in f.read_text().splitlines())


def test_a_second_run_changes_nothing_and_does_not_rerun_kubeadm(cluster: Cluster) -> None:
    # kubeadm init and join write these; a rerun of either would rewrite them.
    written = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/config.yaml"]
    before = {n: cluster.node_exec(n, "stat", "-c", "%Y", *written[1:]).stdout for n in NODES}
    before["cp01"] += cluster.node_exec("cp01", "stat", "-c", "%Y", written[0]).stdout
    again = bootstrap(cluster.cfg.inventory_dir, "--no-jobs")
    assert again.returncode == 0, again.stdout[-4000:]
    assert totals(again.stdout)["changed"] == 0, again.stdout[-4000:]
    after = {n: cluster.node_exec(n, "stat", "-c", "%Y", *written[1:]).stdout for n in NODES}
    after["cp01"] += cluster.node_exec("cp01", "stat", "-c", "%Y", written[0]).stdout
    assert after == before


def test_no_secret_appears_in_logs_or_artifacts(cluster: Cluster) -> None:
    """The bootstrap token, the certificate key and the CA key, read from the cluster, are in no output."""
    tokens = cluster.node_exec("cp01", "kubeadm", "token", "list", "-o", "jsonpath={.token}{\"\\n\"}").stdout.split()
    ca_key = cluster.node_exec("cp01", "cat", "/etc/kubernetes/pki/ca.key").stdout
    ca_key_body = "".join(ca_key.strip().splitlines()[1:-1])
    secrets = [t for t in tokens if t] + [t.split(".")[1] for t in tokens if "." in t]
    secrets.append(ca_key_body[:64])
    assert tokens and ca_key_body
    haystacks = {"first run output (-vvv)": cluster.first_run.stdout + cluster.first_run.stderr}
    for path in (PROJECT / ".artifacts").rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000 and "facts" not in path.parts:
            haystacks[str(path)] = path.read_text(errors="replace")
    leaks = [(where, secret[:6]) for where, text in haystacks.items() for secret in secrets if secret in text]
    assert not leaks, leaks
    assert oct(cluster.kubeconfig.stat().st_mode & 0o777) == "0o600"


def test_a_failed_join_is_named_and_the_retry_command_completes_it(cluster: Cluster) -> None:
    """wk003 wiped (kubeadm reset, deleted from the API) while another process holds the kubelet's port: kubeadm
    join's own preflight refuses it, the summary names it with the retry command; once the port is free, that
    command rejoins it alone. (A port held fails in seconds; a runtime that is down costs kubeadm's 4-minute
    kubelet wait per attempt.)"""
    assert cluster.node_exec("wk003", "kubeadm", "reset", "--force").returncode == 0
    cluster.kubectl("delete", "node", "wk003")
    holder = ["python3", "-c", "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 10250)); s.listen();"
              " open('/run/port-holder.pid', 'w').write(__import__('os').getpid().__str__()); time.sleep(3600)"]
    assert subprocess.run(["docker", "exec", "-d", f"{cluster.cfg.name}-wk003", *holder], check=False).returncode == 0
    time.sleep(1)
    failed = bootstrap(cluster.cfg.inventory_dir, "--phase", "kubernetes")
    assert failed.returncode == 1, failed.stdout[-4000:]
    summary = failed.stdout[failed.stdout.index("host  "):]
    assert summary.splitlines()[1].split()[0] == "wk003", summary  # problems first
    assert "Run kubeadm join" in summary.splitlines()[1]
    hint = next(line.strip() for line in summary.splitlines() if line.strip().startswith("python bootstrap.py"))
    assert cluster.node_exec("wk003", "sh", "-c", "kill $(cat /run/port-holder.pid)").returncode == 0
    retry = subprocess.run([sys.executable, *hint.split()[1:]], cwd=PROJECT, capture_output=True, text=True,
                           timeout=1800, check=False)
    assert retry.returncode == 0, retry.stdout[-4000:]
    rows = {line.split()[0]: line.split() for line in retry.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in NODES}
    assert sorted(rows) == ["wk003"]  # the retry ran on the failed host only
    assert int(rows["wk003"][2]) > 0, retry.stdout[-3000:]
    cluster.kubectl("wait", "--for=condition=Ready", "node/wk003", "--timeout=300s")


def test_scale_adds_a_fifth_node_without_touching_the_others(cluster: Cluster) -> None:
    lab.up(cluster.cfg, nodes=len(NODES) + 1, control_planes=1, spark_manager="kubernetes", log=lambda _: None)
    proc = playbook(cluster, "scale.yml")
    assert proc.returncode == 0, proc.stdout[-4000:]
    counts = recap(proc.stdout)
    assert counts["wk004"]["changed"] > 0
    assert all(counts[node]["changed"] == 0 for node in NODES), counts
    cluster.kubectl("wait", "--for=condition=Ready", "node/wk004", "--timeout=300s")


def test_remove_node_drains_and_deletes_it(cluster: Cluster) -> None:
    proc = playbook(cluster, "remove-node.yml", "-e", "node=wk004")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "wk004" not in cluster.kubectl("get", "nodes", "-o", "name")
    assert cluster.node_exec("wk004", "test", "-e", "/etc/kubernetes/kubelet.conf").returncode != 0


def test_reset_returns_every_node_to_clean(cluster: Cluster) -> None:
    proc = playbook(cluster, "reset.yml", "-e", "reset_confirm=yes")
    assert proc.returncode == 0, proc.stdout[-4000:]
    for node in NODES:
        assert cluster.node_exec(node, "test", "-e", "/etc/kubernetes/kubelet.conf").returncode != 0, node
        # Emptied, not deleted: containerd's watch on the folder must see the next cluster's CNI config.
        assert cluster.node_exec(node, "ls", "-A", "/etc/cni/net.d").stdout == "", node
        assert cluster.node_exec(node, "crictl", "ps", "-q").stdout.strip() == "", node
    assert cluster.node_exec("cp01", "test", "-e", "/var/lib/etcd/member").returncode != 0


# Runs inside cp01 once kubeadm init has started: waits for the static-pod manifests (certificates and
# kubeconfigs written, the API server on its way, init not finished), then prints and exits.
WAIT_FOR_INIT_HALF_WAY = """
for i in $(seq 1 1200); do
  [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && { echo manifests written; exit 0; }
  sleep 0.1
done
echo init never wrote its manifests; exit 1
"""


def test_after_a_reset_an_init_cut_by_a_power_loss_is_finished_by_the_retry(cluster: Cluster) -> None:
    """Runs after the reset above. The kubernetes phase forms the cluster again from reset nodes, and cp01 loses
    power half-way through kubeadm init. Once it is back, the retry command the summary printed tells the
    half-done init (kubeconfigs, no kube-proxy) from a finished one, resets it and inits again; a full rerun then
    changes nothing and every node is Ready. Without reset's removal of the init marker, the retry would skip
    init and fail."""
    inventory = str(cluster.cfg.inventory_dir)
    run = subprocess.Popen([sys.executable, "bootstrap.py", "--inventory", inventory, "--phase", "kubernetes"],
                           cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, cut = [], None
    for line in run.stdout:
        lines.append(line)
        if line.strip() == "task: Run kubeadm init" and cut is None:
            cut = cluster.node_exec("cp01", "sh", "-c", WAIT_FOR_INIT_HALF_WAY)
            subprocess.run(["docker", "kill", f"{cluster.cfg.name}-cp01"], check=True, capture_output=True)
    output = "".join(lines)
    assert run.wait(timeout=900) == 1, output[-4000:]
    assert cut is not None and cut.returncode == 0, (cut, output[-4000:])
    summary = output[output.index("host  "):]
    assert summary.splitlines()[1].split()[0] == "cp01", summary  # problems first
    hint = next(line.strip() for line in summary.splitlines() if line.strip().startswith("python bootstrap.py"))

    subprocess.run(["docker", "start", f"{cluster.cfg.name}-cp01"], check=True, capture_output=True)
    cp01_ip = str(ipaddress.ip_network(cluster.cfg.subnet).network_address + 11)
    deadline = time.monotonic() + 180
    while not lab._ssh_answers(cluster.cfg, cp01_ip) and time.monotonic() < deadline:
        time.sleep(1)
    # Half done for real: kubeadm's kubeconfigs are there, its marker of a finished init is not.
    assert cluster.node_exec("cp01", "test", "-e", "/etc/kubernetes/admin.conf").returncode == 0
    assert cluster.node_exec("cp01", "test", "-e", "/etc/kubernetes/clusterboot-initialized").returncode != 0
    half_done_ca = cluster.node_exec("cp01", "cat", "/etc/kubernetes/pki/ca.crt").stdout

    retry = subprocess.run([sys.executable, *hint.split()[1:]], cwd=PROJECT, capture_output=True, text=True,
                           timeout=1800, check=False)
    assert retry.returncode == 0, retry.stdout[-4000:]
    # Reset and done again: kubeadm reset removed the half-done init's CA, the new init made another.
    assert half_done_ca and cluster.node_exec("cp01", "cat", "/etc/kubernetes/pki/ca.crt").stdout != half_done_ca
    rerun = bootstrap(cluster.cfg.inventory_dir, "--phase", "kubernetes")
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    if totals(rerun.stdout)["changed"] != 0:  # the retry covered only the hosts the first run failed
        rerun = bootstrap(cluster.cfg.inventory_dir, "--phase", "kubernetes")
        assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert totals(rerun.stdout)["changed"] == 0, rerun.stdout[-4000:]
    cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=300s")
    assert cluster.node_exec("cp01", "test", "-e", "/etc/kubernetes/clusterboot-initialized").returncode == 0
