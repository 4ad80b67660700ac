"""Kubernetes on the shared cluster (tests/shared_cluster.py: 3 control planes behind the VIP, 3 workers, formed
as the sudo user through the signed apt repo and the package cache): kubeadm init and joins, Calico VXLAN,
CoreDNS, kube-proxy, every image from the cluster registry. Then: a second run changes nothing, no secret leaks,
a failed join is named and its retry completes it, scale and remove-node, day-2 verify; last, reset, and the
cluster formed again with cp01's power cut half-way through kubeadm init.

Black box: `python bootstrap.py` in a subprocess, the cluster read with the built kubectl and the fetched
kubeconfig. Traffic goes only to the lab's own containers.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clusterboot import settings
from clusterboot.artifacts.recipes import CONTAINERD_VERSION
from clusterboot.inventory_writer import KUBERNETES_VERSION
from clusterboot.lab import apt_repo, lab
from shared_cluster import (ADDRESSES, CONTROL_PLANES, NODES, PROJECT, SUBNET, USER, WORKERS, SharedCluster,
                            image_tags, totals)

pytestmark = [pytest.mark.lab, pytest.mark.cluster]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP rows: {host: {ok: .., changed: .., ...}}."""
    rows = re.findall(r"^(\S+)\s+:\s+(.*)$", output[output.rindex("PLAY RECAP"):], flags=re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in rows}


@pytest.fixture
def cluster(shared_cluster: SharedCluster) -> SharedCluster:
    return shared_cluster


def test_every_node_is_ready_at_the_built_version_on_the_built_containerd(cluster: SharedCluster) -> None:
    """The node image is Debian 12, whose containerd (1.6.20) Kubernetes 1.36 does not support: the nodes run
    the artifacts' containerd and runc instead, with containerd 2's config format."""
    nodes = cluster.json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{KUBERNETES_VERSION}"
        runtime = node["status"]["nodeInfo"]["containerRuntimeVersion"]
        assert runtime.removeprefix("containerd://").removeprefix("v") == CONTAINERD_VERSION.removeprefix("v"), runtime
        control_plane = "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
        assert control_plane == (node["metadata"]["name"] in CONTROL_PLANES)
    # containerd 2's config format, read back as containerd parsed it: a pulled image is kept once, unpacked.
    assert "discard_unpacked_layers = true" in cluster.node_exec("wk001", "containerd", "config", "dump").stdout


def test_formed_as_a_sudo_user_through_the_signed_apt_repo_and_the_package_cache(cluster: SharedCluster) -> None:
    """Ansible's connections were the sudo user's, root came from sudo, kubeadm, kubelet and kubectl from the
    `upstream` path (deb822 source, signed-by key, version pin, hold) through apt-cacher-ng on cp01; no
    controller-side task tried the sudo that refuses."""
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    gateway = apt_repo.gateway_address(SUBNET)
    for node in NODES:
        journal = cluster.node_exec(node, "journalctl", "-q", "--no-pager", "_COMM=sudo").stdout
        assert f"{USER} : TTY=" in journal, node
        assert cluster.node_exec(node, "apt-mark", "showhold").stdout.split() == ["kubeadm", "kubectl", "kubelet"]
        version = cluster.node_exec(node, "dpkg-query", "-W", "-f", "${Version}", "kubeadm").stdout
        assert version == f"{KUBERNETES_VERSION}-{apt_repo.REVISION}", node
        sources = cluster.node_exec(node, "cat", "/etc/apt/sources.list.d/kubernetes.sources").stdout
        assert f"Signed-By: /etc/apt/keyrings/kubernetes-{minor}.asc" in sources, sources
        assert f"URIs: http://HTTPS///{gateway}/core:/stable:/v{minor}/deb/" in sources, sources
    cache_log = cluster.node_exec("cp01", "cat", "/var/log/apt-cacher-ng/apt-cacher.log").stdout
    assert f"kubeadm_{KUBERNETES_VERSION}-{apt_repo.REVISION}_amd64.deb" in cache_log
    assert "sudo_that_refuses" not in cluster.first_run.stdout + cluster.first_run.stderr


def test_calico_vxlan_pool_is_the_inventory_pod_cidr_and_system_pods_run(cluster: SharedCluster) -> None:
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
    # kubelet probes felix over HTTP (ready above through it), no process exec'd in calico-node for a probe.
    node = cluster.json("get", "daemonset", "-n", "kube-system", "calico-node")["spec"]["template"]["spec"]
    probes = {kind: node["containers"][0][kind] for kind in ("livenessProbe", "readinessProbe")}
    assert {kind: probe.get("httpGet", {}).get("path") for kind, probe in probes.items()} == {
        "livenessProbe": "/liveness", "readinessProbe": "/readiness"}, probes
    # Every image came from the cluster registry, none from the internet.
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert all(image.startswith("cp01:5000/") for image in images), images


def test_pods_on_different_workers_reach_each_other_and_a_service_by_name(cluster: SharedCluster) -> None:
    """An etcd server pod on every node (pulled by every node from the registry), a Service in front of them,
    and from a client pod on each worker: the server on another worker by pod IP, then the Service by DNS name."""
    tags = image_tags()
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
                    "--wait=true", timeout=300)


def test_verify_playbook_passes(cluster: SharedCluster) -> None:
    """The acceptance playbook: nodes Ready, Calico and CoreDNS available, a pod on every node from the registry
    reaches a pod on the next node and the Service by name, the spark account may create pods, claims Bound."""
    proc = cluster.playbook("verify.yml")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap(proc.stdout)["cp01"]["failed"] == 0
    # Every node's kubelet and every API server reported, within the version skew policy.
    kubelets = ", ".join(f"{node} v{KUBERNETES_VERSION}" for node in sorted(NODES))
    apiservers = ", ".join(f"{node} v{KUBERNETES_VERSION}" for node in sorted(CONTROL_PLANES))
    assert f"kubelets: {kubelets}; API servers: {apiservers}" in " ".join(proc.stdout.split()), proc.stdout[-4000:]


def test_a_second_run_changes_nothing_and_does_not_rerun_kubeadm(cluster: SharedCluster) -> None:
    # kubeadm init and join write these; a rerun of either would rewrite them.
    written = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/config.yaml"]
    before = {n: cluster.node_exec(n, "stat", "-c", "%Y", *written[1:]).stdout for n in NODES}
    for node in CONTROL_PLANES:
        before[node] += cluster.node_exec(node, "stat", "-c", "%Y", written[0]).stdout
    again = cluster.bootstrap("--no-jobs")
    assert again.returncode == 0, again.stdout[-4000:]
    assert totals(again.stdout)["changed"] == 0, again.stdout[-4000:]
    after = {n: cluster.node_exec(n, "stat", "-c", "%Y", *written[1:]).stdout for n in NODES}
    for node in CONTROL_PLANES:
        after[node] += cluster.node_exec(node, "stat", "-c", "%Y", written[0]).stdout
    assert after == before


def test_no_secret_appears_in_logs_or_artifacts(cluster: SharedCluster) -> None:
    """The bootstrap token, the certificate key and the CA key, read from the cluster, are in no output; the Spark
    submitter's token is only in its own kubeconfig."""
    tokens = cluster.node_exec("cp01", "kubeadm", "token", "list", "-o", "jsonpath={.token}{\"\\n\"}").stdout.split()
    ca_key = cluster.node_exec("cp01", "cat", "/etc/kubernetes/pki/ca.key").stdout
    ca_key_body = "".join(ca_key.strip().splitlines()[1:-1])
    secrets = [t for t in tokens if t] + [t.split(".")[1] for t in tokens if "." in t]
    secrets.append(ca_key_body[:64])
    submitter_secret = cluster.json("get", "secret", "-n", "spark", "spark-submitter-token")["data"]["token"]
    submitter_token = base64.b64decode(submitter_secret).decode()
    secrets += [submitter_token[-64:], submitter_secret[-64:]]  # as used, and as the Secret's data holds it
    assert tokens and ca_key_body and submitter_token
    submitter_kubeconfig = PROJECT / ".artifacts" / f"kubeconfig-{cluster.cfg.name}-spark"
    assert submitter_token in submitter_kubeconfig.read_text()
    push_password_file = registry_push_password_file(cluster)
    secrets.append(push_password_file.read_text().strip())
    # etcd snapshots hold every Secret by design: the backup test checks they are 0600 in a 0700 folder.
    backup_dir = Path(settings.role_setting("control_plane", "control_plane_backup_dir",
                                            {"cluster_name": cluster.cfg.name})).resolve()
    haystacks = {"first run output (-vvv)": cluster.first_run.stdout + cluster.first_run.stderr}
    for path in (PROJECT / ".artifacts").rglob("*"):
        if (path.is_file() and path.stat().st_size < 50_000_000 and "facts" not in path.parts
                and path not in (submitter_kubeconfig, push_password_file) and backup_dir not in path.parents):
            haystacks[str(path)] = path.read_text(errors="replace")
    leaks = [(where, secret[:6]) for where, text in haystacks.items() for secret in secrets if secret in text]
    assert not leaks, leaks
    for private in (cluster.kubeconfig, push_password_file):
        assert oct(private.stat().st_mode & 0o777) == "0o600", private


def registry_push_password_file(cluster: SharedCluster) -> Path:
    return PROJECT / ".artifacts" / f"registry-push-{cluster.cfg.name}.password"


def registry_post(url: str) -> int:
    """The status of a POST that starts a blob upload: how a push begins."""
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_registry_is_read_only_to_the_network_and_takes_pushes_only_from_its_user_on_its_node(
        cluster: SharedCluster) -> None:
    """Anyone on the node network may pull, but a push or a delete there is refused: no one can swap an image
    under a tag the nodes run. Images go in through the push side, which listens on cp01's loopback only and
    answers only the generated user."""
    ports = settings.declared_defaults()
    network_side = f"http://{ADDRESSES['cp01']}:{ports['cluster_registry_port']}/v2"
    tags = json.loads(urllib.request.urlopen(f"{network_side}/etcd/tags/list", timeout=10).read())["tags"]
    assert image_tags()["etcd"] in tags
    assert registry_post(f"{network_side}/probe/blobs/uploads/") == 405
    manifest = urllib.request.Request(f"{network_side}/etcd/manifests/{image_tags()['etcd']}", method="HEAD",
                                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    digest = urllib.request.urlopen(manifest, timeout=10).headers["Docker-Content-Digest"]
    delete = urllib.request.Request(f"{network_side}/etcd/manifests/{digest}", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(delete, timeout=10)
    assert refused.value.code == 405
    with pytest.raises(urllib.error.URLError) as unreachable:  # nothing listens there on the node's address
        urllib.request.urlopen(f"http://{ADDRESSES['cp01']}:{ports['cluster_registry_push_port']}/v2/", timeout=10)
    assert not isinstance(unreachable.value, urllib.error.HTTPError)
    push_side = f"http://127.0.0.1:{ports['cluster_registry_push_port']}/v2/probe/blobs/uploads/"
    curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", push_side]
    assert cluster.node_exec("cp01", *curl).stdout == "401"
    password = registry_push_password_file(cluster).read_text().strip()
    user = settings.role_setting("registry", "registry_push_user", {})
    assert cluster.node_exec("cp01", *curl, "-u", f"{user}:{password}").stdout == "202"


def test_a_failed_join_is_named_and_the_retry_command_completes_it(cluster: SharedCluster) -> None:
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
    failed = cluster.bootstrap("--phase", "kubernetes")
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


def test_scale_adds_a_node_without_touching_the_others_and_remove_node_takes_it_out(cluster: SharedCluster) -> None:
    """wk004, a bare node, joined by scale.yml alone; then drained and deleted by remove-node.yml, and its
    container removed: the cluster is left as it was found."""
    cluster.up(len(NODES) + 1)
    try:
        proc = cluster.playbook("scale.yml")
        assert proc.returncode == 0, proc.stdout[-4000:]
        counts = recap(proc.stdout)
        assert counts["wk004"]["changed"] > 0
        assert all(counts[node]["changed"] == 0 for node in NODES), counts
        cluster.kubectl("wait", "--for=condition=Ready", "node/wk004", "--timeout=300s")
        proc = cluster.playbook("remove-node.yml", "-e", "node=wk004")
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "wk004" not in cluster.kubectl("get", "nodes", "-o", "name")
        assert cluster.node_exec("wk004", "test", "-e", "/etc/kubernetes/kubelet.conf").returncode != 0
    finally:
        cluster.up(len(NODES))
        cluster.kubectl("delete", "node", "wk004", "--ignore-not-found")


# Runs inside cp01 once kubeadm init has started: waits for the static-pod manifests (certificates and
# kubeconfigs written, the API server on its way, init not finished), then prints and exits.
WAIT_FOR_INIT_HALF_WAY = """
for i in $(seq 1 1200); do
  [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && { echo manifests written; exit 0; }
  sleep 0.1
done
echo init never wrote its manifests; exit 1
"""


@pytest.mark.reforms_shared_cluster
def test_reset_cleans_every_node_then_an_init_cut_by_a_power_loss_is_finished_by_the_retry(
        cluster: SharedCluster) -> None:
    """reset.yml returns every node to clean. Then the kubernetes phase forms a cluster again from two of the
    reset nodes (cp01 and wk001: joining the others again would prove nothing the wiped-cp01 and scale tests do
    not, for 3 more minutes), and cp01 loses power half-way through kubeadm init. Once it is back, the retry
    command the summary printed tells the half-done init (kubeconfigs, no kube-proxy) from a finished one, resets
    it and inits again; a rerun then changes nothing and both nodes are Ready. Without reset's removal of the
    init marker, the retry would skip init and fail. Last in the session: the Spark phase is not run again."""
    proc = cluster.playbook("reset.yml", "-e", "reset_confirm=yes")
    assert proc.returncode == 0, proc.stdout[-4000:]
    for node in NODES:
        assert cluster.node_exec(node, "test", "-e", "/etc/kubernetes/kubelet.conf").returncode != 0, node
        # Emptied, not deleted: containerd's watch on the folder must see the next cluster's CNI config.
        assert cluster.node_exec(node, "ls", "-A", "/etc/cni/net.d").stdout == "", node
        assert cluster.node_exec(node, "crictl", "ps", "-q").stdout.strip() == "", node
    for node in CONTROL_PLANES:
        assert cluster.node_exec(node, "test", "-e", "/var/lib/etcd/member").returncode != 0, node

    reformed = ["cp01", "wk001"]
    run = subprocess.Popen([sys.executable, "bootstrap.py", "--inventory", str(cluster.inventory), "--phase",
                            "kubernetes", "--limit", ",".join(reformed)], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, cut = [], None
    for line in run.stdout:
        lines.append(line)
        if line.strip() == "task: Run kubeadm init" and cut is None:
            cut = cluster.node_exec("cp01", "sh", "-c", WAIT_FOR_INIT_HALF_WAY)
            subprocess.run(["docker", "kill", cluster.container("cp01")], check=True, capture_output=True)
    output = "".join(lines)
    assert run.wait(timeout=900) == 1, output[-4000:]
    assert cut is not None and cut.returncode == 0, (cut, output[-4000:])
    summary = output[output.index("host  "):]
    assert summary.splitlines()[1].split()[0] == "cp01", summary  # problems first
    hint = next(line.strip() for line in summary.splitlines() if line.strip().startswith("python bootstrap.py"))

    subprocess.run(["docker", "start", cluster.container("cp01")], check=True, capture_output=True)
    deadline = time.monotonic() + 180
    while not lab._ssh_answers(cluster.cfg, ADDRESSES["cp01"]) and time.monotonic() < deadline:
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
    rerun = cluster.bootstrap("--phase", "kubernetes", "--limit", ",".join(reformed))
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    if totals(rerun.stdout)["changed"] != 0:  # the retry covered only the hosts the first run failed
        rerun = cluster.bootstrap("--phase", "kubernetes", "--limit", ",".join(reformed))
        assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert totals(rerun.stdout)["changed"] == 0, rerun.stdout[-4000:]
    cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=300s")
    assert sorted(cluster.ready_nodes()) == reformed
    assert cluster.node_exec("cp01", "test", "-e", "/etc/kubernetes/clusterboot-initialized").returncode == 0
