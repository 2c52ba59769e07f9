"""ehrgen.report.qr, the fast wallet-card QR: the same symbol, SVG data URI and PNG bytes as segno (the
straightforward path), and a symbol an independent decoder reads back as exactly the payload."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import string

import numpy as np
import pytest
import segno
from segno import consts, encoder

from ehrgen import fastpath
from ehrgen.report import patient, qr

_B64URL = string.ascii_letters + string.digits + "-_"


def _segno(payload: str) -> segno.QRCode:
    return segno.make(payload, error="m", micro=False)


def _matrix(code: segno.QRCode) -> np.ndarray:
    return np.array([list(row) for row in code.matrix], dtype=np.uint8)


def _same_as_segno(payload: str) -> qr.QrSymbol:
    code = _segno(payload)
    sym = qr.encode(payload)
    assert sym is not None
    assert (sym.version, sym.mask) == (code.version, code.mask), payload[:20]
    assert code.designator.endswith("-" + {0: "M", 1: "L", 2: "H", 3: "Q"}[sym.error])
    assert np.array_equal(sym.matrix, _matrix(code)), (code.designator, code.mask)
    return sym


def _fill(version: int) -> int:
    """Bytes that exactly fill `version` at level M in byte mode."""
    cci = 8 if version < 10 else 16
    return (consts.SYMBOL_CAPACITY[version][consts.ERROR_LEVEL_M] - 4 - cci) // 8


def _token_like(rng: random.Random, n: int) -> str:
    """Base64url text that starts like a JWS header ('e'), so it is never all alphanumeric-mode characters."""
    return "e" + "".join(rng.choice(_B64URL) for _ in range(n - 1))


def test_every_version_gives_segnos_symbol():
    rng = random.Random(14)
    for version in range(1, 41):
        sym = _same_as_segno(_token_like(rng, _fill(version)))
        assert sym.version == version


def test_boosted_error_levels_and_codeword_boundaries_give_segnos_symbol():
    """Short payloads get Q or H (segno's boost); some lengths end the data exactly on a codeword, where segno
    still writes a whole padding byte."""
    rng = random.Random(7)
    levels = set()
    for n in (*range(1, 40), *range(100, 112), *range(270, 290)):
        sym = _same_as_segno(_token_like(rng, n))
        levels.add(sym.error)
    assert levels == {consts.ERROR_LEVEL_M, consts.ERROR_LEVEL_Q, consts.ERROR_LEVEL_H}


def _card_tokens(n: int) -> list[str]:
    """Compact JWS like the card's, signed with a throwaway key over varied claims."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    rng = random.Random(3)
    genes = ["CYP2B6", "CYP2C19", "CYP2C9", "CYP3A5", "DPYD", "NUDT15", "SLCO1B1", "TPMT", "UGT1A1", "CYP4F2"]
    phen = ["Poor Metabolizer", "Intermediate Metabolizer", "Rapid Metabolizer", "Decreased Function",
            "Poor Function", "Ultrarapid Metabolizer"]
    out = []
    for i in range(n):
        claims = {"iss": "Example Hospital Pharmacogenomics Lab", "iat": 1767312000 + i,
                  "pgx": {g: rng.choice(phen) for g in rng.sample(genes, rng.randint(0, 7))}, "demo": True}
        out.append(jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "0123456789abcdef",
                                                                       "typ": "ehrgen-pgx-card+jwt"}))
    return out


def test_card_payloads_give_segnos_svg_and_png_bytes():
    for token in _card_tokens(25) + [_token_like(random.Random(1), _fill(v)) for v in (1, 6, 7, 22, 40)]:
        sym = _same_as_segno(token)
        code = _segno(token)
        assert qr.svg_data_uri(sym, border=2) == code.svg_data_uri(scale=1, border=2, dark="#000", light="#fff")
        png = io.BytesIO()
        code.save(png, kind="png", scale=6, border=3)
        assert qr.png_bytes(sym, scale=6, border=3) == png.getvalue()


def _lines_with(pattern: str, n: int, rng: random.Random) -> np.ndarray:
    """An n x n matrix whose rows hold `pattern` at random places over random modules."""
    m = rng.getrandbits(n * n).to_bytes((n * n + 7) // 8, "big")
    mat = np.unpackbits(np.frombuffer(m, dtype=np.uint8))[:n * n].reshape(n, n)
    bits = np.array([int(b) for b in pattern], dtype=np.uint8)
    for i in range(0, n, 2) if pattern else ():
        j = rng.randrange(0, n - len(bits) + 1)
        mat[i, j:j + len(bits)] = bits
    return mat


def test_mask_scores_match_segno_on_adversarial_matrices():
    """The scoring on its own, against segno's mask_scores, on matrices no encoder would make: runs of
    overlapping finder-like patterns (segno skips some of them), patterns at the edges, stripes."""
    rng = random.Random(5)
    cases = []
    for n in (21, 25, 45, 85):
        cases.append(np.zeros((n, n), dtype=np.uint8))
        cases.append(np.ones((n, n), dtype=np.uint8))
        cases.append((np.indices((n, n)).sum(axis=0) % 2).astype(np.uint8))
        cases.append(np.tile((np.arange(n) % 3 == 0).astype(np.uint8), (n, 1)))
        for pattern in ("1011101", "10111011101", "101110111011101", "10111010111010111", "0000101110100001",
                        "1011101" + "0000" + "1011101", "10111011101110111011101"):
            if len(pattern) > n:
                continue
            cases.append(_lines_with(pattern, n, rng))
            cases.append(_lines_with(pattern, n, rng).T.copy())
            edge = _lines_with("", n, rng)
            edge[:, :len(pattern)] = [int(b) for b in pattern]
            edge[1::3, n - len(pattern):] = [int(b) for b in pattern]
            cases.append(edge)
    for n in (21, 85):
        for _ in range(20):
            cases.append(_lines_with("", n, rng))
    exact = []
    plain_n3 = qr._n3_exact

    def counting(line):
        exact.append(1)
        return plain_n3(line)

    qr._n3_exact = counting
    try:
        scored = [qr._scores(mat[None]) for mat in cases]
    finally:
        qr._n3_exact = plain_n3
    assert exact, "no case ran into a run of overlapping patterns (the exact per-line search)"
    for mat, score in zip(cases, scored):
        n = mat.shape[0]
        ref = sum(encoder.mask_scores([bytearray(r) for r in mat.tolist()], n, n))
        assert score == [ref], (n, mat[0].tolist())
    # the eight candidates at once give the same as one at a time
    stack = np.stack(cases[-8:])
    assert qr._scores(stack) == [qr._scores(m[None])[0] for m in stack]


def test_payloads_outside_the_fast_encoders_scope_go_to_segno():
    """Numeric, alphanumeric and non-ASCII payloads are segno's (other modes); the fast path hands them over."""
    for payload in ("0123456789", "HELLO WORLD $%*+-./:", "caf\u00e9", "\u00e9t\u00e9", "\u8a66\u9a13"):
        assert qr.encode(payload) is None, payload
        fast = patient.card_qr(payload)
        with fastpath.straightforward():
            assert patient.card_qr(payload) == fast
    assert qr.encode("") is None
    too_long = "x" * (_fill(40) + 1)
    assert qr.encode(too_long) is None
    for mode in (fastpath.straightforward, _fast):
        with mode(), pytest.raises(ValueError):
            patient.card_qr(too_long)


@contextlib.contextmanager
def _fast():
    assert fastpath.enabled()
    yield


def test_straightforward_path_never_touches_the_fast_encoder(monkeypatch):
    token = _card_tokens(1)[0]
    fast = patient.card_qr(token)

    def boom(*a, **k):
        raise AssertionError("fast path used")

    monkeypatch.setattr(qr, "encode", boom)
    monkeypatch.setattr(patient, "_card_qr_fast", boom)
    with fastpath.straightforward():
        assert patient.card_qr(token) == fast


def _decode_png(png: bytes) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (test extra) decodes the QR independently")
    from PIL import Image

    img = np.array(Image.open(io.BytesIO(png)).convert("L"))
    return [r.text for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]


def test_fast_png_decodes_to_exactly_the_payload():
    """An independent decoder (zxing-cpp) reads the card's PNG back as exactly the signed payload."""
    for token in _card_tokens(6):
        code = patient.card_qr(token)
        assert _decode_png(code.png) == [token]
        # the SVG on the card draws the same modules: its path rebuilt as an image decodes the same
        assert _decode_png(_svg_to_png(code.data_uri)) == [token]


def _svg_to_png(data_uri: str) -> bytes:
    """Rasterise the card's SVG data URI (horizontal 1-module strokes) without a browser."""
    from urllib.parse import unquote

    from PIL import Image

    svg = unquote(data_uri.split(",", 1)[1])
    size = int(svg.split("width='", 1)[1].split("'", 1)[0])
    d = svg.split("stroke='#000' d='", 1)[1].split("'", 1)[0]
    img = np.full((size, size), 255, dtype=np.uint8)
    x = y = 0.0
    for move in d.replace("M", " m").split("m")[1:]:
        xy, length = move.split("h")
        dx, dy = xy.split()
        x, y = x + float(dx), y + float(dy)
        img[int(y), int(x):int(x) + int(length)] = 0
        x += int(length)
    big = np.kron(img, np.ones((4, 4), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    return buf.getvalue()


def test_the_decoder_would_notice_a_wrong_symbol():
    """The decode test can fail: a symbol with a flipped data module reads differently or not at all... unless
    error correction repairs it, so flip enough modules to exceed it."""
    token = _card_tokens(1)[0]
    sym = qr.encode(token)
    broken = sym.matrix.copy()
    broken[20:60, 20:60] ^= 1
    png = qr.png_bytes(qr.QrSymbol(broken, sym.version, sym.error, sym.mask))
    assert _decode_png(png) != [token]


def test_claims_survive_the_round_trip():
    token = _card_tokens(1)[0]
    [text] = _decode_png(patient.card_qr(token).png)
    body = text.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["iss"].startswith("Example")
