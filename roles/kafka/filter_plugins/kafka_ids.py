"""A Kafka cluster's identities: kafka_cluster_id_of, a stable KRaft cluster id from a cluster name (what
`kafka-storage random-uuid` prints is random; every broker must format with the same id, and a rerun must not
change it), and kafka_node_ids, each broker's node id and the quorum's voters."""

from __future__ import annotations

import base64
import hashlib


def kafka_cluster_id_of(name: str) -> str:
    """22 characters of URL-safe base64 of 16 bytes, the form Kafka's Uuid parses."""
    return base64.urlsafe_b64encode(hashlib.md5(str(name).encode()).digest()).decode().rstrip("=")


def _number(text: str) -> int | None:
    return int(text) if str(text).strip().isdigit() else None


def kafka_node_ids(hosts: list[str], records: dict[str, dict], addresses: dict[str, str]) -> dict:
    """Each broker's KRaft node id, pinned once given: a broker keeps the id its config (written on first
    install) or its formatted log folder records, so reordering the kafka group renumbers nothing; a new broker
    takes the lowest id no other broker records. records: host -> {"config": node.id of its server.properties,
    "data": node.id of its meta.properties, "voters": its configured controller.quorum.voters} ('' when absent);
    addresses: host -> its controller address (ip:port).

    Returns {"ids": {host: id}, "voters": ["id@address", ...] by id, "problem": '' or what is wrong and what
    to do}. A static KRaft quorum cannot add or lose a voter, so once any broker has a config, a changed voter
    set is a problem, as are two brokers claiming one id and a log folder formatted for another id."""
    recorded: dict[str, int] = {}
    problems = []
    for host in hosts:
        record = records.get(host) or {}
        config, data = _number(record.get("config", "")), _number(record.get("data", ""))
        if config is not None and data is not None and config != data:
            problems.append(f"{host}: its log folder was formatted as node {data} but its config says node {config}: "
                            "the data disk is another broker's. Mount this broker's own disk and rerun.")
        if config is not None or data is not None:
            recorded[host] = config if config is not None else data
    for host in hosts:
        twins = [other for other in hosts if other != host and recorded.get(other) == recorded.get(host, -1)]
        if twins and host < twins[0]:
            problems.append(f"{host} and {', '.join(twins)} record the same Kafka node id {recorded[host]}: a disk or "
                            "config was copied between brokers. Give each broker back its own and rerun.")
    ids = dict(recorded)
    free = (n for n in range(1, len(hosts) + len(recorded) + 1) if n not in recorded.values())
    for host in hosts:
        if host not in ids:
            ids[host] = next(free)
    voters = [f"{ids[host]}@{addresses[host]}" for host in sorted(hosts, key=ids.get)]
    configured = {tuple(sorted(str(record.get("voters", "")).split(","))) for record in records.values()
                  if record.get("voters")}
    if recorded and configured and configured != {tuple(sorted(voters))}:
        problems.append("the kafka group's voters would change from " + " / ".join(",".join(c) for c in sorted(configured))
                        + f" to {','.join(voters)}: a static KRaft quorum cannot add or lose a voter. Put the "
                        "kafka group back as it was (its hosts may be in any order) and rerun.")
    return {"ids": ids, "voters": voters, "problem": " ".join(problems)}


class FilterModule:
    def filters(self):
        return {"kafka_cluster_id_of": kafka_cluster_id_of, "kafka_node_ids": kafka_node_ids}
