"""A highly available control plane on the shared cluster (tests/shared_cluster.py): kubeadm init on the first
control plane, the other two joined as control planes with stacked etcd, keepalived keeping the API's virtual
IP on a live control plane.

Then: the control plane that holds the VIP is stopped and the API keeps answering through the same address, a
pod is scheduled while it is down, and it comes back Ready; the first control plane, wiped, rejoins while the
healthy etcd members and the workers are left alone; `certs --renew` renews every control plane's certificates
one control plane at a time.

Black box: `python bootstrap.py` in a subprocess, the cluster read with the built kubectl through the fetched
kubeconfig, etcd's member list read with the etcdctl its image carries. Traffic goes only to the lab's containers.
"""

from __future__ import annotations

import hashlib
import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusterboot.inventory_writer import KUBERNETES_VERSION
from shared_cluster import (ADDRESSES, CONTROL_PLANES, NODES, PROJECT, VIP, WORKERS, SharedCluster, image_tags,
                            totals)

pytestmark = [pytest.mark.lab, pytest.mark.cluster]

# keepalived's unicast adverts every second; a silent holder is replaced after about three of them.
FAILOVER_BOUND_SECONDS = 30


def summary_changed(output: str) -> dict[str, int]:
    """The runner's summary table: {host: changed}."""
    rows = [line.split() for line in output[output.index("host  "):].splitlines()[1:]]
    return {row[0]: int(row[2]) for row in rows if row and row[0] in NODES}


def test_three_control_planes_ready_and_three_etcd_members(shared_cluster: SharedCluster) -> None:
    cluster = shared_cluster
    nodes = cluster.json("get", "nodes")["items"]
    control = sorted(n["metadata"]["name"] for n in nodes
                     if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"])
    assert control == CONTROL_PLANES
    assert all(cluster.ready_nodes().values()), cluster.ready_nodes()
    members = cluster.etcd_members("cp02")
    assert sorted(m["name"] for m in members) == CONTROL_PLANES
    assert not any(m.get("isLearner") for m in members)
    # Everyone reaches the API through the VIP: the operator's kubeconfig and every worker's kubelet.
    assert f"server: https://{VIP}:6443" in cluster.kubeconfig.read_text()
    assert oct(cluster.kubeconfig.stat().st_mode & 0o777) == "0o600"
    for worker in WORKERS:
        kubelet_conf = cluster.node_exec(worker, "cat", "/etc/kubernetes/kubelet.conf").stdout
        assert f"server: https://{VIP}:6443" in kubelet_conf, worker
    # The API server certificate names the VIP, whichever control plane serves it.
    for node in CONTROL_PLANES:
        cert = cluster.node_exec(node, "openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                 "/etc/kubernetes/pki/apiserver.crt").stdout
        assert f"IP Address:{VIP}" in cert, (node, cert)


def readyz_through_vip(cluster: SharedCluster) -> bool:
    return subprocess.run([cluster.kubectl_bin, "--kubeconfig", str(cluster.kubeconfig), "--request-timeout=2s",
                           "get", "--raw", "/readyz"], capture_output=True, check=False).returncode == 0


def test_the_api_survives_losing_the_control_plane_that_holds_the_vip(shared_cluster: SharedCluster) -> None:
    """The VIP holder stopped: another control plane answers through the VIP within the bound and a pod is
    scheduled meanwhile. Started again: no request through the VIP fails while it boots and takes the VIP back."""
    cluster = shared_cluster
    cluster.kubectl("delete", "pod", "during-outage", "--ignore-not-found")  # left by a run that failed
    holder = cluster.vip_holder()
    assert holder == CONTROL_PLANES[0]  # the highest priority while every API server is ready
    subprocess.run(["docker", "stop", cluster.container(holder)], check=True, capture_output=True, timeout=120)
    try:
        stopped = time.monotonic()
        while not readyz_through_vip(cluster):  # the same address, another control plane behind it
            assert time.monotonic() - stopped < FAILOVER_BOUND_SECONDS, "no API through the VIP"
            time.sleep(0.5)
        new_holder = cluster.vip_holder()
        assert new_holder not in (None, holder)
        # A pod is still scheduled and started (the pause image is on every node already: the registry lives on
        # cp01, which may be the one stopped).
        cluster.kubectl("run", "during-outage", f"--image=cp01:5000/pause:{image_tags()['pause']}",
                        "--image-pull-policy=IfNotPresent", "--restart=Never")
        cluster.kubectl("wait", "--for=condition=Ready", "pod/during-outage", "--timeout=120s", timeout=150)
        assert len(cluster.etcd_members(new_holder)) == 3  # one is unreachable, none was removed
    finally:
        subprocess.run(["docker", "start", cluster.container(holder)], check=True, capture_output=True, timeout=120)
    # The holder boots: keepalived runs seconds before its API server does. It takes the VIP back only once its
    # own API server is ready, so every request through the VIP keeps being answered meanwhile.
    started, answers = time.monotonic(), []  # (seconds since the start, answered)

    def poll() -> None:
        answers.append((round(time.monotonic() - started), readyz_through_vip(cluster)))
        time.sleep(0.5)

    while cluster.vip_holder() != holder and time.monotonic() - started < 300:
        poll()
    for _ in range(10):  # and just after it took the VIP back
        poll()
    failed = [second for second, answered in answers if not answered]
    polls = len(answers)
    assert cluster.vip_holder() == holder, "the first control plane did not take the VIP back once ready"
    assert not failed, f"{len(failed)} of {polls} requests through the VIP failed, at seconds {failed} of the reboot"
    cluster.wait_own_api(holder, 300)
    cluster.wait_ready([holder], 240)
    # Nothing lost: the pod made while it was down is there, etcd has its three members again.
    assert cluster.kubectl("get", "pod", "during-outage", "-o", "jsonpath={.status.phase}") == "Running"
    assert sorted(m["name"] for m in cluster.etcd_members(holder)) == CONTROL_PLANES
    cluster.kubectl("delete", "pod", "during-outage", "--wait=false")


def test_a_wiped_first_control_plane_rejoins_and_no_healthy_member_is_touched(shared_cluster: SharedCluster) -> None:
    """cp01, the control plane that ran kubeadm init, loses its Kubernetes state (kubelet stopped, every container
    removed, /etc/kubernetes, etcd's data and kubelet's certificates deleted: a machine back from a reinstall that
    kept its packages and the registry's disk, which the lab keeps on cp01), and cp02 and cp03 lose their init
    markers (a cluster formed when only the first control plane carried one). One run of bootstrap.py must see
    the cluster through cp02's and cp03's API servers, remove cp01's dead etcd member only, and join cp01 again:
    cp02's and cp03's members keep their ids, etcd keeps its cluster id, the workers are untouched."""
    cluster = shared_cluster
    before = cluster.etcd_member_list("cp02")
    kept = {m["name"]: m["ID"] for m in before["members"] if m["name"] != "cp01"}
    # The pods with a network go first, while cp01's API server still runs: Calico's CNI teardown asks the API
    # through the kubernetes Service, whose rules on cp01 may still lead to cp01's own API server (seen failing
    # with "dial tcp 10.96.0.1:443: connect: connection refused" when every container went first); retried.
    static_pods = "^(etcd|kube-apiserver|kube-controller-manager|kube-scheduler)-cp01$"
    wipe = ("systemctl stop kubelet"
            f" && static=$(crictl pods -q --name '{static_pods}')"
            " && for attempt in 1 2 3 4 5 6 7 8 9 10; do"
            "   left=$(crictl pods -q | grep -vxF \"$static\" || true); [ -z \"$left\" ] && break;"
            "   crictl rmp -f $left >/dev/null 2>&1 || sleep 3; done"
            " && [ -z \"$(crictl pods -q | grep -vxF \"$static\")\" ]"
            " && crictl rmp -fa >/dev/null && crictl rm -fa >/dev/null"
            " && rm -rf /etc/kubernetes /var/lib/etcd /var/lib/kubelet/pki /var/lib/kubelet/config.yaml")
    wiped = cluster.node_exec("cp01", "sh", "-c", wipe)
    assert wiped.returncode == 0, wiped.stderr
    for node in ("cp02", "cp03"):
        assert cluster.node_exec(node, "rm", "/etc/kubernetes/clusterboot-initialized").returncode == 0
    run = cluster.bootstrap("--no-jobs")  # every phase: the wipe took the Spark manifests in /etc/kubernetes too
    assert run.returncode == 0, run.stdout[-6000:]
    changed = summary_changed(run.stdout)
    # The run's first host, cp01, is where run_once tasks report, the leader's among them. cp02 and cp03 only get
    # their marker back; a reset or rejoin would change far more.
    assert changed["cp01"] > 0
    assert (changed["cp02"], changed["cp03"]) == (1, 1), changed
    assert all(changed[node] == 0 for node in WORKERS), changed
    cluster.wait_ready(NODES, 240)
    after = cluster.etcd_member_list("cp01")
    assert after["header"]["cluster_id"] == before["header"]["cluster_id"], "a second etcd cluster was started"
    members = after["members"]
    assert sorted(m["name"] for m in members) == CONTROL_PLANES, members
    assert {m["name"]: m["ID"] for m in members if m["name"] != "cp01"} == kept, "a healthy member was removed"
    assert all(m.get("clientURLs") for m in members), members  # every member started, none left half-added
    for node in CONTROL_PLANES:
        assert cluster.node_exec(node, "test", "-e", "/etc/kubernetes/clusterboot-initialized").returncode == 0, node


def served_certificate(node: str) -> str:
    """The certificate the node's own API server presents now (PEM), read without trusting it."""
    return ssl.get_server_certificate((ADDRESSES[node], 6443), timeout=10)


def static_pod_containers(cluster: SharedCluster, node: str) -> dict[str, str]:
    """The running container of each control-plane static pod on the node: {name: container id}. Waited for: a
    controller manager or scheduler that lost its lease restarts after kubelet's back-off."""
    pods = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
    deadline = time.monotonic() + 180
    while True:
        ids = {pod: cluster.node_exec(node, "crictl", "ps", "--name", f"^{pod}$", "--state", "running", "-q")
               .stdout.strip() for pod in pods}
        if all(ids.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert all(ids.values()), (node, ids)
    return ids


def test_certs_lists_the_expiry_dates_and_renew_replaces_every_certificate_one_control_plane_at_a_time(
        shared_cluster: SharedCluster) -> None:
    """`certs` prints every control plane's kubeadm certificates (about a year left on this cluster) and changes
    nothing; `--renew` with no terminal and no --yes refuses, changing nothing; with --yes every certificate's
    expiry moves later, each API server serves its renewed certificate, every control-plane container was
    restarted (seen failing with the restarts left out), the fetched admin kubeconfig is new, 0600 and works,
    etcd keeps its three members and every node stays Ready. The playbook with a 400-day threshold names the
    certificates due."""
    cluster = shared_cluster
    report = PROJECT / ".artifacts" / "certs-shared.json"
    kubeconfig_before = cluster.kubeconfig.read_bytes()
    listed = cluster.bootstrap("certs")
    assert listed.returncode == 0, listed.stdout[-4000:]
    assert totals(listed.stdout)["changed"] == 0
    rows = [row for row in map(str.split, listed.stdout.splitlines()) if row[:1] in [[n] for n in CONTROL_PLANES]
            and "UTC" in row]  # the table's rows, not the run summary's
    assert {(row[0], row[1]) for row in rows} >= {(n, "apiserver") for n in CONTROL_PLANES}, listed.stdout[-3000:]
    assert all(row[-1] in ("364d", "365d") for row in rows if row[1] == "apiserver"), rows
    before = json.loads(report.read_text())

    refused = subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(cluster.inventory), "certs",
                              "--renew"], cwd=PROJECT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=120, check=False)
    assert refused.returncode == 2 and "run it again with --yes" in refused.stderr, refused.stderr
    assert json.loads(report.read_text()) == before

    containers_before = {node: static_pod_containers(cluster, node) for node in CONTROL_PLANES}
    renewed = cluster.bootstrap("certs", "--renew", "--yes")
    assert renewed.returncode == 0, renewed.stdout[-6000:]
    after = json.loads(report.read_text())
    for node in CONTROL_PLANES:
        old = {c["name"]: c["expirationDate"] for c in before[node] if not c["authority"] and not c["missing"]}
        new = {c["name"]: c["expirationDate"] for c in after[node] if not c["authority"] and not c["missing"]}
        assert old.keys() == new.keys() and all(new[name] > old[name] for name in old), (node, old, new)
        on_disk = cluster.node_exec(node, "cat", "/etc/kubernetes/pki/apiserver.crt").stdout
        assert ssl.PEM_cert_to_DER_cert(served_certificate(node)) == ssl.PEM_cert_to_DER_cert(on_disk), node
        # The API server reloads its serving certificate by itself; its client certificates (to etcd, to
        # kubelets), the controller manager's and the scheduler's kubeconfigs are read at start: each restarted.
        restarted = static_pod_containers(cluster, node)
        assert all(restarted[pod] != containers_before[node][pod] for pod in restarted), (node, restarted)
    assert cluster.kubeconfig.read_bytes() != kubeconfig_before
    assert cluster.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert sorted(m["name"] for m in cluster.etcd_members("cp01")) == CONTROL_PLANES
    cluster.wait_ready(NODES, 120)  # through the new kubeconfig

    due = cluster.playbook("certs.yml", "-e", "control_plane_certs_warning_days=400")
    assert due.returncode == 0, due.stdout[-4000:]
    assert "apiserver" in due.stdout and "expire within 400 days; renew them: python bootstrap.py certs --renew" \
        in " ".join(due.stdout.split()), due.stdout[-4000:]


def test_backup_then_a_restore_cut_short_and_finished_brings_back_what_was_deleted(
        shared_cluster: SharedCluster) -> None:
    """`backup` fetches a snapshot (0600, in a 0700 folder) with its record: this cluster, its Kubernetes, its CA,
    etcdutl's reading of it. A ConfigMap and a Deployment made before it and deleted after it are back after
    `restore`, which is refused without --yes, cut by Ctrl-C while the control plane is down (held manifests
    on the nodes) and finished by the same command; etcd then has its three members in a new etcd cluster and
    every node is Ready. The probe's namespace is deleted at the end: the cluster is left as it was found."""
    cluster = shared_cluster
    namespace = "backup-probe"
    cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.kubectl("-n", namespace, "create", "configmap", "kept", "--from-literal=answer=42")
        cluster.kubectl("-n", namespace, "create", "deployment", "kept", "--replicas=1",
                        f"--image=cp01:5000/pause:{image_tags()['pause']}")
        started = time.monotonic()
        backed_up = cluster.bootstrap("backup")
        backup_seconds = time.monotonic() - started
        assert backed_up.returncode == 0, backed_up.stdout[-4000:]
        snapshot = Path(backed_up.stdout.split("snapshot: ")[-1].split()[0])
        record = json.loads(snapshot.with_suffix(".json").read_text())
        assert record["cluster"] == "shared" and record["kubernetes_version"] == KUBERNETES_VERSION, record
        assert record["sha256"] == hashlib.sha256(snapshot.read_bytes()).hexdigest()
        assert record["etcd"]["totalKey"] > 100, record  # etcdutl read it back: a whole cluster's keys
        assert snapshot.stat().st_mode & 0o777 == 0o600 and snapshot.parent.stat().st_mode & 0o777 == 0o700
        assert all(cluster.node_exec(node, "test", "-e", "/var/lib/etcd/clusterboot-backup.db").returncode == 1
                   for node in CONTROL_PLANES)
        cluster_id_before = cluster.etcd_member_list("cp01")["header"]["cluster_id"]

        cluster.kubectl("-n", namespace, "delete", "configmap,deployment", "kept", "--wait=true")
        refused = subprocess.run([sys.executable, "bootstrap.py", "restore", str(snapshot), "--inventory",
                                  str(cluster.inventory)], cwd=PROJECT, capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL, timeout=120, check=False)
        assert refused.returncode == 2 and "run it again with --yes" in refused.stderr, refused.stderr

        started = time.monotonic()
        argv = [sys.executable, "bootstrap.py", "restore", str(snapshot), "--inventory", str(cluster.inventory),
                "--yes"]
        with subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as cut:
            while cluster.node_exec("cp02", "test", "-d", "/etc/kubernetes/manifests-held-by-restore").returncode:
                assert cut.poll() is None and time.monotonic() - started < 300, "restore never held the manifests"
                time.sleep(0.5)
            cut.send_signal(signal.SIGINT)
            output = cut.communicate(timeout=120)[0]
        assert cut.returncode == 130, output[-4000:]
        restored = cluster.bootstrap("restore", str(snapshot), "--yes")
        restore_seconds = time.monotonic() - started
        assert restored.returncode == 0, restored.stdout[-6000:]

        assert cluster.json("-n", namespace, "get", "configmap", "kept")["data"] == {"answer": "42"}
        cluster.kubectl("-n", namespace, "rollout", "status", "deployment/kept", "--timeout=180s", timeout=200)
        members = cluster.etcd_member_list("cp01")
        assert sorted(m["name"] for m in members["members"]) == CONTROL_PLANES
        assert members["header"]["cluster_id"] != cluster_id_before  # etcd's data was replaced, not left alone
        cluster.wait_ready(NODES, 180)
        assert all(cluster.node_exec(node, "test", "-e", "/var/lib/clusterboot/restore").returncode == 1
                   for node in CONTROL_PLANES)
        print(f"backup {backup_seconds:.0f} s; restore, cut once and finished, {restore_seconds:.0f} s")
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
