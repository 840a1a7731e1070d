"""Compression Lab backend: pruning, quantization and distillation on real PyTorch models.

Plain Python + PyTorch; never imports streamlit, so every number a page shows can be
reproduced from this package or its CLI (`python -m compression`).
"""
