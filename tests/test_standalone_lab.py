"""Spark standalone and one Kafka broker end to end on a 1 control plane + 3 worker lab ('standalone',
10.222.1.0/24): one `bootstrap.py --inventory` run brings up the registry, builds and pushes the Spark image,
forms the standalone cluster, installs the broker on cp01 and runs the configured word count, with the plays that
allow it (base, container runtime) run as two ansible-playbook processes (`--shards 2`: cp01, wk001 | wk002,
wk003).

Real: SSH, apt from Debian's archive, dockerd and containerd in the nodes, docker-registry, Spark master and
workers, spark-submit from this machine (the driver here, executors on the workers), and the kafka role from a
release tarball (kafka_source: release) that the broker downloads over HTTP from this machine and checks
against its sha512 (Apache's download site is unreachable here, so the tarball holds the jars the maven source
assembles, in Apache's layout). Checked: the workers registered, the word count's answer, the image pulled by
a worker's containerd; the topics with one replica each, every injected fraud alerted exactly once in parquet
and on the alerts topic and no clean payment, a second `--phase streaming` run changes nothing, a tarball that
does not match kafka_release_sha512 is refused, a data folder that lost its format is refused, not formatted.
Sharded: each play announced once, reruns with 2 and 1 shards change nothing, and failures in both shards give
one summary, one retry command naming both, and exit 1.
Three brokers on Kubernetes: tests/test_cluster_kafka.py.
"""

import ipaddress
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

import browser
from clusterboot.lab import lab
from kafka_support import (PROJECT, add_kafka_group, alert_keys_on_topic, alerted_ids, answer, bootstrap,
                           broker_tool, generate_payments, http_server, local_spark_session,
                           release_shaped_tarball)
from shared_cluster import totals

pytestmark = pytest.mark.lab

NAME, SUBNET = "standalone", "10.222.1.0/24"
MASTER = "10.222.1.11"
BROKER = f"{MASTER}:9092"
ROWS = 4000


@pytest.fixture(scope="module")
def standalone_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name=NAME, subnet=SUBNET,
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    mirror = tmp_path_factory.mktemp("mirror")
    with ExitStack() as stack:
        stack.callback(lab.down, cfg, log=lambda _: None)
        lab.up(cfg, nodes=4, control_planes=1, spark_manager="standalone", log=lambda _: None)
        tarball, sha512 = release_shaped_tarball(mirror)
        url = stack.enter_context(http_server(mirror, str(next(ipaddress.ip_network(SUBNET).hosts()))))
        add_kafka_group(cfg.inventory_dir, ["cp01"], f"kafka_source: release\nkafka_release_url: {url}/{tarball.name}\n"
                                                     f"kafka_release_sha512: {sha512}\n")
        run = subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "--shards", "2"],
                             cwd=PROJECT, capture_output=True, text=True, timeout=2400, check=False)
        yield cfg, run


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def docker_exec(cfg, *argv: str) -> str:
    return subprocess.run(["docker", "exec", f"{cfg.name}-cp01", *argv], capture_output=True, text=True,
                          check=False).stdout


def test_whole_flow_succeeds(standalone_lab):
    _, run = standalone_lab
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_image_is_in_the_registry_and_a_worker_pulls_it_with_containerd(standalone_lab):
    cfg, _ = standalone_lab
    image = json.loads((PROJECT / ".artifacts" / f"spark-image-{NAME}.json").read_text())["reference"]
    repository, tag = image.split("/", 1)[1].split(":")
    assert tag in get_json(f"http://{MASTER}:5000/v2/{repository}/tags/list")["tags"]
    pull = subprocess.run(["docker", "exec", f"{NAME}-wk002", "ctr", "-n", "k8s.io", "images", "pull",
                           "--hosts-dir", "/etc/containerd/certs.d", image], capture_output=True, text=True,
                          timeout=600, check=False)
    assert pull.returncode == 0, pull.stderr[-2000:]


def test_three_workers_registered(standalone_lab):
    status = get_json(f"http://{MASTER}:8080/json/")
    alive = sorted(w["host"] for w in status["workers"] if w["state"] == "ALIVE")
    assert alive == ["10.222.1.12", "10.222.1.13", "10.222.1.14"]


def test_the_master_ui_shows_the_workers_and_the_finished_word_count_in_a_browser(standalone_lab):
    """The master's page as an operator opens it; the screenshot stays in the run's artifacts folder."""
    _, run = standalone_lab
    screenshot = artifacts_of(run.stdout) / "spark-master.png"
    page = browser.rendered(f"http://{MASTER}:8080/", screenshot=screenshot)
    assert "Workers: 3 Alive, 0 Dead" in page, page[:2000]
    completed = page.split("Completed Applications", 1)[-1]
    assert re.search(r"WordCount \d+ [\d.]+ \w+ \S+ \S+ \w+ FINISHED", completed), completed[:2000]
    assert screenshot.stat().st_size > 10_000


def test_word_count_ran_on_the_workers_and_is_right(standalone_lab):
    cfg, run = standalone_lab
    report = next(line for line in run.stdout.splitlines() if line.startswith("job word_count: exit 0"))
    placement = re.search(r"executors by worker: (.*); driver log", report).group(1)
    assert re.search(r"wk00\d: \d", placement), report
    corpus = "".join(p.read_text() for p in sorted((cfg.shared_data_dir / "corpus").glob("part-*")))
    expected = Counter(w for line in corpus.splitlines() for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", line.lower()))
    counted = {}
    for part in (cfg.shared_data_dir / "word-counts").glob("part-*"):
        for line in part.read_text().splitlines():
            word, count = line.split("\t")
            counted[word] = int(count)
    assert counted == dict(expected)
    assert sum(expected.values()) == 20000 * 12


def test_broker_up_and_topics_created(standalone_lab):
    cfg, _ = standalone_lab
    described = broker_tool(f"{cfg.name}-cp01", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BROKER,
                            "--describe")
    for topic in ("transactions", "fraud-alerts"):
        assert f"Topic: {topic}\tTopicId" in described
    # The broker runs from the unpacked release, not from jars copied by the controller.
    unit = docker_exec(cfg, "systemctl", "cat", "kafka")
    assert re.search(r'-cp "/opt/kafka/kafka_2\.13-[0-9.]+/libs/\*"', unit), unit
    assert described.count("PartitionCount: 3\tReplicationFactor: 1") == 2, described


def test_every_fraud_alerted_exactly_once_and_no_clean_payment(standalone_lab):
    cfg, _ = standalone_lab
    payments = generate_payments(cfg, cfg.shared_data_dir / "payments", ROWS, BROKER, "--fraud-rate", "0.02")
    alerts, checkpoint = cfg.shared_data_dir / "alerts", cfg.shared_data_dir / "checkpoints" / "alerts"
    run = bootstrap("submit", "--inventory", str(cfg.inventory_dir), "fraud_detection", "--",
                    "--bootstrap-servers", BROKER, "--alerts-path", str(alerts), "--checkpoint", str(checkpoint),
                    "--available-now")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    with local_spark_session() as spark:
        frauds, rows = answer(spark, payments)
        assert rows == ROWS and 40 < len(frauds) < 130, (rows, len(frauds))
        assert sorted(alerted_ids(spark, alerts)) == sorted(frauds)  # each fraud once, nothing else
    assert alert_keys_on_topic(f"{cfg.name}-cp01", BROKER, "fraud-alerts") == frauds


def test_second_run_changes_nothing(standalone_lab):
    cfg, _ = standalone_lab
    again = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert again.returncode == 0, again.stdout[-4000:]
    assert totals(again.stdout)["changed"] == 0, again.stdout[-4000:]


def test_a_release_that_does_not_match_its_checksum_is_refused(standalone_lab):
    """The tarball served is the same; the inventory's sha512 is not its own: get_url refuses the download and
    keeps the file already checked, and the broker runs on."""
    cfg, _ = standalone_lab
    settings = cfg.inventory_dir / "group_vars" / "kafka.yml"
    right = settings.read_text()
    settings.write_text(re.sub(r"kafka_release_sha512: \w+", "kafka_release_sha512: '" + "f" * 128 + "'", right))
    before = docker_exec(cfg, "bash", "-c", "sha512sum /opt/kafka/*.tgz")
    try:
        refused = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    finally:
        settings.write_text(right)  # the lab as the other tests expect it
    assert refused.returncode == 1, refused.stdout[-4000:]
    failing = next(line for line in refused.stdout.splitlines() if line.startswith("cp01 "))
    assert "Download the Kafka release" in failing and "checksum" in failing.lower(), failing
    assert docker_exec(cfg, "bash", "-c", "sha512sum /opt/kafka/*.tgz") == before
    assert docker_exec(cfg, "systemctl", "is-active", "kafka").strip() == "active"


def test_a_log_folder_that_lost_its_format_is_refused_not_formatted(standalone_lab):
    """As if the broker's data disk were not mounted: its folder is empty. The broker does not start on it and
    nothing formats it (a new voter with empty metadata); a run stops and names the folder. Put back, the
    broker runs on its old data."""
    cfg, _ = standalone_lab
    docker_exec(cfg, "systemctl", "stop", "kafka")
    docker_exec(cfg, "mv", "/var/lib/kafka/data", "/var/lib/kafka/data.mounted")
    docker_exec(cfg, "install", "-d", "-o", "kafka", "-g", "kafka", "-m", "0750", "/var/lib/kafka/data")
    try:
        docker_exec(cfg, "systemctl", "start", "kafka")
        time.sleep(20)  # Restart=on-failure: several starts come and go meanwhile
        assert docker_exec(cfg, "ls", "-A", "/var/lib/kafka/data").strip() == ""
        assert docker_exec(cfg, "systemctl", "is-active", "kafka").strip() != "active" or \
            "meta.properties" in docker_exec(cfg, "journalctl", "-u", "kafka", "--no-pager", "-n", "50")
        refused = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
        assert refused.returncode == 1, refused.stdout[-4000:]
        assert "/var/lib/kafka/data holds no meta.properties, but this broker formatted it before" in refused.stdout, \
            refused.stdout[-4000:]
        assert docker_exec(cfg, "ls", "-A", "/var/lib/kafka/data").strip() == ""
    finally:
        docker_exec(cfg, "systemctl", "stop", "kafka")
        docker_exec(cfg, "rm", "-rf", "/var/lib/kafka/data")
        docker_exec(cfg, "mv", "/var/lib/kafka/data.mounted", "/var/lib/kafka/data")
        docker_exec(cfg, "systemctl", "reset-failed", "kafka")
        docker_exec(cfg, "systemctl", "start", "kafka")
    back = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "streaming")
    assert back.returncode == 0, back.stdout[-4000:]
    assert "Topic: transactions" in broker_tool(f"{cfg.name}-cp01", "org.apache.kafka.tools.TopicCommand",
                                                "--bootstrap-server", BROKER, "--describe")


def artifacts_of(output: str) -> Path:
    return Path(next(line.split("artifacts: ")[1] for line in output.splitlines() if line.startswith("artifacts: ")))


def summary_rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in output.splitlines() if line.startswith(("cp01 ", "wk00"))}


def test_the_flow_ran_the_shardable_plays_as_two_shards(standalone_lab):
    _, run = standalone_lab
    commands = (artifacts_of(run.stdout) / "commands.txt").read_text().splitlines()
    sharded = [(c.split("--limit ")[1].split()[0], c.split("--tags ")[1].split()[0])
               for c in commands if "--limit" in c]
    # Each shardable step (base and container runtime; the Kubernetes packages) as two processes, in order.
    assert sharded[:2] == [("cp01,wk001", "base,container_runtime"), ("wk002,wk003", "base,container_runtime")]
    assert [limit for limit, _ in sharded] == ["cp01,wk001", "wk002,wk003"] * (len(sharded) // 2)
    assert set(summary_rows(run.stdout)) == {"cp01", "wk001", "wk002", "wk003"}
    assert all(int(row[2]) > 0 for row in summary_rows(run.stdout).values())  # every node was changed
    assert run.stdout.count("PLAY OS base") == 1  # one run to the operator: each play announced once


def test_reruns_with_two_shards_and_with_one_change_nothing(standalone_lab):
    cfg, _ = standalone_lab
    again = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "nodes", "--shards", "2", "-q")
    assert again.returncode == 0 and "changed=0 failed=0" in again.stdout, again.stdout[-3000:]
    single = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "nodes", "--shards", "1", "-q")
    assert single.returncode == 0 and "changed=0 failed=0" in single.stdout, single.stdout[-3000:]
    assert not (artifacts_of(single.stdout) / "commands.txt").exists()  # one ansible-playbook, as before


def test_failures_in_both_shards_give_one_retry_command_naming_both(standalone_lab):
    """/etc/fstab made a folder on wk001 (shard 1) and wk003 (shard 2): base fails there, the other nodes go on
    to the registry, the run exits 1 and one retry command names exactly those two; once fixed, it completes."""
    cfg, _ = standalone_lab
    broken = ("wk001", "wk003")
    for node in broken:
        subprocess.run(["docker", "exec", f"{NAME}-{node}", "sh", "-c",
                        "mv /etc/fstab /etc/fstab.kept && mkdir /etc/fstab"], check=True)
    try:
        run = bootstrap("--inventory", str(cfg.inventory_dir), "--phase", "nodes", "--shards", "2")
    finally:
        for node in broken:
            subprocess.run(["docker", "exec", f"{NAME}-{node}", "sh", "-c",
                            "rmdir /etc/fstab && mv /etc/fstab.kept /etc/fstab"], check=True)
    assert run.returncode == 1, run.stdout[-3000:]
    table = summary_rows(run.stdout)
    assert list(table)[:2] == ["wk001", "wk003"], run.stdout[-3000:]  # problems first
    assert all("Keep swap off after reboot (fstab)" in " ".join(table[n]) for n in broken)
    hints = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("python bootstrap.py")]
    assert len(hints) == 1, run.stdout[-3000:]
    assert Path(hints[0].split("--limit @")[1]).read_text() == "wk001\nwk003\n"
    # The registry step ran after the sharded one, on the nodes that had not failed only.
    registry = [c for c in (artifacts_of(run.stdout) / "commands.txt").read_text().splitlines() if "registry" in c]
    assert registry and "--limit all,!wk001,!wk003" in registry[0]
    retry = subprocess.run([sys.executable, *shlex.split(hints[0])[1:]], cwd=PROJECT, capture_output=True, text=True,
                           timeout=1800, check=False)
    assert retry.returncode == 0, retry.stdout[-3000:]
    assert set(summary_rows(retry.stdout)) == set(broken), retry.stdout[-3000:]

