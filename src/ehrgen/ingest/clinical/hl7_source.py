"""Read HL7 v2 files (ADT^A01/A04/A08, RDE^O11, OMP^O09) into ClinicalData.

A file may hold several messages, with or without MLLP framing (\\x0b ... \\x1c\\x0d) and with \\r, \\n or
\\r\\n between segments. Each message is parsed by hl7apy with tolerant validation (its strict mode rejects
some valid order messages, e.g. RDE^O11 with TQ1 after RXE); the fields this module needs are checked here.
Components are split with the message's own encoding characters, so any v2.x version hl7apy knows works.
A bad message gives an error naming the file, message number, segment and field; the other messages go on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message, Segment
from hl7apy.exceptions import HL7apyException, UnsupportedVersion
from hl7apy.parser import parse_message

from ehrgen.ingest.clinical import codes
from ehrgen.ingest.clinical.model import ClinicalData, ClinicalError, Medication, Patient

log = logging.getLogger(__name__)

_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
ADT_EVENTS = ("A01", "A04", "A08")
ORDER_TYPES = {"RDE": "RXE", "OMP": "RXO"}  # message type -> segment holding the give/requested code
ORDER_CODE_FIELD = {"RXE": 2, "RXO": 1}  # RXE-2 give code, RXO-1 requested give code


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class _Enc:
    """The message's encoding characters (MSH-1, MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, text: str) -> str:
        if self.escape not in text:
            return text
        table = {"F": self.field, "S": self.component, "R": self.repetition, "E": self.escape, "T": self.subcomponent}
        e = re.escape(self.escape)
        return re.sub(f"{e}([FSRET]){e}", lambda m: table[m.group(1)], text)


# --- splitting a file into messages ---------------------------------------------------------------------


def decode(raw: bytes) -> str:
    """Bytes as text: UTF-8, else Latin-1 (common in v2 feeds); MLLP framing removed, segments ended by \\r."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\x0b", "").replace("\x1c", "")
    return text.replace("\r\n", "\n").replace("\n", "\r")


def split_messages(text: str) -> tuple[list[str], bool]:
    """Messages (segments joined by \\r), each starting at an MSH segment; and whether text came before the first MSH."""
    messages: list[list[str]] = []
    stray = False
    for segment in text.split("\r"):
        if not segment.strip():
            continue
        if segment.startswith("MSH"):
            messages.append([segment])
        elif messages:
            messages[-1].append(segment)
        else:
            stray = True
    return ["\r".join(m) for m in messages], stray


# --- field access -----------------------------------------------------------------------------------------


def _repetitions(segment: Segment, number: int) -> list[str]:
    """The repetitions of field `number` as raw ER7 text ([] when absent)."""
    try:
        proxy = getattr(segment, f"{segment.name.lower()}_{number}")
    except (HL7apyException, AttributeError):
        return []
    return [text for text in (rep.to_er7() for rep in proxy) if text]


def _components(value: str, enc: _Enc) -> list[str]:
    return value.split(enc.component)


def _component(value: str, enc: _Enc, index: int) -> str:
    """Component `index` (1-based), unescaped; '' when absent."""
    parts = _components(value, enc)
    part = parts[index - 1] if len(parts) >= index else ""
    return "" if part == '""' else enc.unescape(part)  # '""' is HL7's explicit null


def _first(segment: Segment, number: int) -> str:
    reps = _repetitions(segment, number)
    return reps[0] if reps else ""


def _hl7_date(value: str, enc: _Enc) -> date | None:
    """The date part of a TS/DTM (YYYYMMDD[HHMM...]); None when empty. Raises ValueError when malformed."""
    ts = value.split(enc.component)[0].strip()
    if not ts:
        return None
    if len(ts) < 8 or not ts[:8].isdigit():
        raise ValueError("expected YYYYMMDD")
    return date(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))


def _sortable(value: str, enc: _Enc) -> str | None:
    """A TS/DTM as a sortable "YYYYMMDDHHMMSS" (time zone ignored); None when it has no full date."""
    ts = value.split(enc.component)[0].strip()
    digits = re.match(r"\d*", ts).group(0)  # stops at '.', '+' or '-'
    return digits.ljust(14, "0")[:14] if len(digits) >= 8 else None


# --- PID -> Patient ----------------------------------------------------------------------------------------


def identifier_system(assigning_authority: str, enc: _Enc) -> str | None:
    """CX-4 (HD: namespace&universal id&type) as a system: urn:oid:/urn:uuid: for ISO/UUID ids, else as given."""
    parts = [enc.unescape(p) for p in assigning_authority.split(enc.subcomponent)]
    namespace = parts[0] if parts else ""
    universal = parts[1] if len(parts) > 1 else ""
    kind = parts[2].upper() if len(parts) > 2 else ""
    if universal:
        if kind == "ISO" and not universal.startswith("urn:"):
            return f"urn:oid:{universal}"
        if kind == "UUID" and not universal.startswith("urn:"):
            return f"urn:uuid:{universal}"
        return universal
    return namespace or None


def patient_from_pid(pid: Segment, enc: _Enc, errors: list[tuple[str, str]]) -> Patient:
    """The patient in a PID segment. Raises _FieldError when PID-3 has no identifier; other field problems
    are appended to `errors` as (field, message) and the field is left empty."""
    identifiers = [rep for rep in _repetitions(pid, 3) if _component(rep, enc, 1).strip()]
    if not identifiers:
        raise _FieldError("PID-3", "patient identifier list is empty (expected ID^^^assigning authority^type)")
    # why: the medical record number is the identifier other systems use to find the patient
    chosen = next((rep for rep in identifiers if _component(rep, enc, 5).upper() == "MR"), identifiers[0])
    value = _component(chosen, enc, 1)
    system = identifier_system(_components(chosen, enc)[3] if len(_components(chosen, enc)) > 3 else "", enc)

    family = given = None
    names = _repetitions(pid, 5)
    if names:
        family = _component(names[0], enc, 1).split(enc.subcomponent)[0] or None  # XPN-1.1 surname
        given_parts = [_component(names[0], enc, 2), _component(names[0], enc, 3)]
        given = " ".join(p for p in given_parts if p) or None

    birth = None
    try:
        birth = _hl7_date(_first(pid, 7), enc)
    except ValueError:
        errors.append(("PID-7", "date of birth is not a date (expected YYYYMMDD)"))

    sex = None
    sex_raw = _first(pid, 8).strip()
    if sex_raw:
        sex = codes.lookup("sex", sex_raw)
        if sex is None:
            errors.append(("PID-8", "administrative sex not in HL7 table 0001 (F, M, O, U, A, N)"))
    return Patient(id=value, identifier_system=system, identifier_value=value, family=family, given=given,
                   birth_date=birth, sex=sex)


# --- ORC + RXE/RXO -> Medication ---------------------------------------------------------------------------


def _coded(value: str, enc: _Enc) -> tuple[str | None, list[tuple[str, str]]]:
    """CE/CWE code^text^system^alt code^alt text^alt system -> (text, [(system uri, code)])."""
    text = _component(value, enc, 2) or _component(value, enc, 5) or None
    found: list[tuple[str, str]] = []
    for code_i, system_i in ((1, 3), (4, 6)):
        code = _component(value, enc, code_i).strip()
        if code:
            found.append((codes.coding_system(_component(value, enc, system_i).strip()), code))
    return text, found


def medication_from_order(
    orc: Segment | None, order_segment: Segment, message_type: str, patient_id: str, enc: _Enc, fallback: date | None
) -> Medication:
    seg_name = order_segment.name
    field_no = ORDER_CODE_FIELD[seg_name]
    if orc is None:
        raise _FieldError("ORC", f"{seg_name} without a preceding ORC (common order) segment")
    code_field = _first(order_segment, field_no)
    text, med_codes = _coded(code_field, enc)
    if not med_codes and not text:
        raise _FieldError(f"{seg_name}-{field_no}", "give code is empty (expected code^text^coding system)")
    control = _component(_first(orc, 1), enc, 1).strip()
    status = codes.lookup("hl7_order_control", control) or codes.lookup("hl7_message_status", message_type)
    order_id = _component(_first(orc, 2), enc, 1) or _component(_first(orc, 3), enc, 1) or None
    try:
        authored = _hl7_date(_first(orc, 9), enc) or fallback
    except ValueError:
        raise _FieldError("ORC-9", "date/time of transaction is not a date (expected YYYYMMDD[HHMM])") from None
    return Medication(patient_id=patient_id, status=status or "active", drug_text=text, codes=med_codes,  # type: ignore[arg-type]
                      order_id=order_id, authored=authored)


# --- one message ----------------------------------------------------------------------------------------------


def _parse(text: str) -> Message:
    return parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)


def _bad_segment(text: str) -> tuple[int, str] | None:
    """(1-based index, reason) of the first segment that is not NAME|... (what makes hl7apy give up)."""
    separator = text[3:4] or "|"
    for i, seg in enumerate(text.split("\r"), start=1):
        name = seg[:3]
        if not _SEGMENT_NAME.match(name) or (len(seg) > 3 and seg[3] != separator):
            return i, "segment does not start with a three-character segment name and field separator"
    return None


def read_message(text: str, data: ClinicalData, file: str, index: int) -> None:
    """Parse one message and add what it holds to `data` (errors included)."""
    msh_fields = text.split("\r", 1)[0].split(text[3:4] or "|")
    control_id = msh_fields[9] if len(msh_fields) > 9 else ""  # MSH-10, read raw so parse failures can name it
    where = f"message {index} ({control_id})" if control_id else f"message {index}"

    def error(location: str, field: str, message: str) -> None:
        data.errors.append(ClinicalError(file, location, field, message))

    try:
        message = _parse(text)
    except UnsupportedVersion:
        error(f"{where} MSH", "MSH-12", "HL7 version missing or not supported (expected 2.1 to 2.8.2); message skipped")
        return
    except HL7apyException as exc:
        bad = _bad_segment(text)
        if bad is not None:
            error(f"{where} segment {bad[0]}", "", f"{bad[1]}; message skipped")
        else:
            # why: hl7apy's exception text can quote field content, so only its kind is reported
            error(f"{where} MSH", "MSH", f"message could not be parsed ({type(exc).__name__}); message skipped")
        return
    except Exception as exc:  # noqa: BLE001  hl7apy raises plain errors on some malformed input
        error(f"{where} MSH", "MSH", f"message could not be parsed ({type(exc).__name__}); message skipped")
        return

    encoding_chars = text[4:].split(text[3])[0]  # MSH-2, read raw: hl7apy treats it specially
    enc = _Enc(field=text[3], **dict(zip(("component", "repetition", "escape", "subcomponent"), encoding_chars)))
    msh = message.children[0]
    msg_type = _component(_first(msh, 9), enc, 1).strip().upper()
    event = _component(_first(msh, 9), enc, 2).strip().upper()
    is_adt = msg_type == "ADT" and event in ADT_EVENTS
    if not is_adt and msg_type not in ORDER_TYPES:
        error(f"{where} MSH", "MSH-9", "message type not read (expected ADT^A01/A04/A08, RDE^O11 or OMP^O09)")
        return
    try:
        fallback = _hl7_date(_first(msh, 7), enc)
    except ValueError:
        fallback = None
    as_of = _sortable(_first(msh, 7), enc)

    segments = list(message.children)
    pids = [s for s in segments if s.name == "PID"]
    if not pids:
        error(f"{where} PID", "PID", "PID segment missing; message skipped")
        return
    field_errors: list[tuple[str, str]] = []
    try:
        patient = patient_from_pid(pids[0], enc, field_errors)
    except _FieldError as exc:
        error(f"{where} PID", exc.field, f"{exc.message}; message skipped")
        return
    for field, msg in field_errors:
        error(f"{where} PID", field, msg)
    data.add_patient(patient, as_of)
    if is_adt:
        return

    order_seg_name = ORDER_TYPES[msg_type]
    orc: Segment | None = None
    n_orders = 0
    for position, seg in enumerate(segments, start=1):
        if seg.name == "ORC":
            orc = seg
        elif seg.name == order_seg_name:
            n_orders += 1
            try:
                med = medication_from_order(orc, seg, f"{msg_type}^{event}", patient.id, enc, fallback)
                med.origin = (file, f"{where} {seg.name} segment {position}")
                data.add_medication(med, _sortable(_first(orc, 9), enc) or as_of)  # type: ignore[arg-type]
            except _FieldError as exc:
                error(f"{where} {seg.name} segment {position}", exc.field, exc.message)
    if n_orders == 0:
        error(f"{where} {order_seg_name}", order_seg_name, f"no {order_seg_name} segment: the order names no drug")


def truncated_end(raw: bytes) -> str | None:
    """Why the file's last message looks cut off, or None: an MLLP frame opened but never closed, or the
    last segment without a terminator (a field cut mid-value, e.g. half an MRN, would be read as a value)."""
    body = raw.rstrip(b" \t")
    if not body.strip():
        return None
    if b"\x0b" in body:
        if body.rfind(b"\x0b") > body.rfind(b"\x1c"):
            return "file ends inside an MLLP frame (no end block)"
        return None
    if not body.endswith((b"\r", b"\n")):
        return "file ends inside a segment (no segment terminator)"
    return None


def read_hl7_file(path: Path) -> ClinicalData:
    """Read every message in an HL7 v2 file. Never raises on bad content; problems are in .errors."""
    path = Path(path)
    file = str(path)
    data = ClinicalData()
    raw = path.read_bytes()
    messages, stray = split_messages(decode(raw))
    cut = truncated_end(raw)
    if stray:
        data.errors.append(ClinicalError(file, "before message 1", "", "text before the first MSH segment ignored"))
    if not messages:
        data.errors.append(ClinicalError(file, "", "MSH", "no HL7 v2 message found (expected segments starting with MSH)"))
    for index, text in enumerate(messages, start=1):
        if cut and index == len(messages):
            last = [s for s in text.split("\r") if s.strip()][-1][:3]
            data.errors.append(ClinicalError(file, f"message {index} segment {last}", "",
                                             f"{cut}: the message looks truncated inside a field; message skipped"))
            continue
        read_message(text, data, file, index)
    log.info("read %s: %d messages, %s", path.name, len(messages), data.summary())
    return data
