"""The GGUF-embedded byte-level BPE tokenizer: lossless, GPT-2's byte table, SmolLM2's ids."""

from __future__ import annotations

import pytest

from compression.lm import gguf as lmgguf
from compression.lm import tokenizer as tk
from tests.smollm2 import PATH, needs_file


@pytest.fixture(scope="module")
def tok() -> tk.BPETokenizer:
    return tk.from_gguf(lmgguf.open_gguf(PATH))


def test_byte_table_is_gpt2s() -> None:
    table = tk.bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"  # GPT-2's well-known Ġ, Ċ


def test_pretokenizer_matches_gpt2_rules() -> None:
    assert tk.pretokenize("Hello world, it's 42!", individual_digits=False) == ["Hello", " world", ",", " it", "'s", " 42", "!"]
    # SmolLM2 (Digits(individual_digits=True) first): each digit is its own piece
    assert tk.pretokenize("x = 12", individual_digits=True) == ["x", " =", " ", "1", "2"]
    # whitespace before a word: all but the last character, which the word's " ?" or \s+ takes
    assert tk.pretokenize("a  \n\tb") == ["a", "  \n", "\t", "b"]
    assert tk.pretokenize("a   b") == ["a", "  ", " b"]
    text = "mixed: héllo 日本語 ² \u00a0 end\n\n  "
    assert "".join(tk.pretokenize(text)) == text


@needs_file
def test_round_trip_on_pydoc_topics(tok: tk.BPETokenizer) -> None:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert 3.0 < len(text) / len(ids) < 5.5  # English docs: about 4 characters per token
    odd = "naïve café — 日本語 😀 ² ½\r\n\ttabs\u00a0nbsp"
    assert tok.decode(tok.encode(odd)) == odd


@needs_file
def test_known_ids_and_single_token_words(tok: tk.BPETokenizer) -> None:
    assert tok.vocab_size == 49152
    assert tok.tokens[tok.bos_id or 0] == "<|im_start|>" and tok.bos_id == 1
    assert tok.tokens[tok.eos_id or 0] == "<|im_end|>" and tok.eos_id == 2
    for word in [" the", " function", " return", " value", "Hello", " Python"]:
        ids = tok.encode(word)
        assert len(ids) == 1, word
        assert tok.tokens[ids[0]] == word.replace(" ", "Ġ")
    assert tok.encode("<|im_start|>user", allow_special=True)[0] == 1
    assert 1 not in tok.encode("<|im_start|>user")  # without allow_special it is plain text
    assert tok.decode(tok.encode("<|im_start|>hi", allow_special=True), skip_special=True) == "hi"


@needs_file
def test_merges_applied_lowest_rank_first(tok: tk.BPETokenizer) -> None:
    # hand BPE on a word: with every merge applied in rank order, " the" ends as one token
    first = tok.merges[0]
    a, b = first.split(" ")
    assert tok.encode((a + b).replace("Ġ", " ")) == [tok.token_id(a + b)]
