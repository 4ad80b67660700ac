"""clusterboot: turn plain Ubuntu/Debian machines into a Kubernetes cluster ready for Spark."""
