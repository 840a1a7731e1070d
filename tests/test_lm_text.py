"""The documentation corpus: a fixed split by topic, exact byte tokens, evaluation chunks."""
from pydoc_data.topics import topics

from compression.lm import text


def test_every_topic_lands_in_exactly_one_split_by_the_fixed_rule():
    names = sorted(topics)
    splits = {s: text.topic_names(s) for s in text.SPLITS}
    assert sorted(sum(splits.values(), [])) == names
    assert splits["validation"] == names[0::10]
    assert splits["test"] == names[1::10]
    assert not set(splits["train"]) & set(splits["test"])


def test_a_split_is_its_topics_bytes_joined_by_a_blank_line():
    expected = b"\n\n".join(topics[n].encode("utf-8") for n in sorted(topics)[1::10])
    assert bytes(text.tokens("test").tolist()) == expected


def test_byte_tokens_round_trip_any_string():
    s = "λ = lambda x: x ** 2  # ünïcode ✓"
    t = text.encode(s)
    assert t.dtype.is_floating_point is False and int(t.max()) < text.VOCAB
    assert list(t) == list(s.encode("utf-8"))
    assert text.decode(t) == s


def test_chunks_cover_consecutive_windows_sharing_their_boundary_token():
    t = text.tokens("validation")
    c = text.chunks("validation", 64, max_tokens=1000)
    assert c.shape == (1000 // 64, 65)
    for k in range(len(c)):
        assert c[k].tolist() == t[k * 64:k * 64 + 65].tolist()
