"""CompressionConfig: one compression scenario as plain values, plus named presets.

The same field names are the CLI flags (with dashes) and the page's URL query keys, so a
link, a command line and a Python call all describe a scenario in the same words.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

BITS = (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 32)  # 32 = float (no quantization)
SCHEMES = ("symmetric", "asymmetric")
QUANTIZERS = ("uniform", "kmeans")
STRUCTURES = ("unstructured", "rows", "2:4")
SCOPES = ("global", "layer")
CRITERIA = ("magnitude", "random", "taylor")
PROFILES = ("horowitz-45nm",)


class ConfigError(ValueError):
    """A config value out of its allowed range; the message names the field."""


@dataclass(frozen=True)
class CompressionConfig:
    sparsity: float = 0.0          # fraction of prunable weights set to zero, in [0, 1)
    bits: int = 32                 # weight bits; 32 = float, no quantization
    act_bits: int = 32             # activation bits (simulated, calibrated ranges); 32 = float
    scheme: str = "symmetric"      # uniform quantizer: symmetric or asymmetric
    per_channel: bool = False      # one scale per output channel instead of per tensor
    quantizer: str = "uniform"     # uniform grid, or k-means weight sharing (Deep Compression)
    structure: str = "unstructured"  # unstructured, rows (neurons/filters) or 2:4
    scope: str = "global"          # rank weights across all layers, or within each layer
    criterion: str = "magnitude"   # magnitude, random or taylor (|w * dL/dw|)
    prune_steps: int = 1           # >1: gradual pruning, fine-tuning between steps (Han et al.)
    finetune_epochs: int = 0       # epochs of fine-tuning after each pruning step, masks held
    profile: str = "horowitz-45nm"  # energy profile (constants with sources in energy.py)
    skip_zeros: bool = False       # hardware skips zero weights (EIE-style); False = dense CPU/GPU
    seed: int = 0                  # random criterion and fine-tuning shuffles

    def __post_init__(self) -> None:
        _check(isinstance(self.sparsity, (int, float)) and not isinstance(self.sparsity, bool)
               and math.isfinite(self.sparsity) and 0.0 <= self.sparsity < 1.0,
               "sparsity", self.sparsity, "a fraction in [0, 1), e.g. 0.9")
        _check(self.bits in BITS, "bits", self.bits, _one_of(BITS))
        _check(self.act_bits in BITS and self.act_bits >= 2, "act_bits", self.act_bits,
               _one_of(b for b in BITS if b >= 2))
        _check(self.scheme in SCHEMES, "scheme", self.scheme, _one_of(SCHEMES))
        _check(isinstance(self.per_channel, bool), "per_channel", self.per_channel, "true or false")
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

    def replace(self, **changes: Any) -> "CompressionConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changed(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (what a URL or CLI line needs)."""
        default = CompressionConfig()
        return {k: v for k, v in self.to_dict().items() if getattr(default, k) != v}


FIELDS = tuple(f.name for f in dataclasses.fields(CompressionConfig))


def parse_value(field: str, text: str) -> Any:
    """Convert a string (URL query value or CLI token) to the field's type; ConfigError if not."""
    kind = {f.name: f.type for f in dataclasses.fields(CompressionConfig)}.get(field)
    if kind is None:
        raise ConfigError(f"unknown setting '{field}': known settings are {', '.join(FIELDS)}")
    text = str(text).strip()
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
    except ValueError:
        raise ConfigError(f"{field}={text!r} is not a valid {kind}") from None


def from_mapping(values: Mapping[str, str], base: CompressionConfig | None = None
                 ) -> tuple[CompressionConfig, list[str]]:
    """Build a config from string values (e.g. URL query), skipping bad ones with a warning each.

    Unknown keys are ignored silently: the URL also carries page-level keys such as `model`.
    """
    config = base or CompressionConfig()
    if "preset" in values:
        name = str(values["preset"])
        if name in PRESETS:
            config = PRESETS[name]
    warnings: list[str] = []
    if "preset" in values and str(values["preset"]) not in PRESETS:
        warnings.append(f"preset={values['preset']!r} ignored: known presets are {', '.join(PRESETS)}")
    for key, text in values.items():
        if key not in FIELDS:
            continue
        try:
            config = config.replace(**{key: parse_value(key, text)})
        except ConfigError as e:
            warnings.append(f"{e} (ignored)")
    return config, warnings


def to_query(config: CompressionConfig) -> dict[str, str]:
    """The non-default fields as URL query strings (round-trips through from_mapping)."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in config.changed().items()}


def _check(ok: bool, field: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{field}={value!r} is not allowed: use {allowed}")


def _one_of(values) -> str:
    return "one of " + ", ".join(str(v) for v in values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Named scenarios. Each tells one story; the CLI takes them as --preset NAME.
PRESETS: dict[str, CompressionConfig] = {
    "baseline": CompressionConfig(),
    "int8": CompressionConfig(bits=8, act_bits=8, per_channel=True),
    "prune-90": CompressionConfig(sparsity=0.9, finetune_epochs=5),
    # Han et al. 2016: gradual magnitude pruning with fine-tuning, then k-means weight sharing.
    "deep-compression": CompressionConfig(sparsity=0.96, bits=4, quantizer="kmeans",
                                          prune_steps=6, finetune_epochs=10, skip_zeros=True),
    "extreme-2bit": CompressionConfig(bits=2, per_channel=True, finetune_epochs=0),
    "2:4-sparse-int8": CompressionConfig(structure="2:4", bits=8, per_channel=True),
}
