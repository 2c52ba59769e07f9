"""HL7 v2 text escaping for values ehrgen composes: hl7apy's own escaping (the straightforward path) and a
hand-written equivalent that gives the same characters for every input (the fast path, issue 14).

What hl7apy 1.3.5 does (`TextualDataType._escape_value` with the default encoding characters, no highlights):
1. each delimiter is replaced by its escape sequence: | -> \\F\\, ^ -> \\S\\, & -> \\T\\, ~ -> \\R\\ (the
   replacements hold no delimiter, so the order of the four replacements does not matter);
2. then, in that result, every backslash is replaced by \\E\\ unless it is the closing backslash of a
   two-character sequence `\\X` (lookbehind) or the opening one of `X\\` (lookahead), X one of H N F S T R E.
   So an escape sequence already in the text (\\F\\, \\H\\ ...) passes unchanged, \\.br\\ does not
   (. is not one of the letters), and the backslashes step 1 wrote are never escaped again; the lookarounds
   see the whole string, including what step 1 wrote next to an original backslash.
Nothing else is touched: control characters, tabs, non-ASCII and \\r / \\n pass through; ehrgen then turns
\\r\\n, \\r and \\n into the \\.br\\ formatting escape (after hl7apy, so that escape is never re-escaped).

The fast escape performs the same two steps with one precompiled pattern and no datatype object; strings
with none of the seven special characters (most values) are returned as they are. Both assume hl7apy's
default encoding characters, which are the ones every ORU ehrgen builds declares in MSH-2 (`^~\\&`).
"""

from __future__ import annotations

import re
from typing import Callable

from hl7apy.v2_5_1 import get_base_datatypes

_ST = get_base_datatypes()["ST"]
_SPECIAL = re.compile(r"[|^&~\\\r\n]")
# hl7apy's own pattern for a backslash that is not part of an escape sequence (TextualDataType)
_LONE_BACKSLASH = re.compile(r"(?<!\\[HNFSTRE])\\(?![HNFSTRE]\\)")
_LETTERS = frozenset("HNFSTRE")
_DELIMITER_SEQ = {"|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def _line_breaks(esc: str) -> str:
    return esc.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\.br\\")


def escape_hl7apy(text: str | None) -> str:
    """Escape HL7 delimiters (| ^ & ~ \\) in a text value with hl7apy; newlines become \\.br\\."""
    if not text:
        return ""
    return _line_breaks(_ST(text).to_er7())


def escape_fast(text: str | None) -> str:
    """escape_hl7apy(text), character for character (see the module docstring), without hl7apy."""
    if not text:
        return ""
    if _SPECIAL.search(text) is None:
        return text
    v = text.replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\").replace("~", "\\R\\")
    if "\\" in v:
        v = _LONE_BACKSLASH.sub(r"\\E\\", v)
    if "\r" in v or "\n" in v:
        v = _line_breaks(v)
    return v


def wrap_text_plain(text: str, limit: int = 199, escape: Callable[[str], str] = escape_hl7apy) -> str:
    """Escaped TX value split into repetitions (line breaks in TX) of at most `limit` escaped characters,
    at word boundaries: hl7apy holds each repetition to the 199-character ST limit when parsing OBX-5.

    The straightforward version: escapes every growing candidate line (quadratic in the words of a line)."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        candidate = f"{cur} {word}" if cur else word
        if len(escape(candidate)) <= limit:
            cur = candidate
            continue
        if cur:
            lines.append(escape(cur))
        while len(escape(word)) > limit:  # a single over-long token (e.g. a URL): hard split
            cut = limit
            while len(escape(word[:cut])) > limit:
                cut -= 1
            lines.append(escape(word[:cut]))
            word = word[cut:]
        cur = word
    if cur:
        lines.append(escape(cur))
    return "~".join(lines)


def wrap_text_fast(text: str, limit: int = 199) -> str:
    """wrap_text_plain(text, limit), in one pass: each word is escaped once.

    Why the lengths add up: words hold no whitespace (so no line breaks) and are joined by a space, and a space
    is neither a backslash nor one of the escape letters, so no lookaround of step 2 reaches across it:
    escape(a + " " + b) == escape(a) + " " + escape(b). Prefixes of one over-long word do not add up that way
    (the escaped length of a prefix is not even monotonic: "\\F" -> "\\E\\F" but "\\F\\" -> "\\F\\"), so the
    hard split computes each prefix's escaped length exactly (_longest_fitting_prefix)."""
    if limit < 3:  # a lone delimiter never fits: the plain loop never ends either; keep its behaviour
        return wrap_text_plain(text, limit, escape_fast)
    lines: list[str] = []
    cur: list[str] = []  # escaped words of the line being filled
    cur_len = 0
    for word in text.split():
        ew = escape_fast(word)
        n = len(ew)
        if cur and cur_len + 1 + n <= limit:
            cur.append(ew)
            cur_len += 1 + n
            continue
        if not cur and n <= limit:
            cur, cur_len = [ew], n
            continue
        if cur:
            lines.append(" ".join(cur))
        while n > limit:
            cut = _longest_fitting_prefix(word, limit)
            lines.append(escape_fast(word[:cut]))
            word = word[cut:]
            ew = escape_fast(word)
            n = len(ew)
        cur, cur_len = [ew], n
    if cur:
        lines.append(" ".join(cur))
    return "~".join(lines)


def _longest_fitting_prefix(word: str, limit: int) -> int:
    """The largest cut <= limit with len(escape(word[:cut])) <= limit (what the plain loop finds counting down
    from `limit`); word has no whitespace and limit >= 3, so cut >= 1 (one character escapes to at most 3)."""
    p = word[:limit]  # no longer prefix can fit: every character escapes to at least one
    s: list[str] = []  # step 1 of the escape (delimiters replaced)
    off: list[int] = []  # where each character of p starts in s
    for ch in p:
        off.append(len(s))
        seq = _DELIMITER_SEQ.get(ch)
        s.extend(seq if seq else ch)
    off.append(len(s))
    size = len(s)
    # a backslash at j is escaped in s[:m] unless protected by what precedes it (independent of m) or by the
    # two characters after it, which must lie inside s[:m]
    behind = [j >= 2 and s[j] == "\\" and s[j - 2] == "\\" and s[j - 1] in _LETTERS for j in range(size)]
    loose = [s[j] == "\\" and not behind[j] for j in range(size)]  # escaped if nothing follows
    full = [0] * (size + 1)  # full[m]: backslashes in s[:m] escaped even when followed by the rest of s
    for j in range(size):
        ahead = j + 2 < size and s[j + 1] in _LETTERS and s[j + 2] == "\\"
        full[j + 1] = full[j] + (loose[j] and not ahead)
    for cut in range(len(p), 0, -1):
        m = off[cut]
        k = max(m - 2, 0)  # s[j] for j >= m - 2 has no room for a protecting "X\\" inside s[:m]
        escaped = full[k] + sum(loose[k:m])
        if m + 2 * escaped <= limit:
            return cut
    raise AssertionError("unreachable for limit >= 3")
