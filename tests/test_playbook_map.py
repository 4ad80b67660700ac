"""The runner picks the smallest playbook file that holds a --role or --phase selection."""

from pathlib import Path

import pytest
import yaml

from clusterboot import playbook_map
from clusterboot.errors import UserError

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
SITE = PLAYBOOKS / "site.yml"


# Per test, not per module: it is cheap, and mutmut links a function only to the tests that call it.
@pytest.fixture
def plays():
    return playbook_map.read_plays(SITE)


@pytest.mark.parametrize("role,phase,expected", [
    ("container_runtime", None, "nodes.yml"),
    ("preflight", None, "nodes.yml"),
    ("join", None, "kubernetes.yml"),
    ("spark_standalone", None, "spark.yml"),
    (None, "nodes", "nodes.yml"),
    (None, "spark", "spark.yml"),
    ("kafka", None, "streaming.yml"),
    (None, "streaming", "streaming.yml"),
    (None, None, "site.yml"),
])
def test_selection_runs_its_own_file(plays, role, phase, expected):
    assert playbook_map.playbook_for(plays, SITE, role, phase) == PLAYBOOKS / expected


def role_entries(playbook: Path) -> list[tuple[str, list, list | None]]:
    """(role, its tags, the tags `apply` gives an include_role's tasks; None for a roles: entry) per role."""
    entries = []
    for play in yaml.safe_load(playbook.read_text()):
        for role in play.get("roles", []):
            entries.append((role["role"], role.get("tags"), None) if isinstance(role, dict) else (role, None, None))
        for task in play.get("tasks", []):
            include = task.get("ansible.builtin.include_role")
            if include:
                entries.append((include["name"], task.get("tags"), (include.get("apply") or {}).get("tags", [])))
    return entries


@pytest.mark.parametrize("phase", ["nodes", "kubernetes", "spark", "streaming"])
def test_every_role_is_tagged_with_itself_and_its_phase(plays, phase):
    """Ansible selects --role/--phase by these tags: an untagged role would be skipped by both."""
    entries = role_entries(PLAYBOOKS / f"{phase}.yml")
    assert entries
    for role, tags, applied in entries:
        assert tags == [role, phase], f"{phase}.yml: role {role} is tagged {tags}"
        if applied is not None:  # include_role: the included tasks need the tags too
            assert applied == [role, phase], f"{phase}.yml: include_role {role} applies {applied}"
    # What the runner reads from the same file: each play's phase, and the roles in order.
    file_plays = [p for p in plays if p.source.name == f"{phase}.yml"]
    assert {p.phase for p in file_plays} == {phase}
    assert [r for p in file_plays for r in p.roles] == [r for r, _, _ in entries]


@pytest.mark.parametrize("playbook", sorted(p.name for p in PLAYBOOKS.glob("*.yml")))
def test_every_playbook_is_written_in_the_spellings_the_runner_reads(playbook):
    """The runner reads every playbook it runs (for its play names and hosts); it follows only
    ansible.builtin.import_playbook and role entries written as mappings, so each must read cleanly."""
    text = yaml.safe_load((PLAYBOOKS / playbook).read_text())
    assert all("import_playbook" not in play and all(isinstance(r, dict) for r in play.get("roles", []))
               for play in text), f"{playbook}: a short import_playbook or a bare role name"
    read = playbook_map.read_plays(PLAYBOOKS / playbook)
    assert [p.name for p in read if p.source == PLAYBOOKS / playbook] == [
        play["name"] for play in text if "ansible.builtin.import_playbook" not in play]


def test_site_imports_the_phases_in_order(plays):
    assert playbook_map.phases(plays) == ["nodes", "kubernetes", "spark", "streaming"]
    assert playbook_map.roles(plays)[:3] == ["preflight", "package_cache", "base"]
    assert playbook_map.tags_for(plays, "base", None) == ["base"]
    assert playbook_map.tags_for(plays, None, "spark") == ["spark"]
    assert playbook_map.tags_for(plays, None, None) == []


def test_unknown_role_lists_the_known_ones(plays):
    with pytest.raises(UserError, match="unknown role 'docker'.*container_runtime"):
        playbook_map.tags_for(plays, "docker", None)


def test_unknown_phase_lists_the_known_ones(plays):
    with pytest.raises(UserError, match="unknown phase 'network'; --phase takes a phase of site.yml: nodes, kubernetes, spark"):
        playbook_map.tags_for(plays, None, "network")


def test_a_role_rerun_skips_the_other_roles_of_its_file_but_not_the_inventory_checks(plays):
    """Their argument validations run under `always`; preflight's inventory checks must still run."""
    nodes = PLAYBOOKS / "nodes.yml"
    roles_dir = PLAYBOOKS.parent / "roles"
    assert playbook_map.skip_tags_for(plays, nodes, "container_runtime", roles_dir) == [
        "package_cache", "base", "registry"]
    assert "preflight" not in playbook_map.skip_tags_for(plays, nodes, "base", roles_dir)
    assert playbook_map.skip_tags_for(plays, nodes, None, roles_dir) == []
