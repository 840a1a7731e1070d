"""Training is bit-reproducible: the shipped checkpoints are what `python -m compression train` writes."""
import torch

from compression import models, train


def test_rebuilding_a_shipped_checkpoint_gives_the_same_bytes(tmp_path):
    # mlp-small-digits is the cheapest zoo model (a few seconds); the same code path trains the others
    path = tmp_path / "mlp-small-digits.pt"
    threads = torch.get_num_threads()
    train.train_zoo_model("mlp-small-digits", path=path)
    assert path.read_bytes() == models.checkpoint_path("mlp-small-digits").read_bytes()
    assert torch.get_num_threads() == threads  # the caller's thread setting is restored


def test_deterministic_pins_one_thread_and_restores_the_callers_settings():
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with train.deterministic():
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
