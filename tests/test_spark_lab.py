"""End to end on a 1 control plane + 3 worker lab: one `bootstrap.py --inventory` run brings up the registry,
builds and pushes the Spark image, forms the standalone cluster and runs the configured word count.

Everything here is real: SSH, apt from Debian's archive, dockerd and containerd in the nodes,
docker-registry, Spark master and workers, spark-submit from this machine.
"""

import json
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from clusterboot.lab import lab

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parent.parent
MASTER = "10.219.0.11"


@pytest.fixture(scope="module")
def spark_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="pytestspark", subnet="10.219.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.up(cfg, nodes=4, control_planes=1, spark_manager="standalone", log=lambda _: None)
    run = subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(cfg.inventory_dir)], cwd=PROJECT,
                         capture_output=True, text=True, timeout=2400, check=False)
    yield cfg, run
    lab.down(cfg, log=lambda _: None)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_whole_flow_succeeds(spark_lab):
    _, run = spark_lab
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_image_is_in_the_registry_and_a_worker_pulls_it_with_containerd(spark_lab):
    cfg, _ = spark_lab
    image = json.loads((PROJECT / ".artifacts" / "spark-image-pytestspark.json").read_text())["reference"]
    repository, tag = image.split("/", 1)[1].split(":")
    assert tag in get_json(f"http://{MASTER}:5000/v2/{repository}/tags/list")["tags"]
    pull = subprocess.run(["docker", "exec", "pytestspark-wk002", "ctr", "-n", "k8s.io", "images", "pull",
                           "--hosts-dir", "/etc/containerd/certs.d", image], capture_output=True, text=True,
                          timeout=600, check=False)
    assert pull.returncode == 0, pull.stderr[-2000:]


def test_three_workers_registered(spark_lab):
    status = get_json(f"http://{MASTER}:8080/json/")
    alive = sorted(w["host"] for w in status["workers"] if w["state"] == "ALIVE")
    assert alive == ["10.219.0.12", "10.219.0.13", "10.219.0.14"]


def test_word_count_ran_on_the_workers_and_is_right(spark_lab):
    cfg, run = spark_lab
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
