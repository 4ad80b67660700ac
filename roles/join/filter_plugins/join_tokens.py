"""Pick a reusable bootstrap token from `kubeadm token list` output (token<TAB>expires<TAB>description lines)."""

from __future__ import annotations

from datetime import datetime, timezone


def fresh_join_token(lines: list[str], description: str, min_remaining_seconds: int, now: datetime | None = None) -> str:
    """The token of ours that lives longest, if it has at least min_remaining_seconds left; else ''."""
    now = now or datetime.now(timezone.utc)
    best, best_left = "", float(min_remaining_seconds)
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 3 or parts[2] != description or not parts[1]:
            continue
        expires = datetime.fromisoformat(parts[1].replace("Z", "+00:00"))
        left = (expires - now).total_seconds()
        if left >= best_left:
            best, best_left = parts[0], left
    return best


class FilterModule:
    def filters(self) -> dict:
        return {"fresh_join_token": fresh_join_token}
