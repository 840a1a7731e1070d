"""measure.py against trusted references: FlopCounterMode, hand arithmetic, Wilson's formula."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from compression import measure, models


@pytest.mark.parametrize("model_id", ["mlp-digits", "cnn-digits", "mlp-small-digits", "lenet5-mnist"])
def test_dense_macs_equal_flop_counter_over_two(model_id):
    model = models.build(model_id)
    shape = (1, 8, 8) if "digits" in model_id else (1, 28, 28)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    # FlopCounterMode counts matmul/conv FLOPs only (2 per MAC); biases are not MACs.
    assert sum(s.macs for s in measure.layer_shapes(model, shape)) == counter.get_total_flops() // 2


def test_mlp_macs_by_hand():
    shapes = measure.layer_shapes(models.build("mlp-digits"), (1, 8, 8))
    assert [s.macs for s in shapes] == [64 * 300, 300 * 100, 100 * 10]
    assert [s.fan_in for s in shapes] == [64, 300, 100]


def test_wilson_interval_matches_formula():
    p, n, z = 0.972, 360, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = measure.wilson_interval(p, n)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    # digits' 360 test images: about +-1.5 points at 97 %, as DESIGN.md says
    assert 1.0 < (hi - lo) * 100 / 2 < 2.0
    assert measure.wilson_interval(1.0, 360)[1] == 1.0


def test_accuracy_counts_correct_predictions():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    x = torch.eye(4).reshape(4, 1, 1, 4)
    assert measure.accuracy(model, x, torch.tensor([0, 1, 2, 0])) == 0.75


def test_count_params_reads_tensors():
    model = models.build("mlp-small-digits")
    with torch.no_grad():
        model.fc1.weight[:10].zero_()
    total, nonzero = measure.count_params(model)
    assert total == 64 * 32 + 32 + 32 * 10 + 10
    assert nonzero == total - 10 * 64


def _paired(both, only_a, only_b, neither):
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return a, b


def test_paired_delta_matches_the_published_newcombe_example():
    # Cavo et al. 2012 table (59, 6 / 16, 80): Fagerland, Lydersen & Laake, "Statistical Analysis
    # of Contingency Tables" (2017), ch. 8, Newcombe square-and-add: -0.0621 (95% CI -0.1186 to -0.0046)
    d, (lo, hi) = measure.paired_delta(*_paired(59, 6, 16, 80))
    assert d == pytest.approx(-0.0621, abs=5e-5)
    assert lo == pytest.approx(-0.1186, abs=5e-5) and hi == pytest.approx(-0.0046, abs=5e-5)


def test_paired_delta_without_correlation_is_newcombes_unpaired_hybrid():
    # ad - bc <= n/2 sets phi = 0: then the interval is the square-and-add of the two Wilson intervals
    a, b = _paired(10, 10, 10, 10)
    d, (lo, hi) = measure.paired_delta(a, b)
    (l1, _), (_, u2) = measure.wilson_interval(0.5, 40), measure.wilson_interval(0.5, 40)
    assert d == 0 and lo == pytest.approx(-((0.5 - l1) ** 2 + (u2 - 0.5) ** 2) ** 0.5)
    assert hi == pytest.approx(-lo)
    with pytest.raises(ValueError, match="same images"):
        measure.paired_delta([1, 0], [1])


@pytest.mark.parametrize("ci, word", [((-0.05, -0.01), "a real loss"), ((0.01, 0.03), "a real gain"),
                                      ((-0.01, 0.02), "within noise"), ((0.0, 0.0), "within noise")])
def test_noise_verdict_reads_the_interval(ci, word):
    assert measure.noise_verdict(sum(ci) / 2, ci) == word


def test_speed_verdict_uses_the_spread():
    assert measure.speed_verdict(1.0, 0.5).word == "faster" and str(measure.speed_verdict(1.0, 0.5)) == "2.0× faster"
    assert measure.speed_verdict(1.0, 2.0).word == "slower" and str(measure.speed_verdict(1.0, 2.0)) == "2.0× slower"
    assert measure.speed_verdict(1.0, 1.04).word == "no change"             # within 5 %
    assert measure.speed_verdict(1.0, 1.3, 0.4, 0.4).word == "no change"    # within the run-to-run spread
    assert measure.speed_verdict(1.0, 1.3, 0.1, 0.1).word == "slower"


def test_interleaved_reports_median_and_iqr_on_one_thread():
    import statistics
    import time
    model = torch.nn.Linear(8, 8)
    threads = torch.get_num_threads()
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            time.sleep(0.001)
            return x
    x, probe = torch.zeros(1, 8), Probe()
    t2 = measure.interleaved({"fast": lambda: model(x), "slow": lambda: probe(x)}, warmup=1, min_repeats=9,
                             budget_s=0)
    fast, slow = t2["fast"], t2["slow"]
    assert set(seen) == {1} and torch.get_num_threads() == threads  # pinned while timing, restored after
    assert fast.repeats == slow.repeats == 9
    assert slow.median >= 1.0 > fast.median and slow.iqr >= 0 and fast.iqr >= 0
    times = [1.0, 2.0, 3.0, 4.0, 100.0]
    t = measure._timing([x / 1e3 for x in times])
    assert t.median == pytest.approx(statistics.median(times)) and t.iqr == pytest.approx(4.0 - 2.0)


def test_interleaved_runs_every_path_in_every_round():
    seen: list[str] = []
    calls = {k: (lambda k=k: seen.append(k)) for k in "abc"}
    t = measure.interleaved(calls, warmup=0, min_repeats=6, max_repeats=6, budget_s=0)
    assert set(t) == set("abc") and all(v.repeats == 6 for v in t.values())
    rounds = [seen[i:i + 3] for i in range(0, len(seen), 3)]
    assert len(rounds) == 6 and all(sorted(r) == list("abc") for r in rounds)
    # the order turns: each path comes first in some round
    assert {r[0] for r in rounds} == set("abc")


def test_reference_predictions_are_the_models_and_follow_its_weights():
    # remembered per (weights, test images): a changed model or other images are computed anew
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    x = torch.randn(50, 4)
    first = measure.reference_predictions(model, x)
    assert torch.equal(first, model(x).argmax(1))
    assert measure.reference_predictions(model, x) is first  # the same weights: not recomputed
    with torch.no_grad():
        model[0].weight.neg_()
    assert torch.equal(measure.reference_predictions(model, x), model(x).argmax(1))
    y = x[:20].clone()
    assert torch.equal(measure.reference_predictions(model, y), model(y).argmax(1))
