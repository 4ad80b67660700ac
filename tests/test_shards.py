"""Sharded runs: which plays may be sharded, how hosts are split, and how the processes' results merge."""

import io
from pathlib import Path

import pytest
import yaml

from clusterboot import playbook_map, shards, summary
from clusterboot.playbook_map import PlayInfo
from clusterboot.progress import HostResult, Progress, RunState

PROJECT = Path(__file__).resolve().parent.parent


# Per test, not per module: a mutant of read_plays is then read again (mutmut 3.8.1 still does not link these
# tests to read_plays, since the call is in a fixture; run by hand, they kill its shardable/any_errors_fatal mutants).
@pytest.fixture
def site() -> list[PlayInfo]:
    return playbook_map.read_plays(PROJECT / "playbooks" / "site.yml")


def play(name: str, shardable: bool, hosts: str = "k8s_cluster", roles: tuple[str, ...] = ()) -> PlayInfo:
    return PlayInfo(name=name, hosts=hosts, phase="nodes", roles=roles or (name,), source=Path("nodes.yml"),
                    shardable=shardable)


def test_every_play_declared_shardable_has_no_hazard_and_the_declared_ones_are_the_expected(site):
    declared = [p for p in site if p.shardable]
    assert [p.name for p in declared] == ["OS base", "Container runtime", "Kubernetes packages"]
    for p in declared:
        assert shards.hazards(p, PROJECT / "roles") == [], p.name


@pytest.mark.parametrize(("name", "reason"), [
    ("Validate the inventory and every node", "any_errors_fatal"),
    ("Package cache", "runs on one host that the others may need"),
    ("Image registry", "is delegated to another host"),
    ("Control plane", "any_errors_fatal"),
    ("Join the nodes", "runs once for every host"),
    ("Spark standalone cluster", "is delegated to another host"),
    ("Spark namespace, RBAC and volumes", "is not a plain group"),
])
def test_plays_that_need_every_host_in_one_process_are_found(site, name, reason):
    found = shards.hazards(next(p for p in site if p.name == name), PROJECT / "roles")
    assert any(reason in line for line in found), found


def test_split_keeps_inventory_order_in_nearly_equal_parts_and_never_an_empty_one():
    hosts = [f"wk{i:03d}" for i in range(1, 11)]
    parts = shards.split(hosts, 3)
    assert [len(p) for p in parts] == [4, 3, 3]
    assert sum(parts, []) == hosts
    assert shards.split(hosts[:2], 8) == [["wk001"], ["wk002"]]
    assert shards.split(hosts, 1) == [hosts]
    assert shards.split([], 4) == []


def test_plan_groups_consecutive_plays_and_shards_only_the_declared_ones():
    groups = {"k8s_cluster": ["cp01", "wk001", "wk002", "wk003"]}
    plays = [play("preflight", False), play("base", True), play("container_runtime", True), play("registry", False)]
    steps = shards.plan(plays, groups, 2, set(groups["k8s_cluster"]))
    assert [[p.name for p in s.plays] for s in steps] == [["preflight"], ["base", "container_runtime"], ["registry"]]
    assert [s.shards for s in steps] == [(), (("cp01", "wk001"), ("wk002", "wk003")), ()]
    assert steps[1].tags == ["base", "container_runtime"]
    one = shards.plan(plays, groups, 1, set(groups["k8s_cluster"]))
    assert all(not s.shards for s in one)
    # A limit to one host leaves nothing to split: the play runs in one process.
    assert all(not s.shards for s in shards.plan(plays, groups, 2, {"wk002"}))
    assert shards.plan(plays, groups, 2, {"cp01", "wk003"})[1].shards == (("cp01",), ("wk003",))


def test_limit_of_names_groups_and_retry_files_is_resolved_and_a_pattern_is_left_to_ansible(tmp_path):
    hostvars = {h: {} for h in ("cp01", "wk001", "wk002")}
    groups = {"workers": ["wk001", "wk002"], "control_plane": ["cp01"]}
    retry = tmp_path / "retry.txt"
    retry.write_text("wk002\n")
    assert shards.limit_hosts(None, hostvars, groups) == {"cp01", "wk001", "wk002"}
    assert shards.limit_hosts("workers", hostvars, groups) == {"wk001", "wk002"}
    assert shards.limit_hosts(f"cp01,@{retry}", hostvars, groups) == {"cp01", "wk002"}
    for pattern in ("wk*", "all:!cp01", "workers,&control_plane", "nosuchhost", f"@{tmp_path}/missing.txt"):
        assert shards.limit_hosts(pattern, hostvars, groups) is None


def test_install_batch_is_shared_between_shards():
    assert shards.install_batch(16, 2) == 8
    assert shards.install_batch(3, 8) == 1
    assert shards.install_batch(0, 4) == 0  # all at once stays all at once
    assert shards.install_batch(16, 1) == 16


def test_merge_sums_steps_and_shards_per_host_and_the_retry_names_every_failed_shards_host(tmp_path):
    preflight = RunState(hosts={"cp01": HostResult(ok=5), "wk001": HostResult(ok=5), "wk002": HostResult(ok=5)},
                         plays=["Validate"])
    shard1 = RunState(hosts={"cp01": HostResult(ok=7, changed=1), "wk001": HostResult(ok=3, failed=1,
                             failed_task="Install", message="E: broken")}, plays=["OS base"],
                      notes={"containers": ["cp01"]})
    shard2 = RunState(hosts={"wk002": HostResult(ok=2, unreachable=1, failed_task="Gathering Facts",
                             message="no route")}, plays=["OS base"], notes={"containers": ["wk002"]})
    merged = shards.merge([preflight, shard1, shard2])
    assert (merged.hosts["cp01"].ok, merged.hosts["cp01"].changed) == (12, 1)
    assert (merged.hosts["wk001"].ok, merged.hosts["wk001"].failed, merged.hosts["wk001"].failed_task) == (8, 1, "Install")
    assert merged.plays == ["Validate", "OS base"]
    assert merged.notes == {"containers": ["cp01", "wk002"]}
    text = summary.render(merged, tmp_path, ["--inventory", "lab", "--phase", "nodes"], rc=2)
    assert f"python bootstrap.py --inventory lab --phase nodes --limit @{tmp_path}/retry.txt" in text
    assert (tmp_path / "retry.txt").read_text() == "wk001\nwk002\n"
    assert shards.merged_rc([0, 2, 4]) == 2 and shards.merged_rc([0, 0]) == 0


def test_progress_of_several_processes_prints_each_play_and_task_once_and_counts_them_all():
    out = io.StringIO()
    first, second = RunState(), RunState()
    progress = Progress(RunState(), {"OS base": 4}, stream=out)
    feeds = [progress.for_state(first), progress.for_state(second)]
    for feed, host in zip(feeds, ("cp01", "wk002")):
        feed({"event": "playbook_on_play_start", "event_data": {"play": "OS base"}})
        feed({"event": "playbook_on_task_start", "event_data": {"task": "Set the hostname"}})
        feed({"event": "runner_on_ok", "event_data": {"host": host, "res": {"changed": True}}})
    # The first process moves on to the next play before the second one starts: nothing is printed twice.
    feeds[0]({"event": "playbook_on_play_start", "event_data": {"play": "Container runtime"}})
    feeds[0]({"event": "playbook_on_task_start", "event_data": {"task": "Write containerd's config"}})
    feeds[1]({"event": "playbook_on_play_start", "event_data": {"play": "OS base"}})
    feeds[1]({"event": "playbook_on_task_start", "event_data": {"task": "Set the hostname"}})
    assert out.getvalue() == ("PLAY OS base\n  task: Set the hostname\nPLAY Container runtime\n"
                              "  task: Write containerd's config\n")
    assert "hosts     2/4  ok=2 changed=2" in progress.status_line()


def test_a_step_runs_a_file_of_its_own_plays_unless_they_read_playbook_dir(site, tmp_path):
    """The file lies in the run's artifacts folder, so playbook_dir is not playbooks/ there."""
    groups = {"k8s_cluster": ["cp01", "wk001"], "control_plane": ["cp01"], "workers": ["wk001"]}
    steps = shards.plan(site, groups, 2, set(groups["k8s_cluster"]))
    sharded = [s for s in steps if s.shards]
    assert [[p.name for p in s.plays] for s in sharded] == [["OS base", "Container runtime"], ["Kubernetes packages"]]
    folder = tmp_path / "sharded"
    folder.mkdir()
    written = yaml.safe_load(sharded[0].playbook(folder, PROJECT / "roles").read_text())
    assert [p["name"] for p in written] == ["OS base", "Container runtime"]
    assert written[0]["roles"] == [{"role": "base", "tags": ["base", "nodes"]}]
    first = yaml.safe_load(steps[0].playbook(tmp_path, PROJECT / "roles").read_text())  # preflight, package cache
    assert [p["name"] for p in first] == ["Validate the inventory and every node", "Package cache"]
    # From the VIP to Kafka: control_plane's defaults read playbook_dir, and the plays span three files, so the
    # site playbook; the Spark plays' roles read it too (the wheels' folder), so their own file.
    spanning = next(s for s in steps if s.plays[0].name == "Control plane virtual IP")
    assert spanning.plays[-1].name == "Kafka brokers" and spanning.playbook(tmp_path, PROJECT / "roles") is None
    spark = shards.Step(tuple(p for p in site if p.name in ("Spark image", "Spark standalone cluster")))
    assert spark.playbook(tmp_path, PROJECT / "roles") == PROJECT / "playbooks" / "spark.yml"


def test_the_cli_shards_only_what_it_may(site, tmp_path):
    """--shards 1, extra --tags, a limit pattern, or a role with no shardable play: one ansible-playbook."""
    from clusterboot import cli, inventory, runner
    from clusterboot.inventory_writer import InventorySpec, write_inventory

    path = write_inventory(InventorySpec(name="shards", node_network="10.20.0.0/24", first_ip="10.20.0.11",
                                         control_planes=1, workers=3), tmp_path / "shards")
    hostvars, groups = inventory.check(path)

    def steps(*argv: str):
        args = cli.build_parser().parse_args(["--inventory", str(path), *argv])
        request = runner.RunRequest(inventory=path, playbook=PROJECT / "playbooks" / "site.yml")
        return cli._shard_steps(args, site, hostvars, groups, request), request

    for argv in (["--shards", "1"], ["--shards", "2", "--tags", "x"], ["--shards", "2", "--limit", "wk*"],
                 ["--shards", "2", "--role", "registry"]):
        assert steps(*argv)[0] is None, argv
    planned, request = steps("--shards", "2", "--role", "base")
    assert [(s.tags, s.shards) for s in planned] == [(["base"], (("cp01", "wk001"), ("wk002", "wk003")))]
    assert request.shard_vars == {}  # all nodes install at once (the default): nothing to split
    (path / "group_vars" / "all.yml").write_text((path / "group_vars" / "all.yml").read_text()
                                                 + "cluster_install_batch: 16\n")
    hostvars, groups = inventory.check(path)
    assert steps("--shards", "2", "--phase", "nodes")[1].shard_vars == {"cluster_install_batch": 8}
