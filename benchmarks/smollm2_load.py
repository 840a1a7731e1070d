"""SmolLM2-135M from its GGUF (issue 18): load time, perplexity on a 4,096-token held-out slice of
CPython's pydoc topics (chunks of 512 and 1,024), forward time, peak RSS, a greedy sample; one thread.

    .venv/bin/python benchmarks/smollm2_load.py     # targets: whole evaluation <= 60 s, peak RSS <= 2.5 GB
"""
from __future__ import annotations

import math
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from compression.lm import llama  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    model, tok, info = llama.load_smollm2()
    print(f"load {time.perf_counter() - start:.2f} s ({info.n_parameters / 1e6:.1f} M fp32 parameters; reference: {info.reference_label})")
    print(f"stored types {info.gguf.types()}, blocks {info.gguf.bits_per_weight():.2f} bits/weight, "
          f"with embeddings {info.gguf.bits_per_weight(include_embeddings=True):.2f}, file {info.gguf.file_bytes / 1e6:.1f} MB")
    from pydoc_data.topics import topics

    keys = sorted(topics)
    text = "\n\n".join(topics[k] for k in keys[-40:])
    t = time.perf_counter()
    ids = tok.encode(text)[:4096]
    print(f"tokenize {time.perf_counter() - t:.2f} s, {len(ids)} tokens")
    for chunk in (512, 1024):
        t = time.perf_counter()
        nll = llama.token_nll(model, ids, chunk=chunk)
        print(f"chunk {chunk}: perplexity {math.exp(float(nll.nanmean())):.2f} over {int(nll.isfinite().sum())} predicted tokens, "
              f"forward {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    prompt = "The capital of France is"
    new = llama.generate(model, tok.encode(prompt), max_new_tokens=30, eos_id=tok.eos_id)
    print(f"greedy 30 tokens {time.perf_counter() - t:.1f} s: {prompt!r} -> {tok.decode(new)!r}")
    prompt = "<|im_start|>user\nWhat does a Python list comprehension do?<|im_end|>\n<|im_start|>assistant\n"
    new = llama.generate(model, tok.encode(prompt, allow_special=True), max_new_tokens=30, eos_id=tok.eos_id)
    print(f"chat sample: {tok.decode(new)!r}")
    print(f"total {time.perf_counter() - start:.1f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GB")


if __name__ == "__main__":
    main()
