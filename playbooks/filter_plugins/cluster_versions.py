"""verify.yml's `cluster_version_skew` filter: the version skew policy of clusterboot.upgrade_path, the same code
`upgrade` decides its path with (the package is installed in the controller's venv)."""

from clusterboot.upgrade_path import skew_problems


class FilterModule:
    def filters(self) -> dict:
        return {"cluster_version_skew": skew_problems}
