"""The hand-written escape gives hl7apy's characters for every input, and the one-pass wrap_text the plain one's
lines for every limit: seeded random strings over a hostile alphabet, and every text the rule set and the
interpreted patients put into an ORU."""

from __future__ import annotations

import random

import pytest

from ehrgen import fastpath
from ehrgen.hl7.escaping import escape_fast, escape_hl7apy, wrap_text_fast, wrap_text_plain
from ehrgen.hl7.oru import _gene_notes, _rec_texts, escape, wrap_text
from ehrgen.rules.alternatives import alternatives_text

PIECES = [
    "|", "^", "&", "~", "\\", "\r", "\n", "\r\n", "\t", " ", "  ", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028",
    "\x00", "\x01", "\x1f", "\x7f", "é", "µ", "中", "🧬", "ß",
    "H", "N", "F", "S", "T", "R", "E", "X", "Z", "a", "b", ".", "br", "0D",
    "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "\\H\\", "\\N\\", "\\.br\\", "\\X0D\\", "\\Zab\\", "\\F", "F\\",
    "\\\\", "{", "}", "{0}", "word", "CYP2D6*4", "https://cpicpgx.org/guidelines/?a=1&b=2",
]


def random_strings(n: int, seed: int, max_pieces: int = 30, space_weight: int = 0) -> list[str]:
    rnd = random.Random(seed)
    pieces = PIECES + [" "] * space_weight
    out = ["", " ", "\\", "|", "\\F\\", "\\.br\\", "\r\n"]
    for _ in range(n):
        out.append("".join(rnd.choice(pieces) for _ in range(rnd.randint(0, max_pieces))))
    for _ in range(5):  # very long ones
        out.append("".join(rnd.choice(pieces) for _ in range(3000)))
    return out


@pytest.fixture(scope="module")
def real_texts(sample_patients, real_patients):
    """Every text an ORU carries that comes from the rules or the interpretation (deduplicated, sorted)."""
    from ehrgen.rules.engine import default_ruleset

    texts: set[str] = set()
    for r in default_ruleset().rules:
        texts |= {r.summary, r.alternatives_note, r.guideline_name, r.guideline_url, r.cpic_guideline_url,
                  r.population, *r.alternative_conditions.values(), *r.alternative_notes.values()}
    for calls, recs, _, _ in sample_patients + real_patients:
        for c in calls.genes.values():
            texts |= {c.diplotype_text, c.phenotype or "", *_gene_notes(c)}
        for rec in recs:
            texts |= {rec.summary, rec.reason or "", rec.alternatives_note, alternatives_text(rec),
                      alternatives_text(rec, compact=True), *_rec_texts(rec)}
    texts.discard("")
    return sorted(texts)


def test_escape_matches_hl7apy_on_random_strings():
    strings = random_strings(20_000, seed=14)
    assert any("\\E\\" in escape_hl7apy(s) for s in strings) and any("\\.br\\" in escape_hl7apy(s) for s in strings)
    bad = [s for s in strings if escape_fast(s) != escape_hl7apy(s)]
    assert not bad, [repr(s[:60]) for s in bad[:5]]


def test_escape_cases_worth_naming():
    # what hl7apy does, spelled out (and so what the fast escape must do)
    cases = {
        "a|b^c&d~e\\f": "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f",
        "\\F\\": "\\F\\",  # an escape sequence already there is kept
        "\\.br\\": "\\E\\.br\\E\\",  # . is not an escape letter: both backslashes escaped
        "|F\\": "\\F\\F\\",  # the lookbehind sees the backslash step 1 wrote: the original one is kept
        "\\|": "\\E\\\\F\\",
        "x\r\ny\rz\n": "x\\.br\\y\\.br\\z\\.br\\",
        "é\t\x00": "é\t\x00",
        None: "",
        "": "",
    }
    for text, want in cases.items():
        assert escape_hl7apy(text) == want, text
        assert escape_fast(text) == want, text


def test_escape_matches_hl7apy_on_real_texts(real_texts):
    assert len(real_texts) > 2000
    bad = [t for t in real_texts if escape_fast(t) != escape_hl7apy(t)]
    assert not bad, bad[:3]


def test_wrap_matches_plain_on_random_strings_every_limit():
    strings = random_strings(200, seed=15, max_pieces=60, space_weight=20)
    for s in strings[:100] + strings[-5:]:  # with hl7apy's escape, a spread of limits (and the very long ones)
        for limit in (3, 4, 5, 8, 13, 21, 50, 199):
            assert wrap_text_fast(s, limit) == wrap_text_plain(s, limit), (s[:60], limit)
    for s in strings[:-5]:  # every limit up to where the text fits on one line (the escapes are equal, see above)
        top = len(escape_fast(s)) + 2
        for limit in range(3, top):
            assert wrap_text_fast(s, limit) == wrap_text_plain(s, limit, escape_fast), (s[:60], limit)


def test_wrap_matches_plain_on_real_texts(real_texts):
    for t in real_texts:  # the limit build_oru uses, against hl7apy's own escaping
        assert wrap_text_fast(t) == wrap_text_plain(t), t
    rnd = random.Random(16)
    some = [t for t in real_texts if any(c in t for c in "|^&~\\")] + rnd.sample(real_texts, 150)
    some += sorted(real_texts, key=len)[-20:]
    for t in some:
        for limit in range(3, len(escape_fast(t)) + 2):
            assert wrap_text_fast(t, limit) == wrap_text_plain(t, limit, escape_fast), (t, limit)


def test_hard_split_of_long_tokens():
    """Over-long tokens, where prefixes of one word escape to non-monotonic lengths."""
    tokens = ["https://example.org/" + "x" * 300, "\\F\\" * 100, "|" * 250, "\\" * 250, "\\F" * 150,
              "a|b\\F\\c\\" * 40, "&" * 66 + "b" * 3 + "|F\\" * 40]
    for tok in tokens:
        for limit in list(range(3, 24)) + [199]:
            text = f"lead {tok} tail"
            assert wrap_text_fast(text, limit) == wrap_text_plain(text, limit), (tok[:20], limit)
            assert all(len(r) <= limit for r in wrap_text_fast(text, limit).split("~"))


def test_public_functions_follow_the_switch(monkeypatch):
    import ehrgen.hl7.oru as oru

    used = []
    monkeypatch.setattr(oru, "escape_hl7apy", lambda t: used.append("hl7apy") or escape_hl7apy(t))
    monkeypatch.setattr(oru, "escape_fast", lambda t: used.append("fast") or escape_fast(t))
    assert escape("a|b") == "a\\F\\b" and used == ["fast"]
    with fastpath.straightforward():
        assert escape("a|b") == "a\\F\\b" and used == ["fast", "hl7apy"]
        assert wrap_text("a|b c", 5) == "a\\F\\b~c"
