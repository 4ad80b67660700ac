"""Which etcd members a rejoining control plane leaves behind, and when removing them is refused
(roles/control_plane/filter_plugins/etcd_removal.py)."""

import importlib.util
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent / "roles/control_plane/filter_plugins/etcd_removal.py"
spec = importlib.util.spec_from_file_location("etcd_removal", PLUGIN)
etcd_removal = importlib.util.module_from_spec(spec)
spec.loader.exec_module(etcd_removal)


def member(name: str, number: int, started: bool = True) -> dict:
    url = f"https://10.0.0.{number}"
    return {"ID": 1000 + number, "name": name if started else "", "peerURLs": [f"{url}:2380"],
            "clientURLs": [f"{url}:2379"] if started else []}


def health(*numbers: int, up: bool = True) -> list[dict]:
    return [{"endpoint": f"https://10.0.0.{n}:2379", "health": up} for n in numbers]


def removal(members: list[dict], healthy: list[dict], name: str = "cp01", number: int = 1) -> dict:
    return etcd_removal.etcd_member_removal(members, healthy, name, f"https://10.0.0.{number}:2380")


THREE = [member("cp01", 1), member("cp02", 2), member("cp03", 3)]


def test_a_dead_member_goes_while_the_other_two_are_healthy():
    assert removal(THREE, health(2, 3)) == {"ids": [format(1001, "x")], "problem": ""}


def test_nothing_to_remove_for_a_new_control_plane():
    assert removal(THREE[1:], health(2, 3)) == {"ids": [], "problem": ""}


def test_a_member_added_by_a_join_that_died_is_found_by_its_peer_url():
    members = [member("cp01", 1), member("cp02", 2), member("", 3, started=False)]
    assert removal(members, health(1, 2), "cp03", 3)["ids"] == [format(1003, "x")]


def test_refused_when_the_members_left_would_have_no_quorum():
    # cp01 is pending (its Node was lost) but healthy; cp03 is down: without cp01, 1 of 2 is healthy.
    result = removal(THREE, health(1, 2) + health(3, up=False))
    assert result["problem"].startswith("removing cp01's old etcd member would leave 2 members, 1 of them healthy")
    assert "Bring back cp03" in result["problem"]


def test_an_unanswered_endpoint_counts_as_unhealthy():
    assert removal(THREE, health(2))["problem"] != ""


def test_the_last_member_is_never_removed_from_under_itself():
    assert removal([member("cp01", 1)], health(1))["problem"] != ""
