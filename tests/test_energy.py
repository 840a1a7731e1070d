"""Energy model against the published constants (shared/references/energy_45nm.csv)."""
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
    assert energy.memory_pj(P, 32, 0, on_chip=True) == pytest.approx(5.0)
    assert energy.memory_pj(P, 32, 0, on_chip=False) == pytest.approx(640.0)
    assert energy.memory_pj(P, 0, 64, on_chip=False) == pytest.approx(10.0)  # activations in SRAM


def test_on_chip_threshold_is_32_kb():
    assert energy.weights_on_chip(P, 32 * 1024) and not energy.weights_on_chip(P, 32 * 1024 + 1)


def test_unknown_profile_names_known_ones():
    with pytest.raises(ValueError, match="horowitz-45nm"):
        energy.profile("tpu")


def test_constants_table_carries_sources():
    rows = energy.constants_table(P)
    assert {r["energy_pj"] for r in rows} >= {0.2, 3.7, 0.9, 5.0, 640.0}
    assert all("Horowitz" in r["source"] for r in rows)
