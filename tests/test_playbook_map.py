"""The runner picks the smallest playbook file that holds a --role or --phase selection."""

from pathlib import Path

import pytest

from clusterboot import playbook_map
from clusterboot.errors import UserError

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
SITE = PLAYBOOKS / "site.yml"


@pytest.fixture(scope="module")
def plays():
    return playbook_map.read_plays(SITE)


@pytest.mark.parametrize("role,phase,expected", [
    ("container_runtime", None, "nodes.yml"),
    ("preflight", None, "nodes.yml"),
    ("join", None, "kubernetes.yml"),
    ("spark_standalone", None, "spark.yml"),
    (None, "nodes", "nodes.yml"),
    (None, "spark", "spark.yml"),
    (None, None, "site.yml"),
])
def test_selection_runs_its_own_file(plays, role, phase, expected):
    assert playbook_map.playbook_for(plays, SITE, role, phase) == PLAYBOOKS / expected


def test_every_role_is_tagged_with_itself_and_its_phase(plays):
    assert playbook_map.tags_for(plays, "base", None) == ["base"]
    assert playbook_map.phases(plays) == ["nodes", "kubernetes", "spark"]


def test_unknown_role_lists_the_known_ones(plays):
    with pytest.raises(UserError, match="unknown role 'docker'.*container_runtime"):
        playbook_map.tags_for(plays, "docker", None)
