"""Submit a PySpark job from spark_jobs/ to the cluster the inventory describes, and report its outcome."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from clusterboot import settings as role_settings
from clusterboot import usage
from clusterboot.errors import RunFailed, UserError
from clusterboot.inventory import is_external
from clusterboot.paths import JOBS_DIR
from clusterboot.runner import new_artifacts_dir
from clusterboot.spark_env import spark_submit_env, spark_submit_path

IMAGE_JOBS_DIR = "/opt/spark/jobs/spark_jobs"  # where the spark_image role bakes the jobs in
MANAGED_BY = "app.kubernetes.io/managed-by"  # the label that marks a driver pod clusterboot submitted


@dataclass(frozen=True)
class Cluster:
    """What submission needs from the inventory; settings are the control plane's variables over the declared
    defaults (roles/preflight/meta/argument_specs.yml, entry point inventory)."""

    name: str
    manager: str
    master_ip: str
    worker_ips: dict[str, str]
    settings: dict
    api_server: str = ""  # Kubernetes: https://host:port
    kubeconfig: Path = Path()

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", role_settings.with_defaults(self.settings))

    @classmethod
    def from_inventory(cls, hostvars: dict[str, dict], groups: dict[str, list[str]]) -> Cluster:
        if is_external(hostvars):
            # A cluster we did not build: its kubeconfig says where the API is.
            settings = hostvars["localhost"]
            kubeconfig = Path(str(settings["cluster_kubeconfig"])).expanduser().resolve()
            return cls(name=settings["cluster_name"], manager="kubernetes", master_ip="", worker_ips={},
                       settings=settings, api_server=api_server_of(kubeconfig), kubeconfig=kubeconfig)
        control_plane = groups["control_plane"][0]
        settings = role_settings.with_defaults(hostvars[control_plane])  # for the kubeconfig's path below
        kubeconfig = Path(role_settings.role_setting("control_plane", "control_plane_kubeconfig_local",
                                                     settings)).resolve()
        # The control_plane role's kubeconfig names the API's stable address (the VIP with several control
        # planes); before it exists, the address it will name.
        api_server = api_server_of(kubeconfig) if kubeconfig.is_file() else \
            f"https://{settings.get('cluster_control_plane_vip') or settings['node_ip']}:{settings['cluster_api_port']}"
        return cls(
            name=settings["cluster_name"], manager=settings.get("cluster_spark_manager", "kubernetes"),
            master_ip=str(settings["node_ip"]),
            worker_ips={h: str(hostvars[h]["node_ip"]) for h in groups.get("workers", [])}, settings=settings,
            api_server=api_server, kubeconfig=kubeconfig,
        )


def api_server_of(kubeconfig: Path) -> str:
    """The server of the kubeconfig's current context."""
    try:
        config = yaml.safe_load(kubeconfig.read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        return next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"])
    except (OSError, yaml.YAMLError, KeyError, StopIteration, TypeError) as err:
        raise UserError(f"{kubeconfig}: no server for its current context ({err!r}); "
                        "check cluster_kubeconfig") from None


@dataclass(frozen=True)
class KubernetesTarget:
    """What the spark_image and spark_namespace roles recorded under .artifacts/ for submission."""

    image: str
    image_bytes: int
    namespace: str
    service_account: str  # the drivers'
    executor_service_account: str
    kubeconfig: Path  # the submitter's, bound to the namespace (0600); never the cluster admin's
    pod_template: Path  # driver and executor pods that meet the namespace's Pod Security level
    event_log_dir: str  # empty: no event logs (no history server to read them)
    history_url: str

    @classmethod
    def load(cls, cluster: Cluster) -> KubernetesTarget:
        image_file = Path(role_settings.role_setting("spark_image", "spark_image_record", cluster.settings)).resolve()
        namespace_file = Path(role_settings.role_setting("spark_namespace", "spark_namespace_record",
                                                         cluster.settings)).resolve()
        for path, role in ((image_file, "spark_image"), (namespace_file, "spark_namespace")):
            if not path.exists():
                raise UserError(f"{path} is missing: the {role} role writes it; run --role {role} first")
        image, namespace = json.loads(image_file.read_text()), json.loads(namespace_file.read_text())
        if "kubeconfig" not in namespace:
            raise UserError(f"{namespace_file} was written by an older clusterboot (it names no submitter "
                            "kubeconfig); run --role spark_namespace")
        return cls(image=image["reference"], image_bytes=image["size_bytes"], namespace=namespace["namespace"],
                   service_account=namespace["service_account"],
                   executor_service_account=namespace["executor_service_account"],
                   kubeconfig=Path(namespace["kubeconfig"]), pod_template=Path(namespace["pod_template"]),
                   event_log_dir=namespace["event_log_dir"], history_url=namespace["history_url"])


def available_jobs() -> list[str]:
    return sorted(p.stem for p in JOBS_DIR.glob("*.py") if p.stem not in ("__init__", "session", "ml_common"))


def check_job(job: str) -> None:
    """Refuse a job that is neither one of spark_jobs/ nor an existing .py file, naming the closest jobs."""
    if job not in available_jobs() and user_script(job) is None:
        raise UserError(f"unknown job {job!r}{usage.did_you_mean(job, available_jobs())}: neither a job of "
                        f"spark_jobs/ ({', '.join(available_jobs())}) nor an existing .py file")


def user_script(job: str) -> Path | None:
    """The user's own PySpark file when `job` names one, else None (a job of spark_jobs/ by name)."""
    path = Path(job)
    return path.resolve() if path.suffix == ".py" and path.is_file() else None


def app_name(job: str) -> str:
    """A DNS-1123 label: Kubernetes names the driver pod after it."""
    name = re.sub(r"[^a-z0-9-]+", "-", Path(job).stem.lower() if job.endswith(".py") else job.lower()).strip("-")
    return (name or "job")[:40]


def driver_pod_name(job: str, started: float) -> str:
    """One driver pod per submission: a finished driver of the same job keeps its name (and its log) otherwise,
    and two submits of one job in the same second (two operators, a script) must not collide: a random part.
    At most 63 characters, a DNS label."""
    stamp = time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))
    return f"{app_name(job)[:35].rstrip('-')}-{stamp}-{secrets.token_hex(2)}-driver"


def kubernetes_submit_args(cluster: Cluster, job: str, job_args: list[str], target: KubernetesTarget,
                           driver_pod: str | None = None, extra_conf: dict[str, str] | None = None,
                           py_files: list[Path] | None = None) -> list[str]:
    """spark-submit arguments for cluster mode on Kubernetes, from the inventory's spark_submit_* settings."""
    s = cluster.settings
    name = app_name(job)
    conf = {
        "spark.kubernetes.namespace": target.namespace,
        "spark.kubernetes.authenticate.driver.serviceAccountName": target.service_account,
        "spark.kubernetes.authenticate.executor.serviceAccountName": target.executor_service_account,
        "spark.kubernetes.driver.podTemplateFile": str(target.pod_template),
        "spark.kubernetes.executor.podTemplateFile": str(target.pod_template),
        "spark.kubernetes.container.image": target.image,
        "spark.kubernetes.container.image.pullPolicy": s["spark_submit_pull_policy"],
        "spark.kubernetes.driver.pod.name": driver_pod or driver_pod_name(job, time.time()),
        # What prune_finished_drivers removes: drivers of clusterboot's submissions, never anyone else's.
        f"spark.kubernetes.driver.label.{MANAGED_BY}": "clusterboot",
        "spark.kubernetes.submission.waitAppCompletion": "true",
        "spark.executor.instances": str(s["spark_submit_executor_instances"]),
        "spark.driver.cores": str(s["spark_submit_driver_cores"]),
        "spark.driver.memory": s["spark_submit_driver_memory"],
        "spark.executor.cores": str(s["spark_submit_executor_cores"]),
        "spark.executor.memory": s["spark_submit_executor_memory"],
        # The image's Python, not this controller's venv path (spark-submit would pass that on to the pods).
        "spark.pyspark.python": "python3",
        "spark.pyspark.driver.python": "python3",
        # The driver's Kubernetes client gives up after 10 s by default; a busy node or API server (the driver
        # timed out reaching kubernetes.default.svc here at load 114) takes longer. spark_submit_conf may override.
        "spark.kubernetes.driver.connectionTimeout": "60000",
        "spark.kubernetes.driver.requestTimeout": "60000",
        "spark.kubernetes.submission.connectionTimeout": "60000",
        "spark.kubernetes.submission.requestTimeout": "60000",
        # Kept until submit has read where they ran (then it deletes them).
        "spark.kubernetes.executor.deleteOnTermination": "false",
        # For the history server: the Spark UI after the job has ended.
        **({"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{target.event_log_dir}"}
           if target.event_log_dir else {}),
        **{str(k): str(v) for k, v in s["spark_submit_conf"].items()},
    }
    for claim in s["spark_submit_pvc_mounts"]:
        for role in ("driver", "executor"):
            prefix = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.{claim['name']}"
            conf[f"{prefix}.options.claimName"] = claim["claim"]
            conf[f"{prefix}.mount.path"] = claim["path"]
            conf[f"{prefix}.mount.readOnly"] = str(claim.get("read_only", False)).lower()
    script = user_script(job)
    if script or py_files:
        # Files from this machine reach the driver through the shared folder every pod mounts at that path.
        shared = cluster.settings["cluster_shared_data_dir"]
        conf["spark.kubernetes.file.upload.path"] = f"file://{shared}/.spark-uploads"
    conf.update(extra_conf or {})
    args = ["--master", f"k8s://{cluster.api_server}", "--deploy-mode", "cluster", "--name", name]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    if py_files:
        args += ["--py-files", ",".join(str(p) for p in py_files)]
    return args + [str(script) if script else f"local://{IMAGE_JOBS_DIR}/{job}.py", *job_args]


def standalone_submit_args(cluster: Cluster, job: str, job_args: list[str], jobs_zip: Path,
                           extra_conf: dict[str, str] | None = None, py_files: list[Path] | None = None) -> list[str]:
    """Client mode from the controller: the driver runs here, executors on the workers."""
    port = standalone_setting(cluster, "spark_standalone_master_port")
    conf = {
        "spark.driver.host": driver_address_towards(cluster.master_ip, port),
        "spark.pyspark.python": standalone_setting(cluster, "spark_standalone_python"),
        "spark.pyspark.driver.python": sys.executable,
        "spark.executor.cores": str(cluster.settings["spark_submit_executor_cores"]),
        "spark.executor.memory": cluster.settings["spark_submit_executor_memory"],
    }
    connector = kafka_connector_classpath(cluster)
    if connector:
        conf["spark.driver.extraClassPath"] = connector
    conf.update({str(k): str(v) for k, v in cluster.settings["spark_submit_conf"].items()})
    conf.update(extra_conf or {})
    args = ["--master", f"spark://{cluster.master_ip}:{port}", "--deploy-mode", "client", "--name", app_name(job),
            "--py-files", ",".join([str(jobs_zip), *(str(p) for p in py_files or [])])]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return args + [str(user_script(job) or JOBS_DIR / f"{job}.py"), *job_args]


def standalone_setting(cluster: Cluster, name: str):
    """A spark_standalone setting as the role uses it: the inventory's value, else the role's default."""
    return role_settings.role_setting("spark_standalone", name, cluster.settings)


def kafka_connector_classpath(cluster: Cluster) -> str | None:
    """The Kafka connector's jars on this machine (the spark_kafka_jars role records them), for a driver that
    runs here; the workers and the image have their own copies."""
    record = Path(role_settings.role_setting("spark_kafka_jars", "spark_kafka_jars_record",
                                             {**cluster.settings, "cluster_name": cluster.name})).resolve()
    if not record.exists():
        return None
    return f"{json.loads(record.read_text())['folder']}/libs/*"


def driver_address_towards(ip: str, port: int) -> str:
    """The controller's own address on the route to the master (a UDP connect sends no packet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((ip, port))
        return probe.getsockname()[0]


def jobs_zip(directory: Path) -> Path:
    path = directory / "spark_jobs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in JOBS_DIR.glob("*.py"):
            archive.write(file, f"spark_jobs/{file.name}")
    return path


def fetch_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def check_standalone_ready(cluster: Cluster) -> None:
    """Name what is missing before the first submit: the master answers, every worker registered."""
    url = f"http://{cluster.master_ip}:{standalone_setting(cluster, 'spark_standalone_master_webui_port')}/json/"
    try:
        status = fetch_json(url)
    except OSError as err:
        raise UserError(f"Spark master at {url} does not answer ({err}); run --phase spark first") from None
    alive = {w["host"] for w in status.get("workers", []) if w.get("state") == "ALIVE"}
    missing = sorted(h for h, ip in cluster.worker_ips.items() if ip not in alive)
    if missing:
        raise UserError(f"Spark workers not registered with the master: {', '.join(missing)}")


def check_kubernetes_ready(cluster: Cluster, target: KubernetesTarget) -> None:
    """Name what is missing before the first submit: the submitter's right to make pods, bound claims."""
    checks = [
        (["auth", "can-i", "create", "pods"], "yes",
         f"{target.kubeconfig} cannot create pods in namespace {target.namespace}; run --role spark_namespace"),
        (["get", "pvc", "-o", "jsonpath={.items[*].status.phase}"], None,
         f"PVCs in namespace {target.namespace} are not all Bound"),
    ]
    for args, expected, problem in checks:
        proc = _kubectl(cluster, target, *args)
        out = proc.stdout.strip()
        ok = proc.returncode == 0 and (out == expected if expected else all(p == "Bound" for p in out.split()))
        if not ok:
            raise UserError(f"{problem} (kubectl {' '.join(args)}: {out or proc.stderr.strip()})")


def executor_hosts(cluster: Cluster, app_id: str) -> dict[str, int]:
    """Standalone: how many of the app's executors each worker ran, from the workers' own JSON."""
    port = standalone_setting(cluster, "spark_standalone_worker_webui_port")
    counts = {}
    for host, ip in cluster.worker_ips.items():
        try:
            status = fetch_json(f"http://{ip}:{port}/json/")
        except OSError:
            continue
        ran = [e for e in status.get("finishedexecutors", []) + status.get("executors", []) if e.get("appid") == app_id]
        if ran:
            counts[host] = len(ran)
    return counts


@dataclass
class SubmitResult:
    rc: int
    log: Path
    seconds: float
    app_id: str | None
    executors: dict[str, int]
    error: str = ""  # the driver's own last error line when the job failed
    history: str = ""  # the app's page on the history server
    outputs: str = ""  # where the job says it wrote its results


def announced_outputs(driver_log: str) -> str:
    """The `output: ...` line a job of spark_jobs/ prints (spark_jobs.session.announce_outputs)."""
    found = re.findall(r"^output: (.+)$", driver_log, flags=re.M)
    return found[-1].strip() if found else ""


# The line a failed PySpark driver ends on: "pkg.SomeError: message" or "java.io.SomeException: message".
ERROR_LINE = re.compile(r"^(?:[\w$]+\.)*\w*(?:Error|Exception)\b.*:\s*\S")


def last_error_line(text: str) -> str:
    """The last line that names an error or exception, trimmed; empty when there is none."""
    lines = [line.strip() for line in text.splitlines() if ERROR_LINE.match(line.strip())]
    return lines[-1][:300] if lines else ""


def submit(cluster: Cluster, job: str, job_args: list[str], conf: dict[str, str] | None = None,
           py_files: list[Path] | None = None, log=print) -> SubmitResult:
    check_job(job)
    missing = [str(p) for p in py_files or [] if not p.is_file()]
    if missing:
        raise UserError(f"--py-files: {', '.join(missing)} does not exist")
    if cluster.manager == "standalone":
        check_standalone_ready(cluster)
        return _submit_standalone(cluster, job, job_args, conf, py_files)
    target = KubernetesTarget.load(cluster)
    check_kubernetes_ready(cluster, target)
    return _submit_kubernetes(cluster, target, job, job_args, conf, py_files, log)


def _run_spark_submit(args: list[str], log_file: Path, extra_env: dict[str, str], watch=None) -> int:
    """spark-submit with its output in log_file; watch() is called every few seconds while it runs."""
    with log_file.open("w") as out:
        proc = subprocess.Popen([spark_submit_path(), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=spark_submit_env(extra_env))
        while proc.poll() is None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                if watch:
                    watch()
    return proc.returncode


def _submit_standalone(cluster: Cluster, job: str, job_args: list[str], conf: dict[str, str] | None,
                       py_files: list[Path] | None) -> SubmitResult:
    run_dir = new_artifacts_dir(f"submit-{app_name(job)}")
    args = standalone_submit_args(cluster, job, job_args, jobs_zip(run_dir), conf, py_files)
    log = run_dir / "driver.log"
    started = time.monotonic()
    rc = _run_spark_submit(args, log, {})
    seconds = time.monotonic() - started
    text = log.read_text(errors="replace")
    match = re.search(r"app ID (app-[\w-]+)", text)
    app_id = match.group(1) if match else None
    executors = executor_hosts(cluster, app_id) if app_id else {}
    error = last_error_line(text) if rc != 0 else ""
    return SubmitResult(rc, log, seconds, app_id, executors, error, outputs=announced_outputs(text))


def _submit_kubernetes(cluster: Cluster, target: KubernetesTarget, job: str, job_args: list[str],
                       conf: dict[str, str] | None, py_files: list[Path] | None, log) -> SubmitResult:
    run_dir = new_artifacts_dir(f"submit-{app_name(job)}")
    driver_pod = driver_pod_name(job, time.time())
    args = kubernetes_submit_args(cluster, job, job_args, target, driver_pod, conf, py_files)
    log(f"submitting {job} as pod {target.namespace}/{driver_pod}, image {target.image} "
        f"({target.image_bytes / 1e9:.2f} GB)")
    submit_log = run_dir / "spark-submit.log"
    started = time.monotonic()
    watcher = PodWatcher(cluster, target, driver_pod, log)
    # spark-submit's Kubernetes client reads the cluster's address and credentials from KUBECONFIG.
    rc = _run_spark_submit(args, submit_log, {"KUBECONFIG": str(target.kubeconfig)}, watcher.poll)
    seconds = time.monotonic() - started
    driver_log = run_dir / "driver.log"
    _fetch_driver_log(cluster, target, driver_pod, driver_log)
    driver = _kubectl_json(cluster, target, "get", "pod", driver_pod)
    # spark-submit exits 0 once the driver pod ends, whatever its end: the job's status is the driver's.
    rc = rc or _driver_exit_code(driver)
    app_id = driver.get("metadata", {}).get("labels", {}).get("spark-app-selector")
    executors = _executor_nodes(cluster, target, app_id) if app_id else {}
    _prune_finished_drivers(cluster, target, cluster.settings["spark_submit_keep_finished_drivers"], log)
    text = driver_log.read_text(errors="replace")
    error = last_error_line(text) if rc != 0 else ""
    history = f"{target.history_url}/history/{app_id}/" if target.history_url and app_id else ""
    return SubmitResult(rc, driver_log, seconds, app_id, executors or watcher.executor_nodes, error, history,
                        announced_outputs(text))


class PodWatcher:
    """Prints the driver pod's phase and its executors whenever they change, from the API."""

    def __init__(self, cluster: Cluster, target: KubernetesTarget, driver_pod: str, log) -> None:
        self.cluster, self.target, self.driver_pod, self.log = cluster, target, driver_pod, log
        self.last = ""
        self.executor_pods: dict[str, str] = {}  # pod name -> node, kept after the pod is gone

    def poll(self) -> None:
        pods = _kubectl_json(self.cluster, self.target, "get", "pods", "-l", "spark-role").get("items", [])
        driver = next((p for p in pods if p["metadata"]["name"] == self.driver_pod), None)
        if driver is None:
            return
        executors = [p for p in pods if p["metadata"].get("labels", {}).get("spark-role") == "executor"
                     and any(o.get("name") == self.driver_pod for o in p["metadata"].get("ownerReferences", []))]
        running = [p for p in executors if p.get("status", {}).get("phase") == "Running"]
        self.executor_pods.update({p["metadata"]["name"]: p["spec"]["nodeName"] for p in executors
                                   if p.get("spec", {}).get("nodeName")})
        line = (f"driver {driver.get('status', {}).get('phase', '?')} on {driver.get('spec', {}).get('nodeName', '?')}"
                f", executors running: {len(running)}"
                + (f" ({', '.join(sorted(p['spec'].get('nodeName', '?') for p in running))})" if running else ""))
        if line != self.last:
            self.log(f"  {line}")
            self.last = line

    @property
    def executor_nodes(self) -> dict[str, int]:
        return dict(Counter(self.executor_pods.values()))


def kubectl_path(cluster: Cluster) -> str:
    """kubectl on PATH, else the one of the cluster's offline artifacts (the same version as the cluster)."""
    found = shutil.which("kubectl")
    artifacts = cluster.settings.get("cluster_kubernetes_artifacts_dir")
    if found or not artifacts:
        return found or "kubectl"
    return str(Path(str(artifacts)) / "bin" / "kubectl")


def _kubectl(cluster: Cluster, target: KubernetesTarget, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl_path(cluster), "--kubeconfig", str(target.kubeconfig), "-n",
                           target.namespace, *args], capture_output=True, text=True, check=False)


def _kubectl_json(cluster: Cluster, target: KubernetesTarget, *args: str) -> dict:
    """kubectl ... -o json in the spark namespace; {} when it fails."""
    proc = _kubectl(cluster, target, *args, "-o", "json")
    return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout else {}


def _driver_exit_code(driver: dict) -> int:
    """The driver container's exit code; 1 when the pod cannot be read or never ran to an end."""
    statuses = driver.get("status", {}).get("containerStatuses", [])
    terminated = [s["state"]["terminated"] for s in statuses if "terminated" in s.get("state", {})]
    return terminated[0].get("exitCode", 1) if terminated else 1


def _executor_nodes(cluster: Cluster, target: KubernetesTarget, app_id: str) -> dict[str, int]:
    """Kubernetes: how many of the app's executor pods each node ran; then the finished pods are deleted."""
    selector = f"spark-app-selector={app_id},spark-role=executor"
    pods = _kubectl_json(cluster, target, "get", "pods", "-l", selector).get("items", [])
    counts: dict[str, int] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName", "?")
        counts[node] = counts.get(node, 0) + 1
    _kubectl(cluster, target, "delete", "pods", "-l", selector, "--wait=false")
    return counts


def finished_drivers_to_delete(pods: list[dict], keep: int) -> list[str]:
    """The names of the finished (Succeeded or Failed) driver pods beyond the newest `keep`."""
    finished = [p for p in pods if p.get("status", {}).get("phase") in ("Succeeded", "Failed")]
    finished.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]), reverse=True)
    return [p["metadata"]["name"] for p in finished[keep:]]


def _prune_finished_drivers(cluster: Cluster, target: KubernetesTarget, keep: int, log) -> None:
    """Deletes the finished drivers beyond `keep` (their logs were read when each job ended); Kubernetes removes
    each one's Service and ConfigMaps with it, as Spark made the pod their owner."""
    pods = _kubectl_json(cluster, target, "get", "pods", "-l", f"spark-role=driver,{MANAGED_BY}=clusterboot")
    names = finished_drivers_to_delete(pods.get("items", []), keep)
    if names:
        _kubectl(cluster, target, "delete", "pods", *names, "--wait=false")
        log(f"deleted {len(names)} finished driver pod(s) (spark_submit_keep_finished_drivers: {keep})")


def _fetch_driver_log(cluster: Cluster, target: KubernetesTarget, driver_pod: str, path: Path) -> None:
    pod = _kubectl(cluster, target, "logs", driver_pod)
    path.write_text(pod.stdout + pod.stderr)


def report(job: str, result: SubmitResult) -> str:
    where = ", ".join(f"{h}: {n}" for h, n in sorted(result.executors.items())) or "not reported"
    error = f"; error: {result.error}" if result.error else ""
    history = f"; history: {result.history}" if result.history else ""
    outputs = f"; output: {result.outputs}" if result.outputs else ""
    return (f"job {job}: exit {result.rc} after {result.seconds:.1f}s; app {result.app_id or '?'}; "
            f"executors by worker: {where}; driver log: {result.log}{outputs}{history}{error}")


def run_configured_jobs(cluster: Cluster) -> None:
    """The inventory's spark_submit_jobs, in order, after a full bootstrap."""
    for entry in cluster.settings["spark_submit_jobs"]:
        job, *job_args = [str(a) for a in entry]
        result = submit(cluster, job, job_args)
        print(report(job, result))
        if result.rc != 0:
            raise RunFailed(f"job {job} failed; see {result.log}")
