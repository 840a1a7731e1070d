"""Distillation against Hinton et al.'s formula computed by hand."""
import pytest
import torch

from compression import data, distill, models


def test_soft_targets_is_softmax_over_t():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    expected = torch.exp(logits / 4) / torch.exp(logits / 4).sum()
    assert torch.allclose(distill.soft_targets(logits, 4.0), expected)


def test_higher_temperature_raises_entropy():
    logits = torch.tensor([[5.0, 1.0, 0.0, -2.0]])
    e1 = distill.entropy_bits(distill.soft_targets(logits, 1.0))
    e8 = distill.entropy_bits(distill.soft_targets(logits, 8.0))
    assert e8 > e1 and float(e8) <= 2.0  # at most log2(4) bits


@pytest.mark.parametrize("t,alpha", [(1.0, 0.5), (4.0, 0.7), (20.0, 1.0), (2.0, 0.0)])
def test_kd_loss_equals_formula_by_hand(t, alpha):
    torch.manual_seed(0)
    s, te, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    p_t = torch.softmax(te / t, 1)
    p_s = torch.softmax(s / t, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    ce = -torch.log_softmax(s, 1)[torch.arange(8), y].mean()
    expected = alpha * t * t * kl + (1 - alpha) * ce
    assert distill.kd_loss(s, te, y, t, alpha).item() == pytest.approx(expected.item(), rel=1e-4)  # float32 arithmetic


def test_distill_trains_both_students_and_reports_history():
    ds = data.load("digits")
    result = distill.distill(models.load("mlp-digits"), models.build("mlp-small-digits"), ds,
                             temperature=4.0, alpha=0.7, epochs=8)
    assert [h["epoch"] for h in result.history] == list(range(1, 9))
    assert all({"distilled", "hard_labels"} <= set(h) for h in result.history)
    assert result.accuracy > 0.8 and result.accuracy_baseline > 0.8  # both learned
    assert result.history[-1]["distilled"] == pytest.approx(result.accuracy)
    out = result.to_dict()
    assert out["accuracy_ci95"][0] <= out["accuracy"] <= out["accuracy_ci95"][1]


def test_bad_temperature_is_refused():
    ds = data.load("digits")
    with pytest.raises(ValueError, match="temperature"):
        distill.distill(models.load("mlp-digits"), models.build("mlp-small-digits"), ds, temperature=0)


def test_subset_is_per_class_fraction_without_the_left_out_class():
    y = torch.arange(10).repeat_interleave(40)  # 40 images per class
    rows = distill.subset_indices(y, fraction=0.1, leave_out=3, seed=0)
    counts = torch.bincount(y[rows], minlength=10).tolist()
    assert counts == [4, 4, 4, 0, 4, 4, 4, 4, 4, 4]
    assert torch.equal(rows, distill.subset_indices(y, 0.1, 3, seed=0))  # seeded
    assert not torch.equal(rows, distill.subset_indices(y, 0.1, 3, seed=1))
    assert len(distill.subset_indices(y, 1.0)) == 400
    with pytest.raises(ValueError, match="fraction"):
        distill.subset_indices(y, 0.0)
    with pytest.raises(ValueError, match="leave_out"):
        distill.subset_indices(y, 0.5, leave_out=11)


def test_left_out_digit_is_measured_for_both_students():
    ds = data.load("digits")
    result = distill.distill(models.load("mlp-digits"), models.build("mlp-small-digits"), ds,
                             temperature=4.0, alpha=0.9, epochs=3, fraction=0.3, leave_out=3)
    assert result.n_train == len(distill.subset_indices(ds.y_train, 0.3, 3))
    sel = ds.y_test == 3
    assert result.n_left_out == int(sel.sum()) > 0
    # The hard-label student never saw a 3, and a cross-entropy never rewards an unseen class.
    pred = result.baseline(ds.x_test[sel]).argmax(1)
    assert result.accuracy_left_out_baseline == float((pred == 3).float().mean()) == 0.0
    pred = result.student(ds.x_test[sel]).argmax(1)
    assert result.accuracy_left_out == pytest.approx(float((pred == 3).float().mean()))
    out = result.to_dict()
    lo, hi = out["accuracy_left_out_ci95"]
    assert lo <= out["accuracy_left_out"] <= hi and out["leave_out"] == 3 and out["fraction"] == 0.3
