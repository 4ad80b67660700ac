"""The `certs` command's table: each control plane's kubeadm certificates and how long they have left, from the
report playbooks/certs.yml writes (kubeadm certs check-expiration's JSON, per control plane)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def table(report: dict[str, list[dict[str, Any]] | None], warning_days: int,
          now: datetime | None = None) -> str:
    """One row per control plane and certificate, the soonest expiry first; a control plane that did not
    answer is named as such. The last line counts what expires within `warning_days`."""
    now = now or datetime.now(timezone.utc)
    rows, soon = [], 0
    for host, certificates in report.items():
        if certificates is None:
            rows.append((host, "(no answer: not read)", "", "", ""))
            continue
        for cert in sorted(certificates, key=lambda c: (c.get("missing", False), c["expirationDate"])):
            if cert.get("missing"):
                rows.append((host, cert["name"], "missing", "", ""))
                continue
            expires = datetime.fromisoformat(cert["expirationDate"].replace("Z", "+00:00"))
            days = (expires - now).total_seconds() / 86400
            warn = days < warning_days and not cert.get("externallyManaged")
            soon += warn
            rows.append((host, cert["name"] + (" (CA)" if cert.get("authority") else ""),
                         expires.strftime("%Y-%m-%d %H:%M:%S UTC"), f"{days:.0f}d", "renew soon" if warn else ""))
    header = ("control plane", "certificate", "expires", "left", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() + (
        f"  {row[4]}" if row[4] else "") for row in [header, *rows]]
    lines.append(f"{soon} certificate(s) expire within {warning_days} days"
                 + ("; renew: python bootstrap.py certs --renew --inventory NAME" if soon else ""))
    return "\n".join(lines)
