"""Report -> plotly figures: pure functions, no streamlit, one shared look.

Every figure has a title, axis titles with units and hover text with units, and says
which kind of number it shows (simulated / theoretical / measured / estimate) where the
page around it might not. Histograms arrive binned from the server, so a figure is a
handful of traces of at most ~150 points. Each figure is built as plain dicts in plotly's
canonical form and handed to go.Figure without property-by-property validation (~0.5 ms
instead of 3-4 ms a figure, which matters when eight charts redraw on a slider move); the
tests rebuild every figure with validation and check it is the same.

One module per page (explore, tradeoffs, compare, distill) and one shared theme; every
figure and helper stays importable from here as compression.charts.<name>.
"""
from compression.charts.compare import compare_bars, compare_histograms
from compression.charts.distill import distill_fractions_chart, distill_history, soft_targets_chart, temperature_curve
from compression.charts.explore import (
    ERROR_METRICS,
    FORMAT_HELP,
    PANEL_GAP,
    PANEL_SPLIT,
    SIZE_PARTS,
    _ratio_text,
    accuracy_curve,
    deep_compression_stages,
    energy_breakdown,
    energy_vs_sram,
    error_distribution,
    format_grids,
    group_outlier,
    head_scores,
    neuron_scores,
    qat_vs_ptq,
    quant_error_bars,
    size_breakdown,
    size_waterfall,
    weight_histogram,
    weight_snapshots,
)
from compression.charts.methods import (
    activation_histogram,
    layer_error_chart,
    methods_chart,
    outliers_chart,
    weight_range_chart,
)
from compression.charts.theme import (
    BYTE_UNITS,
    COLORWAY,
    ENERGY_UNITS,
    FONT,
    HEADER,
    HEIGHT,
    MARGIN,
    PALETTE,
    PRIMARY,
    TEMPLATE,
    _count_text,
    _log_ticks,
    factor_text,
    fixed,
    fmt_bytes,
    fmt_energy,
    pct,
    signed,
)
from compression.charts.tradeoffs import (
    PUBLISHED_MODELS,
    TRADEOFF_AXES,
    allocation_chart,
    config_text,
    published_points,
    sensitivity_chart,
    tradeoff_chart,
)

__all__ = [
    "BYTE_UNITS", "COLORWAY", "ENERGY_UNITS", "ERROR_METRICS", "FONT", "FORMAT_HELP", "HEADER", "HEIGHT",
    "MARGIN", "PALETTE", "PANEL_GAP", "PANEL_SPLIT", "PRIMARY", "PUBLISHED_MODELS", "SIZE_PARTS", "TEMPLATE",
    "TRADEOFF_AXES", "_count_text", "_log_ticks", "_ratio_text", "accuracy_curve", "allocation_chart",
    "compare_bars", "compare_histograms", "config_text", "deep_compression_stages", "distill_fractions_chart",
    "distill_history", "energy_breakdown", "energy_vs_sram", "error_distribution", "factor_text", "fixed", "fmt_bytes", "fmt_energy",
    "format_grids", "group_outlier", "head_scores",
    "neuron_scores", "pct", "published_points", "qat_vs_ptq", "quant_error_bars", "sensitivity_chart", "signed",
    "size_breakdown", "size_waterfall", "soft_targets_chart", "temperature_curve", "tradeoff_chart",
    "weight_histogram", "weight_snapshots",
    "activation_histogram", "layer_error_chart", "methods_chart", "outliers_chart", "weight_range_chart",
]
