"""The `certs` table, from the report playbooks/certs.yml writes (kubeadm certs check-expiration's JSON)."""

from datetime import datetime, timezone

from clusterboot.certs import table

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def cert(name: str, expires: str, **extra) -> dict:
    return {"name": name, "expirationDate": expires, "residualTime": 0, "externallyManaged": False,
            "missing": False, "authority": False, **extra}


def test_rows_soonest_first_and_expiring_ones_flagged():
    report = {"cp01": [cert("apiserver", "2027-12-07T12:00:00Z"), cert("admin.conf", "2026-12-20T12:00:00Z"),
                       cert("ca", "2036-12-05T12:00:00Z", authority=True)]}
    lines = table(report, 30, NOW).splitlines()
    assert lines[1].split()[:2] == ["cp01", "admin.conf"] and lines[1].endswith("13d  renew soon")
    assert lines[2].split()[1] == "apiserver" and "365d" in lines[2] and "renew" not in lines[2]
    assert "ca (CA)" in lines[3] and lines[3].endswith("3651d")
    assert lines[-1].startswith("1 certificate(s) expire within 30 days; renew: python bootstrap.py certs --renew")


def test_an_externally_managed_or_missing_certificate_is_not_counted():
    report = {"cp01": [cert("front-proxy-client", "2026-12-08T12:00:00Z", externallyManaged=True),
                       cert("super-admin.conf", None, missing=True)]}
    out = table(report, 30, NOW)
    assert ["cp01", "super-admin.conf", "missing"] in [line.split() for line in out.splitlines()]
    assert out.splitlines()[-1] == "0 certificate(s) expire within 30 days"


def test_a_control_plane_that_did_not_answer_is_named():
    out = table({"cp01": [cert("apiserver", "2027-12-07T12:00:00Z")], "cp02": None}, 30, NOW)
    assert ["cp02", "(no", "answer:", "not", "read)"] in [line.split() for line in out.splitlines()]
