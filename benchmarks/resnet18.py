"""Seed 002's ResNet-18 case on this CPU: python benchmarks/resnet18.py [--json].

Sizes fp32 -> 50 % channels -> + int8 by arithmetic (and the int8 ONNX file's bytes), and
batch-1 latency with one thread, median and IQR, for PyTorch fp32, ONNX Runtime fp32 and
ONNX Runtime int8, so each step's effect is seen apart; all nine paths (three models x three
runtimes) run in the same rounds, so pruning x runtime x int8 multiply to the speed-up and
none is the machine's drift between two measurements. Target: under ~60 s.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression.casestudy import format_case, reproduce_resnet18_case

if __name__ == "__main__":
    torch.set_num_threads(1)
    case = reproduce_resnet18_case()
    print(json.dumps(case, indent=2) if "--json" in sys.argv else format_case(case))
