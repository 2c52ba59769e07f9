"""Find and sanity-check the artefacts `ehrgen export` wrote: <patient>.bundle.json, <patient>.oru.hl7,
<patient>.report.<ext>. Other files in the folder (manifests, logs) are ignored."""

from __future__ import annotations

import json
from pathlib import Path

from ehrgen.deliver.model import Artefact
from ehrgen.errors import InputError

_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".bundle.json", "fhir-bundle"),
    (".oru.hl7", "oru"),
)
_REPORT_MARK = ".report."


def scan_export_dir(export_dir: Path) -> dict[str, list[Artefact]]:
    """patient id -> artefacts, in a stable order (sorted by patient, then kind)."""
    if not export_dir.is_dir():
        raise InputError(str(export_dir), "expected a folder written by `ehrgen export`")
    found: dict[str, list[Artefact]] = {}
    for path in sorted(export_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        art = _classify(path)
        if art is not None:
            found.setdefault(art.patient_id, []).append(art)
    return found


def _classify(path: Path) -> Artefact | None:
    name = path.name
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return Artefact(name[: -len(suffix)], kind, path)  # type: ignore[arg-type]
    if _REPORT_MARK in name:
        patient, _, ext = name.rpartition(_REPORT_MARK)
        if patient and ext and "." not in ext:
            return Artefact(patient, "report", path)
    return None


def _loads(data: bytes):
    """orjson (5x faster on bundles) on the fast path; the standard parser when it fails, so that the error (and
    its byte position) in the reason is always the standard one."""
    from ehrgen import fastpath

    if fastpath.enabled():
        try:
            import orjson

            return orjson.loads(data)
        except (ImportError, ValueError):
            pass  # no orjson, or not JSON to it: json decides, and gives the reason
    return json.loads(data)


def check_content(art: Artefact, data: bytes) -> str | None:
    """A one-line reason if the file cannot be what its name says, else None.

    Deliberately shallow: the exporter validates; this only stops sending garbage to a live EHR.
    """
    if art.kind == "fhir-bundle":
        try:
            doc = _loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"{art.path.name}: not JSON ({exc.__class__.__name__} at byte {getattr(exc, 'pos', '?')})"
        if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
            return f"{art.path.name}: expected a FHIR Bundle resource"
        if doc.get("type") != "transaction":
            return f"{art.path.name}: expected Bundle.type 'transaction', found {doc.get('type')!r}"
        return None
    if art.kind == "oru":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"{art.path.name}: not UTF-8 text"
        if not text.startswith("MSH"):
            return f"{art.path.name}: expected an HL7 v2 message starting with MSH"
        if "\x0b" in text or "\x1c" in text:
            return f"{art.path.name}: contains MLLP framing bytes (0x0b/0x1c)"
        return None
    return None
