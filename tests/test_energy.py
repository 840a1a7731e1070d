"""Energy model against the published constants (shared/references/energy_45nm.csv)."""
import math

import pytest

from compression import energy

P = energy.profile("horowitz-45nm")


def test_int8_mac_uses_horowitz_constants():
    # 8x8 multiply 0.2 pJ, 32-bit accumulator add 0.1 pJ (fan-in 64 needs > 16 bits)
    assert energy.mac_pj(P, 8, 8, 64) == pytest.approx(0.2 + 0.1)


def test_int32_multiply_fits_published_3_1_pj():
    assert energy.mac_pj(P, 32, 16, 64) == pytest.approx(3.7 + 0.9)  # any float operand: fp32
    assert P.int_mult_8 * 32 * 32 / 64 == pytest.approx(3.2, abs=0.15)  # DESIGN: ~3.1 pJ


def test_small_ints_accumulate_in_16_bits():
    assert energy.accumulator_bits(2, 2, 64) == 16
    assert energy.mac_pj(P, 2, 2, 64) == pytest.approx(0.2 * 4 / 64 + 0.05)


def test_memory_sram_vs_dram():
    # default on-chip size 32 KB: Horowitz's 20 pJ per 64-bit access = 10 pJ per 32-bit word
    assert energy.memory_pj(P, 32, 0, on_chip=True) == pytest.approx(10.0)
    assert energy.memory_pj(P, 32, 0, on_chip=False) == pytest.approx(640.0)
    assert energy.memory_pj(P, 0, 64, on_chip=False) == pytest.approx(20.0)  # activations in SRAM


def test_on_chip_threshold_is_the_configured_size():
    assert energy.weights_on_chip(P, 32 * 1024) and not energy.weights_on_chip(P, 32 * 1024 + 1)
    big = energy.profile("horowitz-45nm", 1024)
    assert energy.weights_on_chip(big, 1024 * 1024) and not energy.weights_on_chip(big, 1024 * 1024 + 1)


@pytest.mark.parametrize("kb, per_64bit", [(8, 10.0), (32, 20.0), (1024, 100.0)])
def test_sram_cost_hits_horowitz_points(kb, per_64bit):
    # Horowitz ISSCC 2014 cache access per 64 bits, halved for a 32-bit word (hand arithmetic)
    assert energy.profile("horowitz-45nm", kb).sram_32 == pytest.approx(per_64bit / 2, rel=0.01)


def test_sram_cost_is_log_log_between_points_and_bounded_outside():
    # 16 KB is halfway (in log size) between 8 and 32 KB: the geometric mean of 5 and 10 pJ
    assert energy.profile("horowitz-45nm", 16).sram_32 == pytest.approx((5 * 10) ** 0.5)
    assert energy.profile("horowitz-45nm", 2).sram_32 == pytest.approx(2.5)  # sqrt slope extended
    assert energy.profile("horowitz-45nm", 1).sram_32 >= P.register_32
    assert energy.profile("horowitz-45nm", 1024 * 1024).sram_32 == P.dram_32  # never above DRAM
    sizes = energy.sram_sizes_kb()
    costs = [energy.profile("horowitz-45nm", kb).sram_32 for kb in sizes]
    assert sizes[0] == 1 and sizes[-1] == 16 * 1024 and costs == sorted(costs)


def test_ops_charge_what_the_weights_allow():
    add16 = 0.05
    assert energy.mac_pj(P, 2, 4, 64, "sign") == pytest.approx(add16)          # no multiply at all
    # a shift of the 4-bit activation, charged as an 8-bit add (0.03 pJ), then the 16-bit accumulate
    assert energy.mac_pj(P, 4, 4, 64, "shift") == pytest.approx(0.03 + add16)
    assert energy.mac_pj(P, 4, 16, 64, "shift") == pytest.approx(0.05 + 0.1)  # 16-bit activation; 4+16+6 -> 32
    assert energy.mac_pj(P, 4, 4, 64, "shift-scale") == pytest.approx(0.03 + add16)
    assert energy.output_pj(P, 4, 4, "shift-scale") == pytest.approx(3.7)  # the fp32 multiply by s
    assert energy.output_pj(P, 4, 4, "shift") == 0.0 and energy.output_pj(P, 4, 32, "shift-scale") == 0.0
    assert energy.mac_pj(P, 4, 4, 64, "multiply") == pytest.approx(0.2 * 16 / 64 + add16)
    assert energy.mac_pj(P, 4, 4, 64, "float") == pytest.approx(3.7 + 0.9)
    with pytest.raises(ValueError, match="multiply"):
        energy.mac_pj(P, 4, 4, 64, "divide")


def test_factors_multiply_to_the_ratio_and_isolate_placement():
    base = (1000.0, 50_000 * 32, 4000 * 32)                 # in DRAM at 32 KB
    small = (100.0, 50_000 * 4 * 0.1, 4000 * 8)              # fits on chip
    f = energy.factors(P, base, small)
    e0 = energy.total_pj(P, *base)["total"]
    e1 = energy.total_pj(P, *small)["total"]
    assert f["compute"] * f["memory"] * f["placement"] == pytest.approx(e0 / e1, rel=1e-9)
    # same level on both sides: the placement factor is exactly 1
    big = energy.profile("horowitz-45nm", 1024)
    assert energy.factors(big, base, small)["placement"] == 1.0


def test_energy_vs_sram_has_the_cliff_at_the_model_size():
    points = energy.vs_sram(P, 100.0, 64 * 1024 * 8, 0.0, [32, 63, 64, 65, 128])
    assert [p["weights_in"] for p in points] == ["dram", "dram", "sram", "sram", "sram"]
    assert points[1]["total"] > 10 * points[2]["total"]


def test_unknown_profile_names_known_ones():
    with pytest.raises(ValueError, match="horowitz-45nm"):
        energy.profile("tpu")


def test_constants_table_carries_sources():
    rows = energy.constants_table(P)
    assert {r["energy_pj"] for r in rows} >= {0.2, 3.7, 0.9, 5.0, 10.0, 50.0, 640.0}
    assert all(r["source"] for r in rows)
    assert any("16 bit" in r["operation"] and "Kim et al." in r["source"] for r in rows)


def test_constants_agree_with_the_shipped_reference_table():
    import csv
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "assets" / "references" / "energy_45nm.csv"
    rows = {(r["operation"], int(r["bits"])): float(r["energy_pj"]) for r in csv.DictReader(path.open())}
    assert dict(P.int_add) == {b: rows[("int_add", b)] for b in (8, 16, 32)}
    assert (P.int_mult_8, P.fp32_mult, P.fp32_add, P.dram_32) == (
        rows[("int_mult", 8)], rows[("float_mult", 32)], rows[("float_add", 32)], rows[("dram_read", 32)])
    for kb, key in [(8, "sram_read_8KB"), (32, "sram_read_32KB"), (1024, "sram_read_1MB")]:
        assert energy.profile("horowitz-45nm", kb).sram_32 == pytest.approx(rows[(key, 64)] / 2)


def test_scaled_power_of_two_pays_one_multiply_per_output_and_inq_none():
    from compression import pipeline
    from compression.config import CompressionConfig
    for quantizer, per_output in (("pow2", 3.7), ("inq", 0.0)):
        r = pipeline.evaluate("mlp-digits", CompressionConfig(bits=4, act_bits=8, quantizer=quantizer), latency=False)
        for layer in r.layers:
            fan_in, outputs = layer.shape[1], layer.shape[0]  # Linear: one sample, one output per row
            acc = 0.05 if 4 + 8 + math.ceil(math.log2(fan_in)) <= 16 else 0.1
            # a shift of the 8-bit activation (an 8-bit add, 0.03 pJ) + the accumulate, per MAC
            expected = layer.macs * (0.03 + acc) + outputs * per_output
            assert layer.energy_pj["compute"] == pytest.approx(expected), (quantizer, layer.name)


def test_float_format_operations_by_hand_and_the_assumption_named():
    """NF4 decodes to fp16 (Horowitz: 1.1 + 0.4 pJ); FP8 / FP4 multiplies have no Horowitz figure:
    fp16's multiply scaled by b_w * b_a / 256, plus an fp16 add, named as an assumption."""
    p = energy.profile("horowitz-45nm")
    assert energy.mac_pj(p, 4, 8, 100, "fp16") == 1.1 + 0.4
    assert energy.mac_pj(p, 8, 8, 100, "float-narrow") == 1.1 * 64 / 256 + 0.4
    assert energy.mac_pj(p, 4, 8, 100, "float-narrow") == 1.1 * 32 / 256 + 0.4
    assert energy.mac_pj(p, 4, 32, 100, "float-narrow") == 3.7 + 0.9  # float activations: an fp32 MAC
    rows = {r["operation"]: r for r in energy.constants_table(p)}
    fp8 = next(r for name, r in rows.items() if name.startswith("FP8 x FP8"))
    assert "assumption" in fp8["source"] and fp8["energy_pj"] == 1.1 * 64 / 256
