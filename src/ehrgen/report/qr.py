"""The wallet card's QR code, fast: the same symbol, SVG data URI and PNG bytes as segno 1.6.6 gives for
`segno.make(payload, error="m", micro=False)` with `.svg_data_uri(scale=1, border=2, dark="#000", light="#fff")`
and `.save(..., kind="png", scale=6, border=3)`, in well under a millisecond instead of ~35 ms.

Why not segno itself: its automatic mask selection scores the eight masks in pure Python (about 90 % of the
time) and its writers walk the image module by module. Here every per-version layout (function patterns, module
placement order, the eight masks) is built once, the eight candidates are scored together with numpy following
segno's scoring rules exactly (including its N3 search, which resumes 7 modules after a counted finder-like
pattern and 4 after an uncounted one), and the writers work on whole rows.

Scope: byte-mode payloads (ASCII with at least one character outside the QR alphanumeric set: a JWS always has
lowercase letters), QR not Micro QR, error level M with segno's error boosting. Anything else returns None
from `encode` and the caller uses segno (`ehrgen.report.patient`). The spec tables (capacities, block
structure, alignment positions, format and version bits) are segno's own (`segno.consts`, pinned), so both
paths read the same numbers; tests/report/test_qr.py requires identical bytes for thousands of payloads.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import numpy as np
from segno import consts

_ALNUM = frozenset(consts.ALPHANUMERIC_CHARS.decode("ascii"))
_LEVELS_ABOVE_M = (consts.ERROR_LEVEL_Q, consts.ERROR_LEVEL_H)
_ERROR_FORMAT_BITS = {consts.ERROR_LEVEL_L: 0x08, consts.ERROR_LEVEL_M: 0x00, consts.ERROR_LEVEL_H: 0x10,
                      consts.ERROR_LEVEL_Q: 0x18}
# remainder bits after the final codeword (ISO/IEC 18004:2015 7.6), as segno writes them
_REMAINDER = {**{v: 7 for v in range(2, 7)}, **{v: 3 for v in (*range(14, 21), *range(28, 35))},
              **{v: 4 for v in range(21, 28)}}


@dataclass(frozen=True)
class QrSymbol:
    """A QR code without its quiet zone: `matrix[i, j]` is 1 for a dark module (row i, column j)."""

    matrix: np.ndarray
    version: int
    error: int
    mask: int

    @property
    def size(self) -> int:
        return self.matrix.shape[0]


def supported(payload: str) -> bool:
    """True when segno would encode `payload` as one ISO-8859-1 byte-mode segment (what `encode` implements)."""
    return bool(payload) and payload.isascii() and not _ALNUM.issuperset(payload)


def encode(payload: str) -> QrSymbol | None:
    """segno.make(payload, error="m", micro=False), or None when the payload is outside this encoder's scope
    (see `supported`) or too long for any QR version."""
    if not supported(payload):
        return None
    data = payload.encode("ascii")
    version = _find_version(len(data))
    if version is None:
        return None
    error = consts.ERROR_LEVEL_M
    bits = _bit_length(version, len(data))
    for level in _LEVELS_ABOVE_M:  # segno's boost_error: a higher level whenever the data still fits
        if consts.SYMBOL_CAPACITY[version][level] >= bits:
            error = level
        else:
            break
    layout = _layout(version)
    stream = _final_message(version, error, data)
    base = np.zeros(layout.n * layout.n, dtype=np.uint8)
    base[layout.order] = stream
    base = base.reshape(layout.n, layout.n) | layout.function
    candidates = base[None, :, :] ^ layout.masks
    mask = int(np.argmin(_scores(candidates)))  # first lowest score, as segno's strict '<' loop
    matrix = candidates[mask].copy()
    _add_format_info(matrix, error, mask)
    _add_version_info(matrix, version)
    return QrSymbol(matrix, version, error, mask)


# -- data codewords and error correction ------------------------------------------------------------------

def _cci_bits(version: int) -> int:
    if version < 10:
        return consts.CHAR_COUNT_INDICATOR_LENGTH[consts.MODE_BYTE][consts.VERSION_RANGE_01_09]
    if version < 27:
        return consts.CHAR_COUNT_INDICATOR_LENGTH[consts.MODE_BYTE][consts.VERSION_RANGE_10_26]
    return consts.CHAR_COUNT_INDICATOR_LENGTH[consts.MODE_BYTE][consts.VERSION_RANGE_27_40]


def _bit_length(version: int, n: int) -> int:
    return 4 + _cci_bits(version) + 8 * n


def _find_version(n: int) -> int | None:
    for version in range(1, 41):
        if consts.SYMBOL_CAPACITY[version][consts.ERROR_LEVEL_M] >= _bit_length(version, n):
            return version
    return None


def _data_codewords(version: int, error: int, data: bytes) -> bytes:
    """Mode, count, data, terminator, padding and pad codewords, as segno's Buffer holds them."""
    capacity = consts.SYMBOL_CAPACITY[version][error]
    cci = _cci_bits(version)
    length = 4 + cci + 8 * len(data)
    value = (((consts.MODE_BYTE << cci) | len(data)) << (8 * len(data))) | int.from_bytes(data, "big")
    term = min(capacity - length, 4)
    value, length = value << term, length + term
    pad = 8 - length % 8  # segno adds a whole zero byte when the stream already ends on a codeword boundary
    value, length = value << pad, length + pad
    words = value.to_bytes(length // 8, "big") + (b"\xec\x11" * capacity)[:max(capacity // 8 - length // 8, 0)]
    return words[:capacity // 8]


@lru_cache(maxsize=1)
def _gf() -> tuple[np.ndarray, np.ndarray]:
    """GF(256) with the QR polynomial 0x11D: exp (doubled, then zeros for log(0)) and log (log(0) = 510)."""
    exp = np.zeros(1024, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):
        exp[i] = exp[i + 255] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    log[0] = 510  # any sum with it lands in the zero tail of exp (510..1023)
    return exp, log


@lru_cache(maxsize=64)
def _rs_logs(num_data: int, num_ec: int) -> np.ndarray:
    """log of R_k[n], where the EC codewords of a block are XOR_k d_k * R_k (R_k = x^(num_ec + num_data-1-k)
    mod the generator polynomial): RS encoding as one table lookup and one XOR reduction."""
    exp, log = _gf()
    gen = [1]  # g(x) = prod (x - a^i), highest power first
    for i in range(num_ec):
        nxt = [0] * (len(gen) + 1)
        for j, c in enumerate(gen):
            nxt[j] ^= c
            if c:
                nxt[j + 1] ^= int(exp[(int(log[c]) + i) % 255])
        gen = nxt
    rows = []
    rem = gen[1:]  # x^num_ec mod g
    for _ in range(num_data):
        rows.append(rem)
        top, rem = rem[0], rem[1:] + [0]  # multiply by x, then reduce
        if top:
            lt = int(log[top])
            rem = [r ^ (int(exp[lt + int(log[g])]) if g else 0) for r, g in zip(rem, gen[1:])]
    table = np.array(rows[::-1], dtype=np.int32)  # row k belongs to data codeword k
    return log[table]


def _ec_codewords(blocks: np.ndarray, num_ec: int) -> np.ndarray:
    exp, log = _gf()
    logs = _rs_logs(blocks.shape[1], num_ec)
    return np.bitwise_xor.reduce(exp[log[blocks][:, :, None] + logs[None, :, :]], axis=1)


def _final_message(version: int, error: int, data: bytes) -> np.ndarray:
    """Interleaved data and EC codewords as bits (MSB first), plus the remainder bits."""
    words = np.frombuffer(_data_codewords(version, error, data), dtype=np.uint8)
    data_blocks: list[np.ndarray] = []
    ec_blocks: list[np.ndarray] = []
    pos = 0
    for ec in consts.ECC[version][error]:
        group = words[pos:pos + ec.num_blocks * ec.num_data].reshape(ec.num_blocks, ec.num_data)
        pos += ec.num_blocks * ec.num_data
        data_blocks.extend(group)
        ec_blocks.extend(_ec_codewords(group, ec.num_total - ec.num_data))
    out = [_interleave(data_blocks), _interleave(ec_blocks)]
    bits = np.unpackbits(np.concatenate(out))
    rem = _REMAINDER.get(version, 0)
    return np.concatenate([bits, np.zeros(rem, dtype=np.uint8)]) if rem else bits


def _interleave(blocks: list[np.ndarray]) -> np.ndarray:
    width = max(len(b) for b in blocks)
    grid = np.full((len(blocks), width), -1, dtype=np.int16)
    for i, b in enumerate(blocks):
        grid[i, :len(b)] = b
    flat = grid.T.ravel()
    return flat[flat >= 0].astype(np.uint8)


# -- per-version layout -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    n: int
    function: np.ndarray  # function patterns (dark = 1); format and version areas 0 (written last)
    order: np.ndarray  # flat indexes of the encoding region in placement order
    masks: np.ndarray  # (8, n, n) mask patterns, 0 outside the encoding region


_FINDER = np.array([[1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 1], [1, 0, 1, 1, 1, 0, 1], [1, 0, 1, 1, 1, 0, 1],
                    [1, 0, 1, 1, 1, 0, 1], [1, 0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1, 1]], dtype=np.uint8)
_ALIGN = np.array([[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]],
                  dtype=np.uint8)


@lru_cache(maxsize=8)
def _layout(version: int) -> _Layout:
    n = version * 4 + 17
    function = np.zeros((n, n), dtype=np.uint8)
    free = np.ones((n, n), dtype=bool)
    # finder patterns with their separators
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        function[r:r + 7, c:c + 7] = _FINDER
    free[:8, :8] = free[:8, n - 8:] = free[n - 8:, :8] = False
    # format areas (row and column 8 beside the finders) and the dark module's place
    free[8, :9] = free[:9, 8] = free[8, n - 8:] = free[n - 8:, 8] = False
    if version >= 7:  # version information blocks
        free[:6, n - 11:n - 8] = free[n - 11:n - 8, :6] = False
    # timing patterns
    timing = (np.arange(8, n - 8) % 2 == 0).astype(np.uint8)
    function[6, 8:n - 8] = function[8:n - 8, 6] = timing
    free[6, 8:n - 8] = free[8:n - 8, 6] = False
    if version >= 2:
        pos = consts.ALIGNMENT_POS[version - 2]
        corners = {(pos[0], pos[0]), (pos[0], pos[-1]), (pos[-1], pos[0])}
        for x in pos:
            for y in pos:
                if (x, y) in corners:
                    continue
                function[x - 2:x + 3, y - 2:y + 3] = _ALIGN
                free[x - 2:x + 3, y - 2:y + 3] = False
    order = []
    for right in range(n - 1, 0, -2):  # two-module columns, right to left, alternately up and down
        if right <= 6:
            right -= 1
        upwards_col = ((right & 2) == 0)
        for vertical in range(n):
            for z in (0, 1):
                j = right - z
                upwards = upwards_col ^ (j < 6)
                i = (n - 1 - vertical) if upwards else vertical
                if free[i, j]:
                    order.append(i * n + j)
    i, j = np.indices((n, n))
    patterns = [(i + j) % 2 == 0, i % 2 == 0, j % 3 == 0, (i + j) % 3 == 0, (i // 2 + j // 3) % 2 == 0,
                (i * j) % 2 + (i * j) % 3 == 0, ((i * j) % 2 + (i * j) % 3) % 2 == 0,
                ((i + j) % 2 + (i * j) % 3) % 2 == 0]
    masks = np.stack([p & free for p in patterns]).astype(np.uint8)
    return _Layout(n, function, np.array(order, dtype=np.intp), masks)


# -- mask evaluation (segno's mask_scores, for all eight candidates at once) --------------------------------

def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _BYTE_BITS[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _scores(c: np.ndarray) -> list[int]:
    """segno's penalty (N1 + N2 + N3 + N4) of each candidate in c (k, n, n).

    The rows and columns of all candidates are bit-packed across lines: `bits[p, m, w]` holds, for position p
    along the line, one bit per line of candidate m (64 lines a word). A shift along the line is then an
    index shift on the first axis, and every rule below runs on 64 lines at a time."""
    k, n, _ = c.shape
    lines = np.concatenate([c, c.transpose(0, 2, 1)], axis=1)  # (k, 2n, n): rows, then columns
    words = (2 * n + 63) // 64
    spread = np.zeros((n, k, words * 64), dtype=np.uint8)
    spread[:, :, :2 * n] = lines.transpose(2, 0, 1)
    bits = np.packbits(spread, axis=2, bitorder="little").view("<u8")  # line l is bit l % 64 of word l // 64
    valid = np.packbits(np.arange(words * 64) < 2 * n, bitorder="little").view("<u8")  # not the padding lines
    # N1: each run of L >= 5 same-coloured modules in a row or column scores L - 2, which is the number of
    # 5-module windows inside the run (L - 4) plus 2 for the run's first window
    same = ~(bits[1:] ^ bits[:-1]) & valid  # same[p]: module p+1 has module p's colour
    five = same[:-3] & same[1:-2] & same[2:-1] & same[3:]  # modules p..p+4 of one colour
    first = five.copy()
    first[1:] &= ~same[:-4]
    n1 = _popcount(five).sum(axis=(0, 2), dtype=np.int64) + 2 * _popcount(first).sum(axis=(0, 2), dtype=np.int64)
    # N2: each 2x2 block of one colour scores 3
    a = c[:, :-1, :-1]
    n2 = 3 * ((a == c[:, 1:, :-1]) & (a == c[:, :-1, 1:]) & (a == c[:, 1:, 1:])).sum(axis=(1, 2), dtype=np.int64)
    # N3: 40 for dark-light-dark-dark-dark-light-dark (1011101) with 4 light modules (or the edge) on one side
    hit = bits[:-6] & ~bits[1:-5] & bits[2:-4] & bits[3:-3] & bits[4:-2] & ~bits[5:-1] & bits[6:]
    # dark4[q]: a dark module among q..q+3 of the line padded with 4 light modules each side, so the 4 modules
    # before a pattern at p are dark4[p] and the 4 after it dark4[p + 11]
    pad = np.zeros((4, k, words), dtype=bits.dtype)
    padded = np.concatenate([pad, bits, pad])
    dark4 = padded[:-3] | padded[1:-2] | padded[2:-1] | padded[3:]
    counted = hit & (~dark4[:n - 6] | ~dark4[11:n + 5])
    counted[0] = hit[0]
    counted[n - 7] = hit[n - 7]
    # segno resumes its search 7 modules after a counted pattern, so a counted pattern hides one that overlaps
    # it (the pattern overlaps itself only 4 or 6 modules on); a hidden pattern hides nothing
    hidden = np.zeros_like(hit)
    hidden[4:] |= counted[:-4]
    hidden[6:] |= counted[:-6]
    hidden &= hit
    good = counted & ~hidden
    n3 = 40 * _popcount(good).sum(axis=(0, 2), dtype=np.int64)
    chained = np.zeros_like(hit)
    chained[4:] |= hidden[:-4]
    chained[6:] |= hidden[:-6]
    chained = np.bitwise_or.reduce(chained & hit, axis=0)  # (k, words): lines where a hidden one precedes
    for m, w in zip(*np.nonzero(chained)):
        # a run of overlapping patterns (rare in real payloads): follow segno's search on that line
        word = int(chained[m, w])
        for b in (b for b in range(64) if word >> b & 1):
            approx = int(((good[:, m, w] >> np.uint64(b)) & np.uint64(1)).sum())
            n3[m] += _n3_exact(lines[m, w * 64 + b]) - 40 * approx
    # N4: 10 points per 5 % the dark share strays from 50 %
    dark = c.sum(axis=(1, 2), dtype=np.int64).tolist()
    n4 = [10 * int(abs(float(d) / (n * n) * 100 - 50) / 5) for d in dark]
    return [int(x) + int(y) + int(z) + w for x, y, z, w in zip(n1, n2, n3, n4)]


_N3_PATTERN = bytes((1, 0, 1, 1, 1, 0, 1))


def _n3_exact(line: np.ndarray) -> int:
    """segno's N3 search on one row or column."""
    n = line.shape[0]
    seq = line.tobytes()
    score = 0
    idx = seq.find(_N3_PATTERN)
    while idx != -1:
        offset = idx + 7
        if idx in (0, n - 7) or not any(seq[max(idx - 4, 0):idx]) or not any(seq[offset:offset + 4]):
            score += 40
        else:
            offset = idx + 4
        idx = seq.find(_N3_PATTERN, offset)
    return score


# -- format and version information ------------------------------------------------------------------------

def _add_format_info(matrix: np.ndarray, error: int, mask: int) -> None:
    info = consts.FORMAT_INFO[mask + _ERROR_FORMAT_BITS[error]]
    n = matrix.shape[0]
    voffset = hoffset = 0
    for i in range(8):
        vbit = (info >> i) & 1
        hbit = (info >> (14 - i)) & 1
        if i == 6:  # skip the timing pattern
            voffset += 1
            hoffset = 1
        matrix[i + voffset, 8] = vbit
        matrix[8, i + hoffset] = hbit
        matrix[8, n - 1 - i] = vbit
        matrix[n - 1 - i, 8] = hbit
    matrix[n - 8, 8] = 1  # the dark module


def _add_version_info(matrix: np.ndarray, version: int) -> None:
    if version < 7:
        return
    info = consts.VERSION_INFO[version - 7]
    n = matrix.shape[0]
    for i in range(6):
        for b in range(3):
            bit = (info >> (i * 3 + b)) & 1
            matrix[n - 11 + b, i] = bit
            matrix[i, n - 11 + b] = bit


# -- writers -----------------------------------------------------------------------------------------------

def _dark_runs(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, first column, end column) of every horizontal run of dark modules, top to bottom."""
    n = matrix.shape[1]
    padded = np.zeros((matrix.shape[0], n + 2), dtype=np.int8)
    padded[:, 1:-1] = matrix
    edges = np.diff(padded, axis=1)
    r0, c0 = np.nonzero(edges == 1)
    _, c1 = np.nonzero(edges == -1)
    return r0, c0, c1


_SVG_URI_HEAD = "data:image/svg+xml;charset=utf-8,"


def svg_data_uri(symbol: QrSymbol, border: int = 2) -> str:
    """segno's `svg_data_uri(scale=1, border=border, dark="#000", light="#fff")`: a white square and one path of
    horizontal strokes (relative moves), percent-encoded as urllib's quote(svg, safe="") does."""
    size = symbol.size + 2 * border
    rows, x1, x2 = _dark_runs(symbol.matrix)
    x1 = x1 + border
    x2 = x2 + border
    moves = np.empty((rows.size, 3), dtype=np.int64)
    moves[:, 0] = x1 - np.concatenate([[0], x2[:-1]])
    moves[:, 1] = rows - np.concatenate([[0], rows[:-1]])
    moves[:, 2] = x2 - x1
    values = moves.ravel().tolist()
    # the only character of the path data that needs percent-encoding is the space (written here as %20)
    d = (f"M{values[0]}%20{border + .5 + int(rows[0])}h{values[2]}"
         + ("m%d%%20%dh%d" * (rows.size - 1)) % tuple(values[3:])) if rows.size else ""
    head, tail = _svg_envelope(size)
    return head + d + tail


@lru_cache(maxsize=64)
def _svg_envelope(size: int) -> tuple[str, str]:
    """The percent-encoded SVG around the path data (segno writes the white square first: it is shorter)."""
    background = f"<path fill='#fff' d='M0 0h{size}v{size}h-{size}z'/>"
    head = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{size}' height='{size}' class='segno'>"
            f"{background}<path class='qrline' stroke='#000' d='")
    return _SVG_URI_HEAD + quote(head, safe=""), quote("'/></svg>", safe="")


def png_bytes(symbol: QrSymbol, scale: int = 6, border: int = 3) -> bytes:
    """segno's `save(kind="png", scale=scale, border=border)`: 1-bit greyscale (0 = dark), a filter-0 scanline
    per module row followed by scale-1 'Up' scanlines, the border as filter-0 white lines, zlib level 9."""
    width = (symbol.size + 2 * border) * scale
    pixels = np.ones((symbol.size, symbol.size + 2 * border), dtype=np.uint8)
    pixels[:, border:border + symbol.size] = 1 - symbol.matrix
    rows = np.packbits(np.repeat(pixels, scale, axis=1), axis=1)
    row_bytes = rows.shape[1]
    white = np.concatenate([[0], np.packbits(np.ones(width, dtype=np.uint8))]).astype(np.uint8).tobytes()
    lines = np.zeros((symbol.size, scale, row_bytes + 1), dtype=np.uint8)
    lines[:, 0, 1:] = rows
    lines[:, 1:, 0] = 2  # PNG filter 'Up': the same as the line above
    edge = white * (border * scale)
    idat = edge + lines.tobytes() + edge

    def chunk(name: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + name + data + struct.pack(">I", zlib.crc32(name + data))

    header = struct.pack(">2I5B", width, width, 1, 0, 0, 0, 0)
    return (b"\211PNG\r\n\032\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(idat, 9))
            + chunk(b"IEND", b""))
