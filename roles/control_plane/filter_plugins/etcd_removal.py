"""Which etcd members a rejoining control plane leaves behind, and whether removing them keeps etcd's quorum
(roles/control_plane/tasks/join_one.yml)."""

from __future__ import annotations


def etcd_member_removal(members: list[dict], health: list[dict], name: str, peer_url: str) -> dict:
    """members: `etcdctl member list -w json`'s "members"; health: `etcdctl endpoint health -w json` for the
    members' client URLs. name's old members are the one named name and any with its peer URL (a member added
    by a join that died before its etcd started has no name yet).

    Returns {"ids": their ids in hex, as `etcdctl member remove` takes them, "problem": '' when removing them
    leaves a quorum of healthy members, else what is wrong and what to do}."""
    leaving = [m for m in members if m.get("name") == name or peer_url in m.get("peerURLs", [])]
    staying = [m for m in members if m not in leaving]
    healthy_urls = {h.get("endpoint") for h in health if h.get("health") is True}
    unhealthy = [m.get("name") or ",".join(m.get("peerURLs", [])) for m in staying
                 if not healthy_urls & set(m.get("clientURLs", []))]
    needed = len(staying) // 2 + 1
    problem = ""
    if leaving and len(staying) - len(unhealthy) < needed:
        problem = (f"removing {name}'s old etcd member would leave {len(staying)} members, "
                   f"{len(staying) - len(unhealthy)} of them healthy, and etcd needs {needed}: nothing was removed. "
                   f"Bring back {', '.join(unhealthy) or 'more members'} (crictl ps -a and journalctl -u kubelet on it), then rerun.")
    return {"ids": [format(int(m["ID"]), "x") for m in leaving], "problem": problem}


class FilterModule:
    def filters(self) -> dict:
        return {"etcd_member_removal": etcd_member_removal}
