"""What the node's existing netplan (`netplan get`) says about the interface that carries node_ip."""

from __future__ import annotations


def netplan_id(existing: dict, interface: str) -> str:
    """The id of the ethernet definition that already names this interface (by id or set-name), else the
    interface's name: our file then overrides that definition's keys instead of adding a second one that
    matches the same device."""
    for netplan_key, definition in (existing.get("ethernets") or {}).items():
        if netplan_key == interface or (definition or {}).get("set-name") == interface:
            return netplan_key
    return interface


def netplan_claims(existing: dict, names: list[str]) -> list[str]:
    """Bonds, bridges and VLANs that are the interface (by name) or take it as a member: a static address
    on a plain ethernet would fight them."""
    claims = []
    for kind in ("bonds", "bridges", "vlans"):
        for netplan_key, definition in (existing.get(kind) or {}).items():
            members = (definition or {}).get("interfaces") or []
            if netplan_key in names or any(name in members for name in names):
                claims.append(f"{kind[:-1]} {netplan_key}")
    return claims


class FilterModule:
    def filters(self) -> dict:
        return {"netplan_id": netplan_id, "netplan_claims": netplan_claims}
