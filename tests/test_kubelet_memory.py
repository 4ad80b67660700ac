"""A broker's memory added to kubelet's systemReserved (roles/kafka/filter_plugins/kubelet_memory.py)."""

import importlib.util
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent.parent / "roles/kafka/filter_plugins/kubelet_memory.py"
spec = importlib.util.spec_from_file_location("kubelet_memory", PLUGIN)
kubelet_memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kubelet_memory)


def test_a_kubernetes_quantity_and_jvm_sizes_add_up_in_mebibytes():
    assert kubelet_memory.kubelet_memory_sum("512Mi", ["384m", "1g"]) == "1920Mi"


def test_each_side_reads_its_own_units():
    # Kubernetes' G is decimal; the JVM's G (and g, gb) is binary.
    assert kubelet_memory.kubelet_memory_sum("1G", []) == "954Mi"
    assert kubelet_memory.kubelet_memory_sum("0", ["1G", "1gb"]) == "2048Mi"


def test_plain_digits_are_bytes():
    assert kubelet_memory.kubelet_memory_sum("1048576", ["1"]) == "2Mi"


@pytest.mark.parametrize(("quantity", "jvm"), [("1Xi", []), ("512Mi", ["1q"])])
def test_an_unknown_unit_is_refused(quantity, jvm):
    with pytest.raises(ValueError, match="is not a"):
        kubelet_memory.kubelet_memory_sum(quantity, jvm)
