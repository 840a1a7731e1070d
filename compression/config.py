"""CompressionConfig: one compression scenario as plain values, plus named presets.

The same field names are the CLI flags (with dashes) and the page's URL query keys, so a
link, a command line and a Python call all describe a scenario in the same words.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compression import criteria, quantizers, structures

FLOAT_BITS = quantizers.FLOAT_BITS  # the bit-width that means float: no quantization
BITS = (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, FLOAT_BITS)


# The remaining string modes as enums: a StrEnum member equals its string, so URLs, CLI flags,
# JSON and the history keep the plain words while the code compares against named members.
class Scheme(enum.StrEnum):
    SYMMETRIC = "symmetric"
    ASYMMETRIC = "asymmetric"


class Scope(enum.StrEnum):
    GLOBAL = "global"    # rank weights across all layers
    LAYER = "layer"      # rank within each layer


class Order(enum.StrEnum):
    SEQUENTIAL = "sequential"    # prune (and fine-tune), then quantization-aware fine-tuning
    ALTERNATING = "alternating"  # QAT fine-tuning between pruning steps
    JOINT = "joint"              # pruning steps fine-tuned under fake quantization


SCHEMES = tuple(s.value for s in Scheme)
QUANTIZERS = quantizers.CHOICES  # uniform, kmeans, pow2, ternary, nf4, fp8, fp4, mxfp4, nvfp4: one record each
GRANULARITIES = quantizers.GRANULARITIES  # tensor, channel, group
GROUP_SIZES = quantizers.GROUP_SIZES      # 16, 32, 64, 128
STRUCTURES = structures.STRUCTURE_CHOICES  # unstructured, rows, 2:4: one record each in structures.py
SCOPES = tuple(s.value for s in Scope)
CRITERIA = criteria.CHOICES  # magnitude, random, taylor, apoz, entropy: one record each in criteria.py
REGULARIZERS = structures.REGULARIZER_CHOICES  # none, l1, group-lasso: one record each in structures.py
ORDERS = tuple(o.value for o in Order)
PROFILES = ("horowitz-45nm",)
SRAM_KB_RANGE = (1.0, 1024.0 * 1024)   # 1 KB .. 1 GB of on-chip memory
REG_STRENGTH_MAX = 1.0
METHODS = ("rtn", "gptq", "awq")  # how weights are rounded to the quantizer's grid
MAX_DROP = 100.0  # accuracy points
MAX_ECHO = 40  # characters of a user's value echoed back in an error message


class ConfigError(ValueError):
    """A config value out of its allowed range; the message names the field."""


@dataclass(frozen=True)
class CompressionConfig:
    sparsity: float = 0.0          # fraction of prunable weights set to zero, in [0, 1)
    bits: int = 32                 # weight bits; 32 = float, no quantization
    act_bits: int = 32             # activation bits (simulated, calibrated ranges); 32 = float
    scheme: str = "symmetric"      # uniform quantizer: symmetric or asymmetric
    per_channel: bool = False      # the old word for granularity="channel" (URLs, CLI): kept in step with it
    granularity: str = "tensor"    # which weights share a scale: tensor, channel, or group (of group_size)
    group_size: int = 128          # weights per group along the input dimension (granularity="group")
    quantizer: str = "uniform"     # uniform grid, or k-means weight sharing (Deep Compression)
    structure: str = "unstructured"  # unstructured, rows (neurons/filters) or 2:4
    scope: str = "global"          # rank weights across all layers, or within each layer
    criterion: str = "magnitude"   # magnitude, random or taylor (|w * dL/dw|)
    prune_steps: int = 1           # >1: gradual pruning, fine-tuning between steps (Han et al.)
    finetune_epochs: int = 0       # epochs of fine-tuning after each pruning step, masks held
    profile: str = "horowitz-45nm"  # energy profile (constants with sources in energy.py)
    skip_zeros: bool = False       # hardware skips zero weights (EIE-style); False = dense CPU/GPU
    seed: int = 0                  # random criterion and fine-tuning shuffles
    qat: bool = False              # fine-tune under fake quantization (straight-through estimator)
    regularize: str = "none"       # sparsity penalty while fine-tuning: none, l1 or group-lasso (rows)
    reg_strength: float = 1e-4     # the penalty's weight lambda
    order: str = "sequential"      # prune then quantize, alternate them, or both at once (joint)
    huffman: bool = False          # Huffman-code weight codes and index gaps (Deep Compression stage 3)
    sram_kb: float = 32.0          # on-chip memory capacity in KB (energy model assumption)
    layer_bits: tuple[tuple[str, int], ...] = ()        # per-layer overrides of bits, sorted by name
    layer_sparsity: tuple[tuple[str, float], ...] = ()  # per-layer overrides of sparsity, sorted
    # Calibrated post-training methods (compression.gptq, awq, smoothquant), calibration on training images.
    method: str = "rtn"            # rtn (round to nearest), gptq (Frantar et al. 2022) or awq (Lin et al. 2024)
    smooth_alpha: float = 0.0      # SmoothQuant migration strength alpha in (0, 1]; 0 = off (Xiao et al. 2023)
    max_drop: float = 0.0          # mixed precision's accuracy target: at most this many points of drop; 0 = off

    def __post_init__(self) -> None:
        # Per-layer overrides arrive as dicts, lists of pairs (JSON) or "fc1=8,fc2=4" text;
        # stored as a sorted tuple of pairs so the config stays hashable and comparable.
        object.__setattr__(self, "layer_bits", _pairs("layer_bits", self.layer_bits, int))
        object.__setattr__(self, "layer_sparsity", _pairs("layer_sparsity", self.layer_sparsity, float))
        # per_channel=True is the old spelling of granularity="channel": one decision, two words
        # kept in step (replace() below moves them together)
        if self.per_channel is True and self.granularity == "tensor":
            object.__setattr__(self, "granularity", "channel")
        if isinstance(self.per_channel, bool):
            object.__setattr__(self, "per_channel", self.granularity == "channel")
        for name in ("sram_kb", "reg_strength"):  # 8 and 8.0 are one scenario: one spelling
            if _is_real(getattr(self, name)):
                object.__setattr__(self, name, float(getattr(self, name)))
        _check(isinstance(self.sparsity, (int, float)) and not isinstance(self.sparsity, bool)
               and math.isfinite(self.sparsity) and 0.0 <= self.sparsity < 1.0,
               "sparsity", self.sparsity, "a fraction in [0, 1), e.g. 0.9")
        _check(self.bits in BITS, "bits", self.bits, _one_of(BITS))
        _check(self.act_bits in BITS and self.act_bits >= 2, "act_bits", self.act_bits,
               _one_of(b for b in BITS if b >= 2))
        _check(self.scheme in SCHEMES, "scheme", self.scheme, _one_of(SCHEMES))
        _check(isinstance(self.per_channel, bool), "per_channel", self.per_channel, "true or false")
        _check(self.granularity in GRANULARITIES, "granularity", self.granularity, _one_of(GRANULARITIES))
        _check(self.group_size in GROUP_SIZES and _is_int(self.group_size), "group_size", self.group_size,
               _one_of(GROUP_SIZES))
        _check(self.quantizer in QUANTIZERS, "quantizer", self.quantizer, _one_of(QUANTIZERS))
        _check(self.structure in STRUCTURES, "structure", self.structure, _one_of(STRUCTURES))
        _check(self.scope in SCOPES, "scope", self.scope, _one_of(SCOPES))
        _check(self.criterion in CRITERIA, "criterion", self.criterion, _one_of(CRITERIA))
        _check(_is_int(self.prune_steps) and 1 <= self.prune_steps <= 10, "prune_steps",
               self.prune_steps, "an integer from 1 to 10")
        _check(_is_int(self.finetune_epochs) and 0 <= self.finetune_epochs <= 50,
               "finetune_epochs", self.finetune_epochs, "an integer from 0 to 50")
        _check(self.profile in PROFILES, "profile", self.profile, _one_of(PROFILES))
        _check(isinstance(self.skip_zeros, bool), "skip_zeros", self.skip_zeros, "true or false")
        _check(_is_int(self.seed) and 0 <= self.seed < 2**31, "seed", self.seed,
               "an integer from 0 to 2147483647")
        _check(isinstance(self.qat, bool), "qat", self.qat, "true or false")
        _check(self.regularize in REGULARIZERS, "regularize", self.regularize, _one_of(REGULARIZERS))
        _check(_is_real(self.reg_strength) and 0 <= self.reg_strength <= REG_STRENGTH_MAX,
               "reg_strength", self.reg_strength, f"a number from 0 to {REG_STRENGTH_MAX:g}")
        _check(self.order in ORDERS, "order", self.order, _one_of(ORDERS))
        _check(isinstance(self.huffman, bool), "huffman", self.huffman, "true or false")
        _check(_is_real(self.sram_kb) and SRAM_KB_RANGE[0] <= self.sram_kb <= SRAM_KB_RANGE[1],
               "sram_kb", self.sram_kb, f"a size in KB from {SRAM_KB_RANGE[0]:g} to {SRAM_KB_RANGE[1]:g}")
        for name in ("smooth_alpha", "max_drop"):
            if _is_real(getattr(self, name)):
                object.__setattr__(self, name, float(getattr(self, name)))
        _check(self.method in METHODS, "method", self.method, _one_of(METHODS))
        _check(_is_real(self.smooth_alpha) and 0.0 <= self.smooth_alpha <= 1.0, "smooth_alpha",
               self.smooth_alpha, "a migration strength from 0 (off) to 1, e.g. 0.5")
        _check(_is_real(self.max_drop) and 0.0 <= self.max_drop <= MAX_DROP, "max_drop", self.max_drop,
               f"accuracy points from 0 (off) to {MAX_DROP:g}, e.g. 1.0")
        for name, b in self.layer_bits:
            _check(b in BITS, "layer_bits", f"{name}={b}", _one_of(BITS) + " per layer")
        for name, s in self.layer_sparsity:
            _check(0.0 <= s < 1.0, "layer_sparsity", f"{name}={s:g}", "a fraction in [0, 1) per layer")

    # Config facts, asked in one place instead of conditions copied across files.
    @property
    def prunes(self) -> bool:
        """Some weights are removed (a sparsity, a per-layer sparsity, or the fixed 2:4 pattern)."""
        fixed = structures.structure(self.structure).fixed_sparsity is not None  # 2:4 prunes whatever the sparsity
        return self.sparsity > 0 or fixed or any(s > 0 for _, s in self.layer_sparsity)

    @property
    def quantizes_weights(self) -> bool:
        """Some layer's weights are quantized (bits < 32 means quantized; 32 means float)."""
        return self.bits < FLOAT_BITS or any(b < FLOAT_BITS for _, b in self.layer_bits)

    @property
    def quantizes_activations(self) -> bool:
        return self.act_bits < FLOAT_BITS

    @property
    def regularizes(self) -> bool:
        return structures.regularizer(self.regularize).term is not None and self.reg_strength > 0

    @property
    def trains(self) -> bool:
        """Evaluating this config fine-tunes the model (seconds, not milliseconds).

        Any fine-tuning epochs train: after pruning with masks held, under fake quantization
        with QAT, or, with neither, the float weights before they are quantized.
        """
        return self.finetune_epochs > 0

    @property
    def is_baseline(self) -> bool:
        """Nothing compressed nor fine-tuned: the float model as trained."""
        return not (self.prunes or self.quantizes_weights or self.quantizes_activations or self.trains)

    def bits_for(self, layer: str) -> int:
        """Weight bits of one layer: its override, else the global bit-width."""
        return dict(self.layer_bits).get(layer, self.bits)

    @property
    def grain(self) -> quantizers.Granularity:
        """The granularity asked for, as a typed value (each record says what it really runs: plan.make)."""
        return quantizers.granularity(self.granularity, self.group_size)

    def replace(self, **changes: Any) -> CompressionConfig:
        """A copy with some fields changed (validated again); granularity and per_channel move together."""
        if "granularity" in changes and "per_channel" not in changes:
            changes["per_channel"] = changes["granularity"] == "channel"
        elif "per_channel" in changes and "granularity" not in changes:
            on = changes["per_channel"]
            changes["granularity"] = "channel" if on is True else (
                "tensor" if self.granularity == "channel" else self.granularity)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changed(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (what a URL or CLI line needs)."""
        default = CompressionConfig()
        # per_channel only mirrors granularity: one word for one decision in a link
        return {k: v for k, v in self.to_dict().items() if getattr(default, k) != v and k != "per_channel"}

    def format_bits(self) -> int | None:
        """The bit-width of a number-format quantizer (NF4 and MXFP4: 4, FP8: 8), None for the others."""
        return quantizers.lookup(self.quantizer).width


FIELDS = tuple(f.name for f in dataclasses.fields(CompressionConfig))
ALIASES = ("per_channel",)  # old words read from links and flags, kept in step with the setting they name
SETTINGS = tuple(f for f in FIELDS if f not in ALIASES)  # one per decision: what a form shows


def parse_value(field: str, text: str) -> Any:
    """Convert a string (URL query value or CLI token) to the field's type; ConfigError if not."""
    kind = {f.name: f.type for f in dataclasses.fields(CompressionConfig)}.get(field)
    if kind is None:
        raise ConfigError(f"unknown setting '{_short(field)}': known settings are {', '.join(FIELDS)}")
    text = str(text).strip()
    if field in ("layer_bits", "layer_sparsity"):
        return _pairs(field, text, int if field == "layer_bits" else float)
    try:
        if kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            # A percentage is a natural thing to type in a URL ("sparsity=90"); accept it.
            # Exactly 1 stays 1 (100 %: refused), not 1 %.
            return value / 100 if field == "sparsity" and 1 < value < 100 else value
        return text
    except (ValueError, OverflowError):
        raise ConfigError(f"{field}={_short(text)!r} is not a valid {kind}") from None


def from_mapping(values: Mapping[str, str], base: CompressionConfig | None = None,
                 dataset: str | None = None) -> tuple[CompressionConfig, list[str]]:
    """Build a config from string values (e.g. URL query), skipping bad ones with a warning each.

    Unknown keys are ignored silently: the URL also carries page-level keys such as `model`.
    A preset resolves to its variant for `dataset` (the model's data set) when it has one.
    """
    config = base or CompressionConfig()
    if "preset" in values:
        name = str(values["preset"])
        if name in PRESETS:
            config = preset(name, dataset)
    warnings: list[str] = []
    if "preset" in values and str(values["preset"]) not in PRESETS:
        warnings.append(f"preset={_short(values['preset'])!r} ignored: known presets are {', '.join(PRESETS)}")
    for key, text in values.items():
        if key not in FIELDS:
            continue
        try:
            config = config.replace(**{key: parse_value(key, text)})
        except ConfigError as e:
            warnings.append(f"{e} (ignored)")
    return with_format_bits(config, "bits" in values), warnings


def with_format_bits(config: CompressionConfig, bits_given: bool) -> CompressionConfig:
    """`quantizer=mxfp4` alone means MXFP4: a number format named without bits runs at its own width."""
    width = config.format_bits()
    if width is not None and not bits_given and config.bits >= FLOAT_BITS:
        return config.replace(bits=width)
    return config


def to_query(config: CompressionConfig) -> dict[str, str]:
    """The non-default fields as URL query strings (round-trips through from_mapping)."""
    return {k: _query_text(v) for k, v in config.changed().items()}


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):  # per-layer overrides: "fc1=8,fc2=4"
        return ",".join(f"{name}={v:g}" if isinstance(v, float) else f"{name}={v}" for name, v in value)
    return str(value)


def _pairs(field: str, value: Any, kind: type) -> tuple[tuple[str, Any], ...]:
    """Per-layer overrides as a sorted tuple of (layer name, value); ConfigError naming the field."""
    if isinstance(value, str):
        items: list[Any] = [part.split("=", 1) for part in value.split(",") if part.strip()]
    elif isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = list(value)
    out: dict[str, Any] = {}
    for item in items:
        try:
            name, raw = item
            name = str(name).strip()
            if not name or len(name) > 64 or not all(c.isalnum() or c in "._" for c in name):
                raise ValueError
            number = float(raw) if kind is float else raw
            if kind is int:
                number = int(str(raw).strip()) if not _is_int(raw) else raw
            if kind is float and not math.isfinite(number):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{field}={_short(str(value))!r} is not allowed: use LAYER=VALUE pairs "
                              "separated by commas, e.g. fc1=8,fc2=4") from None
        out[name] = number
    return tuple(sorted(out.items()))


def _short(text: Any) -> str:
    """A user's value cut to MAX_ECHO characters, so an error message never fills the screen."""
    text = str(text)
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO - 1] + "…"


def _check(ok: bool, field: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{field}={_short(repr(value))} is not allowed: use {allowed}")


def _one_of(values) -> str:
    return "one of " + ", ".join(str(v) for v in values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Named scenarios. Each tells one story; the CLI takes them as --preset NAME.
PRESETS: dict[str, CompressionConfig] = {
    "baseline": CompressionConfig(),
    "int8": CompressionConfig(bits=8, act_bits=8, per_channel=True),
    "prune-90": CompressionConfig(sparsity=0.9, finetune_epochs=5),
    # Han et al. 2016: gradual magnitude pruning with fine-tuning, then k-means weight sharing.
    "deep-compression": CompressionConfig(sparsity=0.96, bits=4, quantizer="kmeans",
                                          prune_steps=6, finetune_epochs=10, skip_zeros=True,
                                          huffman=True),
    "extreme-2bit": CompressionConfig(bits=2, per_channel=True, finetune_epochs=0),
    "2:4-sparse-int8": CompressionConfig(structure="2:4", bits=8, per_channel=True),
    # Quantization-aware fine-tuning rescues 2 bits: 5 epochs under fake quantization with a
    # straight-through estimator (compare extreme-2bit, rounded after training).
    "qat-2bit": CompressionConfig(bits=2, per_channel=True, qat=True, finetune_epochs=5),
    # Ternary Weight Networks (Li & Liu 2016): {-a, 0, +a} per channel, fine-tuned to it.
    "ternary": CompressionConfig(bits=2, quantizer="ternary", per_channel=True, qat=True,
                                 finetune_epochs=5),
    # Group lasso on rows moves whole neurons towards zero, then they are pruned (Wen et al. 2016).
    "regularize-then-prune": CompressionConfig(sparsity=0.5, structure="rows", regularize="group-lasso",
                                               reg_strength=1e-3, finetune_epochs=3),
}

# A preset's settings for one data set, where the default ones do not tell its story there.
# Deep Compression on LeNet-300-100 / mnist-5k: digits' 96 % and 4 bits cost it ~2 points
# and 6 x 10 epochs take minutes; 94 % kept-6 % (the paper keeps 8 %), 5-bit shared weights
# and 3 x 5 epochs of fine-tuning reach 40x at no loss in seconds.
PRESET_VARIANTS: dict[tuple[str, str], CompressionConfig] = {
    ("deep-compression", "mnist-5k"): CompressionConfig(sparsity=0.94, bits=5, quantizer="kmeans",
                                                        prune_steps=3, finetune_epochs=5, skip_zeros=True,
                                                        huffman=True),
}


def preset(name: str, dataset: str | None = None) -> CompressionConfig:
    """The named preset, in its variant for `dataset` when it has one; ConfigError naming it if unknown."""
    if name not in PRESETS:
        raise ConfigError(f"preset={_short(name)!r} is not known: use {_one_of(PRESETS)}")
    return PRESET_VARIANTS.get((name, dataset or ""), PRESETS[name])
