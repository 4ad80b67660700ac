"""kafka_cluster_id_of: a stable KRaft cluster id from a cluster name (what `kafka-storage random-uuid` prints
is random; every broker must format with the same id, and a rerun must not change it)."""

import base64
import hashlib


def kafka_cluster_id_of(name: str) -> str:
    """22 characters of URL-safe base64 of 16 bytes, the form Kafka's Uuid parses."""
    return base64.urlsafe_b64encode(hashlib.md5(str(name).encode()).digest()).decode().rstrip("=")


class FilterModule:
    def filters(self):
        return {"kafka_cluster_id_of": kafka_cluster_id_of}
