"""The package-cache report counts upstream and served bytes apart, and packages fetched more than once."""

import importlib.util
import sys
from pathlib import Path

# bench/ holds scripts, not a package: load the one module by its path.
_SPEC = importlib.util.spec_from_file_location("cache_stats", Path(__file__).resolve().parent.parent / "bench/cache_stats.py")
cache_stats = sys.modules["cache_stats"] = importlib.util.module_from_spec(_SPEC)  # dataclasses look it up
_SPEC.loader.exec_module(cache_stats)
parse = cache_stats.parse

LOG = """\
1795518173|I|151287|10.213.0.16|debrep/dists/bookworm/InRelease
1795518173|O|151293|10.213.0.16|debrep/dists/bookworm/InRelease
1795518174|I|1000|10.213.0.16|debrep/pool/main/c/chrony/chrony_4.3-2_amd64.deb
1795518174|O|1000|10.213.0.16|debrep/pool/main/c/chrony/chrony_4.3-2_amd64.deb
1795518175|O|1000|10.213.0.17|debrep/pool/main/c/chrony/chrony_4.3-2_amd64.deb
1795518175|I|500|10.213.0.17|debrep/pool/main/s/socat/socat_1.7_amd64.deb
1795518176|I|500|10.213.0.18|debrep/pool/main/s/socat/socat_1.7_amd64.deb
1795518176|O|500|10.213.0.18|debrep/pool/main/s/socat/socat_1.7_amd64.deb
not a transfer line
"""


def test_parse_counts_directions_packages_and_refetches():
    stats = parse(LOG)
    assert stats.upstream_bytes == 151287 + 1000 + 500 + 500
    assert stats.served_bytes == 151293 + 1000 + 1000 + 500
    assert (stats.upstream_deb_bytes, stats.served_deb_bytes) == (2000, 2500)
    assert (stats.debs_fetched, stats.debs_fetched_twice_or_more, stats.debs_served) == (2, 1, 3)
    assert stats.clients == 3
