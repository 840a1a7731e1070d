"""CPython's documentation text (`pydoc_data.topics`, shipped with every Python, PSF licence) as
a language-model corpus: split by topic, byte-level tokens, fixed-length evaluation chunks.

Split rule (fixed, no randomness): the topic names sorted; topic i goes to validation when
i % 10 == 0, to test when i % 10 == 1, to train otherwise. Each split is its topics' UTF-8 bytes
joined by a blank line, so a topic never straddles two splits.

Tokenizer: the bytes themselves (vocabulary 256): nothing trained, nothing to ship, every string
encodes and decodes exactly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

VOCAB = 256
SPLITS = ("train", "validation", "test")
_SEPARATOR = b"\n\n"


def split_of(index: int) -> str:
    """The split of the topic at position `index` among the sorted topic names."""
    return {0: "validation", 1: "test"}.get(index % 10, "train")


def topic_names(split: str) -> list[str]:
    """The topics of one split, in sorted order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}': one of {', '.join(SPLITS)}")
    from pydoc_data.topics import topics
    return [name for i, name in enumerate(sorted(topics)) if split_of(i) == split]


def encode(text: str) -> torch.Tensor:
    """Byte-level tokens (int64, values 0..255) of a string's UTF-8 encoding."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(tokens: torch.Tensor | list[int]) -> str:
    """The string of byte tokens; a sequence cut inside a UTF-8 character shows U+FFFD there."""
    values = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
    return bytes(int(v) for v in values).decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=4)
def _split_bytes(split: str) -> bytes:
    from pydoc_data.topics import topics
    return _SEPARATOR.join(topics[name].encode("utf-8") for name in topic_names(split))


def tokens(split: str) -> torch.Tensor:
    """All tokens of one split (a fresh tensor: callers may modify it)."""
    return torch.frombuffer(bytearray(_split_bytes(split)), dtype=torch.uint8).long()


def chunks(split: str, length: int, max_tokens: int | None = None) -> torch.Tensor:
    """Non-overlapping windows of `length + 1` tokens (input and its next-token target), as rows.

    The first `max_tokens` tokens of the split (all when None) cut into consecutive windows
    that share their boundary token (window k covers tokens k*length .. k*length+length), so
    every token after the first is predicted exactly once; the remainder is dropped.
    """
    if length < 1:
        raise ValueError("chunk length must be at least 1")
    t = tokens(split)
    if max_tokens is not None:
        t = t[:max_tokens + 1]
    n = (len(t) - 1) // length
    return torch.stack([t[k * length:k * length + length + 1] for k in range(n)]) if n else t.new_zeros((0, length + 1))


@dataclass(frozen=True)
class Corpus:
    """The three splits' sizes, for a description."""
    train: int
    validation: int
    test: int


def sizes() -> Corpus:
    return Corpus(*(len(_split_bytes(s)) for s in SPLITS))
