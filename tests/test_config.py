"""CompressionConfig validation, presets and the URL query round trip."""
import dataclasses

import pytest

from compression import config as cfg
from compression import quantizers
from compression.config import PRESETS, CompressionConfig, ConfigError, from_mapping, to_query


def test_defaults_make_a_valid_config():
    assert CompressionConfig(sparsity=0.5, bits=4).bits == 4


@pytest.mark.parametrize("field,value,needle", [
    ("sparsity", 1.0, "[0, 1)"), ("sparsity", -0.1, "sparsity"), ("bits", 7.5, "bits"),
    ("bits", 0, "one of"), ("scheme", "odd", "symmetric"), ("structure", "3:4", "2:4"),
    ("finetune_epochs", -1, "0 to 50"), ("act_bits", 1, "act_bits"), ("per_channel", "yes", "true or false"),
])
def test_bad_values_name_the_field_and_the_range(field, value, needle):
    with pytest.raises(ConfigError) as e:
        CompressionConfig(**{field: value})
    assert field in str(e.value) and needle in str(e.value)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CompressionConfig().bits = 4  # type: ignore[misc]


def test_query_round_trip():
    config = CompressionConfig(sparsity=0.9, bits=4, per_channel=True, structure="2:4")
    again, warnings = from_mapping(to_query(config))
    assert again == config and warnings == []


def test_bad_query_values_are_ignored_with_a_warning():
    config, warnings = from_mapping({"sparsity": "abc", "bits": "7x", "scheme": "asymmetric",
                                     "model": "mlp-digits", "preset": "nope"})
    assert config == CompressionConfig(scheme="asymmetric")
    assert len(warnings) == 3 and any("sparsity" in w for w in warnings)


def test_percent_sparsity_in_a_url_is_understood():
    assert from_mapping({"sparsity": "90"})[0].sparsity == pytest.approx(0.9)
    config, warnings = from_mapping({"sparsity": "1"})  # 100 %, not 1 %: refused, not reinterpreted
    assert config.sparsity == 0 and len(warnings) == 1 and "sparsity" in warnings[0]


def test_preset_then_overrides():
    config, _ = from_mapping({"preset": "int8", "bits": "4"})
    assert config == PRESETS["int8"].replace(bits=4)


def test_preset_resolves_its_variant_per_data_set():
    lenet = cfg.preset("deep-compression", "mnist-5k")
    assert lenet == cfg.PRESET_VARIANTS[("deep-compression", "mnist-5k")] != PRESETS["deep-compression"]
    assert lenet.huffman and lenet.quantizer == "kmeans"
    assert cfg.preset("deep-compression", "digits") is PRESETS["deep-compression"]
    assert cfg.preset("int8", "mnist-5k") is PRESETS["int8"]  # no variant: the preset itself
    assert from_mapping({"preset": "deep-compression", "bits": "6"}, dataset="mnist-5k")[0] == lenet.replace(bits=6)
    assert all(name in PRESETS for name, _ in cfg.PRESET_VARIANTS)
    with pytest.raises(ConfigError, match="preset='nope'"):
        cfg.preset("nope")


def test_required_presets_exist():
    assert {"int8", "deep-compression", "extreme-2bit"} <= set(PRESETS)
    assert PRESETS["deep-compression"].quantizer == "kmeans" and PRESETS["deep-compression"].prune_steps > 1


def test_new_fields_round_trip_through_the_url():
    config = CompressionConfig(qat=True, regularize="group-lasso", reg_strength=1e-3, order="joint",
                               huffman=True, sram_kb=1024, quantizer="pow2", criterion="apoz",
                               layer_bits={"fc2": 4, "fc1": 8}, layer_sparsity="fc1=0.5")
    assert config.layer_bits == (("fc1", 8), ("fc2", 4))  # sorted pairs: hashable, one spelling
    again, warnings = from_mapping(to_query(config))
    assert again == config and warnings == []
    assert CompressionConfig(**config.to_dict()) == config


@pytest.mark.parametrize("field,value", [
    ("sram_kb", 0), ("sram_kb", float("inf")), ("reg_strength", -1), ("order", "random"),
    ("regularize", "l2"), ("layer_bits", "fc1=9"), ("layer_bits", "fc1"), ("layer_sparsity", "fc1=1"),
    ("layer_bits", "<b>=4"),
])
def test_new_fields_are_bounded(field, value):
    with pytest.raises(ConfigError) as e:
        CompressionConfig(**{field: value})
    assert field in str(e.value)


def test_config_facts_are_properties():
    assert CompressionConfig().is_baseline and not CompressionConfig().trains
    assert CompressionConfig(structure="2:4").prunes
    assert CompressionConfig(layer_bits="fc1=4").quantizes_weights
    assert CompressionConfig(layer_bits="fc1=4").bits_for("fc1") == 4
    assert CompressionConfig(layer_bits="fc1=4").bits_for("fc2") == 32
    assert CompressionConfig(bits=2, qat=True, finetune_epochs=3).trains


def test_echoed_values_are_shortened():
    _, warnings = from_mapping({"bits": "9" * 5000, "preset": "x" * 5000})
    assert all(len(w) < 300 for w in warnings)


def test_cli_preset_follows_the_model():
    import argparse

    from compression.__main__ import config_from_args
    args = argparse.Namespace(preset="deep-compression", model="lenet300-mnist", bits=None)
    assert config_from_args(args) == cfg.preset("deep-compression", "mnist-5k")
    args = argparse.Namespace(preset="deep-compression", model="mlp-digits", bits=6)
    assert config_from_args(args) == PRESETS["deep-compression"].replace(bits=6)


# -----------------------------------------------------------------------------
# granularity (issue 16): one decision, the old per_channel word an alias of it


def test_per_channel_is_an_alias_of_granularity_channel():
    assert CompressionConfig(per_channel=True) == CompressionConfig(granularity="channel")
    c = CompressionConfig(per_channel=True)
    assert c.per_channel and c.granularity == "channel"
    assert c.replace(granularity="tensor").per_channel is False
    assert c.replace(granularity="group").granularity == "group"
    assert CompressionConfig(granularity="group").replace(per_channel=True).granularity == "channel"
    assert c.replace(per_channel=False).granularity == "tensor"
    assert c.grain == quantizers.PER_CHANNEL
    assert CompressionConfig(granularity="group", group_size=32).grain == quantizers.PerGroup(32)


def test_granularity_url_words_and_old_links():
    old, warnings = cfg.from_mapping({"per_channel": "true", "bits": "4"})
    assert not warnings and old.granularity == "channel"
    new, warnings = cfg.from_mapping({"granularity": "group", "group_size": "32", "bits": "4"})
    assert not warnings and new.grain == quantizers.PerGroup(32)
    assert cfg.to_query(new) == {"bits": "4", "granularity": "group", "group_size": "32"}
    assert cfg.from_mapping(cfg.to_query(new))[0] == new
    assert "per_channel" not in cfg.to_query(old)  # one word per decision in a new link
    _, warnings = cfg.from_mapping({"granularity": "row", "group_size": "100"})
    assert len(warnings) == 2 and "granularity" in warnings[0] and "group_size" in warnings[1]


def test_a_format_named_without_bits_runs_at_its_own_width():
    assert cfg.from_mapping({"quantizer": "mxfp4"})[0].bits == 4
    assert cfg.from_mapping({"quantizer": "fp8-e4m3"})[0].bits == 8
    assert cfg.from_mapping({"quantizer": "uniform"})[0].bits == 32
    assert cfg.from_mapping({"quantizer": "nf4", "bits": "32"})[0].bits == 32  # asked for float


@pytest.mark.parametrize("field,value", [("granularity", "row"), ("group_size", 100), ("group_size", True)])
def test_bad_granularity_is_one_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}="):
        CompressionConfig(**{field: value})
