from pathlib import Path

import pytest

# The clusterboot package comes from the editable install (`pip install -e .`, done by ./dev).
from clusterboot.lab import lab
from shared_cluster import formed

PROJECT = Path(__file__).resolve().parent.parent


TEST_LAB = pytest.StashKey[lab.LabConfig]()


@pytest.fixture(scope="session")
def test_lab(request, tmp_path_factory):
    """A 3-node lab (cp01, wk001, wk002) on its own network, removed at the end of the session (or before the
    shared cluster forms: its tests run last, so the test lab's have all run by then)."""
    cfg = lab.LabConfig(project_dir=PROJECT, name="pytestlab", subnet="10.215.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.up(cfg, nodes=3, control_planes=1, spark_manager="standalone", log=lambda _: None)
    request.config.stash[TEST_LAB] = cfg
    yield cfg
    lab.down(cfg, log=lambda _: None)


@pytest.fixture(scope="session")
def shared_cluster(request, tmp_path_factory):
    """The HA cluster with Kafka, formed as a sudo user (tests/shared_cluster.py), once per session. The machine's
    disk and cores go to it alone: the test lab is removed first."""
    if TEST_LAB in request.config.stash:
        lab.down(request.config.stash[TEST_LAB], log=lambda _: None)
    with formed(tmp_path_factory.mktemp("shared")) as cluster:
        yield cluster


@pytest.hookimpl(tryfirst=True)  # before -m deselects: ./dev selects the shared cluster's tests by their marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests that use the shared cluster `shared_cluster`, then orders them after every other (no other
    lab shares the machine with it), those that reset and form it again last of all; otherwise the collected
    order."""
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("reforms_shared_cluster"):
            return 2
        return 1 if item.get_closest_marker("shared_cluster") else 0
    for item in items:
        if "shared_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker("shared_cluster")
    items.sort(key=rank)
