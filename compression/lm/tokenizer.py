"""The byte-level BPE tokenizer embedded in a GGUF file (`tokenizer.ggml.model = "gpt2"`).

GPT-2's scheme (Radford et al. 2019): text is split by a pre-tokenizer regex, each piece's UTF-8
bytes are mapped to printable characters by GPT-2's byte↔unicode table, and merges (ranked pairs)
are applied lowest rank first. SmolLM2's pre-tokenizer (llama.cpp's "smollm", HF's
Sequence[Digits(individual), ByteLevel]) first isolates every numeric character, then applies
GPT-2's pattern. The `regex` module is not installed, so `\\p{L}` and `\\p{N}` are written as
explicit `re` character classes built from `unicodedata` (categories L* and N*), which is the
same set the `regex` module matches.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from compression.loading import FileRejected

if TYPE_CHECKING:
    from compression.lm.gguf import GGUFFile


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _class(prefix: str) -> str:
    """A regex character-class body for every code point whose category starts with prefix."""
    ranges: list[tuple[int, int]] = []
    start = -1
    for cp in range(sys.maxunicode + 1):
        inside = unicodedata.category(chr(cp)).startswith(prefix)
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if start >= 0:
        ranges.append((start, sys.maxunicode))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    letters, numbers = _class("L"), _class("N")
    digit = re.compile(f"[{numbers}]")
    gpt2 = re.compile(
        rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^\s{letters}{numbers}]+|\s+(?!\S)|\s+"
    )
    return digit, gpt2


def pretokenize(text: str, individual_digits: bool = True) -> list[str]:
    """Split text into the pieces BPE runs on (their concatenation is the text)."""
    digit, gpt2 = _patterns()
    pieces: list[str] = []
    spans: list[str] = []
    if individual_digits:
        last = 0
        for m in digit.finditer(text):
            if m.start() > last:
                spans.append(text[last:m.start()])
            spans.append(m.group())
            last = m.end()
        if last < len(text):
            spans.append(text[last:])
    else:
        spans = [text]
    for span in spans:
        pieces.extend(gpt2.findall(span))
    return pieces


@dataclass
class BPETokenizer:
    """Byte-level BPE: `encode(text) -> ids`, `decode(ids) -> text`; lossless on any text."""

    tokens: list[str]
    merges: list[str]
    bos_id: int | None = None
    eos_id: int | None = None
    special: frozenset[int] = frozenset()
    individual_digits: bool = True
    _ids: dict[str, int] = field(init=False, repr=False)
    _ranks: dict[tuple[str, str], int] = field(init=False, repr=False)
    _cache: dict[str, tuple[int, ...]] = field(init=False, repr=False)
    _special_re: re.Pattern[str] | None = field(init=False, repr=False)
    _byte_map: dict[int, str] = field(init=False, repr=False)
    _byte_back: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        ranks: dict[tuple[str, str], int] = {}
        for rank, merge in enumerate(self.merges):
            a, _, b = merge.partition(" ")
            ranks.setdefault((a, b), rank)
        self._ranks = ranks
        self._cache = {}
        names = sorted((self.tokens[i] for i in self.special), key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(n) for n in names)) if names else None
        self._byte_map = bytes_to_unicode()
        self._byte_back = {c: b for b, c in self._byte_map.items()}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def token_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def _bpe(self, piece: str) -> tuple[int, ...]:
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = [self._byte_map[b] for b in piece.encode("utf-8")]
        ranks = self._ranks
        while len(word) > 1:
            best, best_rank = -1, len(ranks)
            for i in range(len(word) - 1):
                r = ranks.get((word[i], word[i + 1]))
                if r is not None and r < best_rank:
                    best, best_rank = i, r
            if best < 0:
                break
            pair = (word[best], word[best + 1])
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == pair:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids: list[int] = []
        for sym in word:
            tid = self._ids.get(sym)
            if tid is None:  # a vocabulary without some byte: fall back to the bytes one by one
                ids.extend(self._ids[c] for c in sym)
            else:
                ids.append(tid)
        out = tuple(ids)
        if len(self._cache) < 200_000:
            self._cache[piece] = out
        return out

    def encode(self, text: str, allow_special: bool = False, add_bos: bool = False) -> list[int]:
        """Token ids of text. With allow_special, literal special-token names (<|im_start|>) become their ids."""
        ids: list[int] = [self.bos_id] if add_bos and self.bos_id is not None else []
        parts: list[tuple[str, bool]] = [(text, False)]
        if allow_special and self._special_re is not None:
            parts, last = [], 0
            for m in self._special_re.finditer(text):
                parts.append((text[last:m.start()], False))
                parts.append((m.group(), True))
                last = m.end()
            parts.append((text[last:], False))
        for part, is_special in parts:
            if is_special:
                ids.append(self._ids[part])
                continue
            for piece in pretokenize(part, self.individual_digits):
                ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """Text of token ids (invalid UTF-8 from a cut multi-byte character is replaced by U+FFFD)."""
        out = bytearray()
        for i in ids:
            i = int(i)
            if skip_special and i in self.special:
                continue
            tok = self.tokens[i]
            if i in self.special:
                out.extend(tok.encode("utf-8"))
            else:
                out.extend(self._byte_back[c] for c in tok)
        return out.decode("utf-8", errors="replace")


# llama.cpp's token types (tokenizer.ggml.token_type): 1 normal, 3 control, 4 user-defined.
_CONTROL, _USER_DEFINED = 3, 4


def from_gguf(f: GGUFFile) -> BPETokenizer:
    """The file's embedded tokenizer; a model other than byte-level BPE is refused in one sentence."""
    model = f.field("tokenizer.ggml.model")
    if model != "gpt2":
        raise FileRejected(f"{f.path.name} has a {model!r} tokenizer; only byte-level BPE (gpt2) is read.")
    tokens = [str(t) for t in f.field("tokenizer.ggml.tokens")]
    merges = [str(m) for m in f.field("tokenizer.ggml.merges") or []]
    types = f.field("tokenizer.ggml.token_type") or [1] * len(tokens)
    special = frozenset(i for i, t in enumerate(types) if t in (_CONTROL, _USER_DEFINED))
    pre = f.field("tokenizer.ggml.pre", "gpt2")
    bos, eos = f.field("tokenizer.ggml.bos_token_id"), f.field("tokenizer.ggml.eos_token_id")
    return BPETokenizer(
        tokens=tokens,
        merges=merges,
        bos_id=None if bos is None else int(bos),
        eos_id=None if eos is None else int(eos),
        special=special,
        individual_digits=pre in ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"),
    )
