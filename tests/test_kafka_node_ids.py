"""Each broker's pinned KRaft node id and the quorum's voters (roles/kafka/filter_plugins/kafka_ids.py)."""

import importlib.util
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent / "roles/kafka/filter_plugins/kafka_ids.py"
spec = importlib.util.spec_from_file_location("kafka_ids", PLUGIN)
kafka_ids = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kafka_ids)

ADDRESSES = {"b1": "10.0.0.1:9093", "b2": "10.0.0.2:9093", "b3": "10.0.0.3:9093", "b4": "10.0.0.4:9093"}
VOTERS = "1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093"
FORMED = {host: {"config": str(n), "data": str(n), "voters": VOTERS} for n, host in enumerate(["b1", "b2", "b3"], 1)}


def plan(hosts: list[str], records: dict) -> dict:
    return kafka_ids.kafka_node_ids(hosts, records, ADDRESSES)


def test_a_new_cluster_numbers_its_brokers_in_inventory_order():
    result = plan(["b1", "b2", "b3"], {})
    assert result == {"ids": {"b1": 1, "b2": 2, "b3": 3}, "voters": VOTERS.split(","), "problem": ""}


def test_reordering_the_group_renumbers_nothing():
    result = plan(["b3", "b1", "b2"], FORMED)
    assert result["ids"] == {"b1": 1, "b2": 2, "b3": 3} and result["problem"] == ""
    assert ",".join(result["voters"]) == VOTERS


def test_a_reinstalled_broker_gets_its_old_id_back():
    records = {**FORMED, "b2": {}}
    result = plan(["b1", "b2", "b3"], records)
    assert result["ids"]["b2"] == 2 and result["problem"] == ""


def test_removing_a_voter_is_refused():
    result = plan(["b1", "b3"], {h: FORMED[h] for h in ("b1", "b3")})
    assert "cannot add or lose a voter" in result["problem"]


def test_adding_a_voter_to_a_formed_quorum_is_refused():
    assert "cannot add or lose a voter" in plan(["b1", "b2", "b3", "b4"], FORMED)["problem"]


def test_a_disk_formatted_for_another_broker_is_refused():
    records = {**FORMED, "b2": {**FORMED["b2"], "data": "3"}}
    assert "b2: its log folder was formatted as node 3 but its config says node 2" in plan(["b1", "b2", "b3"], records)["problem"]


def test_two_brokers_claiming_one_id_are_refused():
    records = {**FORMED, "b3": {**FORMED["b3"], "config": "2", "data": "2"}}
    assert "b2 and b3 record the same Kafka node id 2" in plan(["b1", "b2", "b3"], records)["problem"]
