"""Sweeps: the grid, the executor seam (thread pool, Dask), stopping, and the Pareto frontier."""
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from compression import pipeline, sweep
from compression.config import CompressionConfig, ConfigError

GRID = {"sparsity": [0.0, 0.5], "bits": [4, 8]}


def brute_force_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices not dominated by any other point (x smaller-better, y larger-better), by definition."""
    return [i for i, (xi, yi) in enumerate(points)
            if not any(xj <= xi and yj >= yi and (xj < xi or yj > yi) for xj, yj in points)]


@pytest.fixture(scope="module")
def rows():
    return sweep.sweep("mlp-digits", GRID)


def test_rows_follow_the_grid_and_match_evaluate(rows):
    assert [(r["sparsity"], r["bits"]) for r in rows] == [(0.0, 4), (0.0, 8), (0.5, 4), (0.5, 8)]
    ref = pipeline.evaluate("mlp-digits", CompressionConfig(sparsity=0.5, bits=4), latency=False)
    assert rows[2]["accuracy"] == ref.accuracy and rows[2]["size_bytes"] == ref.size_bytes["compressed"]
    assert rows[2]["energy_pj"] == ref.energy_pj["total"]


def test_changed_fields_of_the_base_config_are_columns():
    out = sweep.sweep("mlp-digits", {"bits": [8]}, CompressionConfig(per_channel=True, layer_bits={"fc1": 4}))
    assert out[0]["granularity"] == "channel" and out[0]["layer_bits"] == "fc1=4" and out[0]["bits"] == 8


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_equals_brute_force(seed):
    rng = random.Random(seed)
    # Few distinct values, so ties on one axis and exact duplicates happen often.
    pts = [(rng.choice([1, 2, 3, 4, 5]), rng.choice([0.1, 0.2, 0.3])) for _ in range(rng.randint(1, 25))]
    rows = [{"size_bytes": x, "accuracy": y} for x, y in pts]
    assert sweep.pareto_front(rows) == brute_force_front(pts)


def test_pareto_front_on_real_rows_and_other_axes(rows):
    pts = [(r["size_bytes"], r["accuracy"]) for r in rows]
    assert [i for i, r in enumerate(rows) if r["on_frontier"]] == brute_force_front(pts)
    pts = [(r["energy_pj"], r["accuracy"]) for r in rows]
    assert sweep.pareto_front(rows, x="energy_pj") == brute_force_front(pts)


def test_missing_values_are_never_on_the_front():
    rows = [{"size_bytes": 1, "accuracy": None}, {"size_bytes": 2, "accuracy": 0.5}]
    assert sweep.pareto_front(rows) == [1]


def test_an_executor_gives_the_same_rows(rows):
    with ThreadPoolExecutor(2) as pool:
        assert sweep.sweep("mlp-digits", GRID, executor=pool) == rows


def test_stop_returns_the_rows_done_so_far():
    seen = []
    out = sweep.sweep("mlp-digits", GRID, progress=lambda f, m: seen.append(f),
                      should_stop=lambda: len(seen) >= 2)
    assert len(out) == 2 and seen == [0.25, 0.5]


@pytest.mark.parametrize("grid,needle", [({"bitz": [4]}, "bitz"), ({"bits": []}, "bits"),
                                         ({"bits": [4, 7.5]}, "bits")])
def test_bad_grid_is_one_error_naming_the_field(grid, needle):
    with pytest.raises(ConfigError, match=needle):
        sweep.sweep("mlp-digits", grid)


def test_dask_local_cluster_gives_the_same_rows(rows):
    distributed = pytest.importorskip("distributed", reason="the 'distributed' package (requirements.txt)")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       dashboard_address=None)
    with cluster, sweep.executor_for(cluster.scheduler_address) as executor:
        assert sweep.sweep("mlp-digits", GRID, executor=executor) == rows


def test_executor_for_defaults_to_in_process(monkeypatch):
    monkeypatch.delenv(sweep.DASK_ENV, raising=False)
    with sweep.executor_for() as executor:
        assert executor is None


def test_cli_grid_over_another_field_marks_the_frontier(tmp_path, capsys):
    from compression.__main__ import main
    out = tmp_path / "s.csv"
    assert main(["sweep", "--sparsity", "0.5", "--bits", "4", "--grid", "quantizer=uniform,kmeans",
                 "--csv", str(out)]) == 0
    text = out.read_text().splitlines()
    assert text[0].split(",")[:4] == ["model", "sparsity", "bits", "quantizer"] and "on_frontier" in text[0]
    assert [line.split(",")[3] for line in text[1:]] == ["uniform", "kmeans"]


def test_cli_bad_grid_is_one_line(capsys):
    from compression.__main__ import main
    assert main(["sweep", "--grid", "colour=red"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--grid" in err
