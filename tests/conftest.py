from pathlib import Path

import pytest

# The clusterboot package comes from the editable install (`pip install -e .`, done by ./dev).
from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def test_lab(tmp_path_factory):
    """A 3-node lab (cp01, wk001, wk002) on its own network, removed at the end of the session."""
    cfg = lab.LabConfig(project_dir=PROJECT, name="pytestlab", subnet="10.215.0.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.up(cfg, nodes=3, control_planes=1, spark_manager="standalone", log=lambda _: None)
    yield cfg
    lab.down(cfg, log=lambda _: None)
