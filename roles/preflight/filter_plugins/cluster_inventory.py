"""The preflight role's `cluster_inventory_errors` filter: the inventory checks of clusterboot.inventory_checks,
the same code the CLI runs before every run (the package is installed in the controller's venv)."""

from clusterboot.inventory_checks import cluster_inventory_errors


class FilterModule:
    def filters(self) -> dict:
        return {"cluster_inventory_errors": cluster_inventory_errors}
