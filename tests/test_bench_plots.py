"""bench/plots.py: each bench's JSON drawn as the plot its shape calls for, with the data it holds."""

import importlib.util
import json
from pathlib import Path

import pytest

# The newest-ansible lock (tests/newest_ansible.py) leaves matplotlib out: nothing there to test.
pytest.importorskip("matplotlib", reason="matplotlib is not installed (requirements-ansible-next.lock leaves it out)")
_SPEC = importlib.util.spec_from_file_location("plots", Path(__file__).resolve().parent.parent / "bench/plots.py")
plots = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(plots)

# Shaped as bootstrap_bench.py writes them (only the keys the plots read, plus one they ignore).
LABS = [{"nodes": 10, "package_cache": True, "first_converge": {"controller_ms_per_task_host": 61.2},
         "noop_rerun": {"controller_ms_per_task_host": 18.4}},
        {"nodes": 4, "package_cache": True, "first_converge": {"controller_ms_per_task_host": 70.5},
         "noop_rerun": {"controller_ms_per_task_host": 22.0}},
        {"nodes": 50, "package_cache": True, "first_converge": {"controller_ms_per_task_host": 55.0}}]
LEVERS = [{"lever": "shards", "setting": "shards 1", "phase": "nodes", "wall_s": 40.5},
          {"lever": "shards", "setting": "shards 2", "phase": "nodes", "wall_s": 31.0},
          {"lever": "template cache", "setting": "compiled each time", "phase": "--role base", "wall_s": 12.0},
          {"lever": "template cache", "setting": "compiled once", "phase": "--role base", "wall_s": 9.5}]
CLUSTERS = [{"nodes": 6, "all_ready_from_lab_up_s": 540.0, "nodes_phase": {"wall_s": 150.0},
             "kubernetes_phase": {"wall_s": 360.0}},
            {"nodes": 2, "all_ready_from_lab_up_s": 400.0, "nodes_phase": {"wall_s": 100.0},
             "kubernetes_phase": {"wall_s": 280.0}}]


def lines(figure) -> dict[str, tuple[list, list]]:
    axes = figure.axes[0]
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.get_lines()}


def test_controller_cost_is_per_task_host_against_nodes_sorted_by_n():
    drawn = lines(plots.controller_cost(LABS))
    assert drawn == {"first converge": ([4, 10, 50], [70.5, 61.2, 55.0]),
                     "no-op rerun": ([4, 10], [22.0, 18.4])}  # the lab without a rerun has no point there


def test_levers_draw_a_bar_per_setting_grouped_by_lever_and_run():
    axes = plots.levers(LEVERS).axes[0]
    assert [bar.get_height() for bar in axes.patches] == [40.5, 31.0, 12.0, 9.5]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["shards\nnodes", "template cache\n--role base"]


def test_time_to_ready_has_every_node_ready_and_both_phases_against_nodes():
    drawn = lines(plots.time_to_ready(CLUSTERS))
    assert drawn == {"every node Ready": ([2, 6], [400.0, 540.0]), "kubernetes phase": ([2, 6], [280.0, 360.0]),
                     "nodes phase": ([2, 6], [100.0, 150.0])}


@pytest.mark.parametrize(("data", "suffix"), [(LABS, "controller-cost"), ({"reruns": {}, "levers": LEVERS}, "levers"),
                                              (LEVERS, "levers"), (CLUSTERS, "time-to-ready")])
def test_write_puts_a_png_beside_the_json_named_for_its_plot(tmp_path, data, suffix):
    source = tmp_path / "bench.json"
    source.write_text(json.dumps(data))
    png = plots.write(source)
    assert png == tmp_path / f"bench-{suffix}.png"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000


def test_a_json_no_plot_reads_is_named_and_exits_2(tmp_path, capsys):
    source = tmp_path / "timeline.json"
    source.write_text(json.dumps({"events": 3031, "bytes": 52000}))
    assert plots.main([str(source)]) == 2
    assert "timeline.json: not the JSON of a benchmark with a plot" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]
