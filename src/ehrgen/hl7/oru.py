"""HL7 v2.5.1 ORU^R01 for one patient's PGx results (pure function; ER7 text with \\r segment separators).

Layout: MSH, PID, OBR (51969-4 genetic analysis report), then one OBX group per gene, tied together by OBX-4
sub-ID "<n>" (LOINC genetic-variation model): gene studied 48018-6 (CWE, HGNC), genotype/diplotype 84413-4 (ST;
ambiguous calls list every candidate, not-called genes are sent with OBX-11 = X and an NTE saying why),
phenotype 53040-2 (CWE, LOINC answer or text only). Each actionable recommendation follows its first gene's group
with sub-ID "<n>.<k>": medication assessed 51963-7 (CWE, RxNorm + ATC), recommendation text (TX, local code) and the
guideline reference. Free text is escaped with hl7apy's own escaping (or, on the fast path, the hand-written
equivalent in ehrgen.hl7.escaping); segments are composed here and `parse_oru` parses them back with hl7apy
(STRICT validation available).

Two builders give the same text: the straightforward one below composes every segment for every patient; the
fast one (ehrgen.hl7.oru_fast, selected by ehrgen.fastpath.enabled()) composes each distinct gene result and each
distinct recommendation once and stamps the per-patient fields (set ids, sub-ids, times, PID, MSH-10). Both use
the content functions here, given the escaping to use (a Codec).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from ehrgen import fastpath
from ehrgen.fhir.bundle import PatientRef, ReportContext
from ehrgen.fhir.codes import code_table, hgnc_table
from ehrgen.fhir.ids import stable_uuid
from ehrgen.fhir.resources import action_display
from ehrgen.hl7.escaping import escape_fast, escape_hl7apy, wrap_text_fast, wrap_text_plain
from ehrgen.pgx.model import GeneCall, SampleCalls
from ehrgen.rules.alternatives import alternatives_text, screen
from ehrgen.rules.model import Recommendation

SEGMENT_SEP = "\r"


@dataclass(frozen=True)
class Codec:
    """The escaping a builder uses: hl7apy's (PLAIN) or the hand-written equivalent (FAST)."""

    esc: Callable[[str | None], str]
    wrap: Callable[[str], str]


PLAIN = Codec(escape_hl7apy, wrap_text_plain)
FAST = Codec(escape_fast, wrap_text_fast)


def escape(text: str | None) -> str:
    """Escape HL7 delimiters (| ^ & ~ \\) in a text value; newlines become the \\.br\\ formatting escape."""
    return escape_fast(text) if fastpath.enabled() else escape_hl7apy(text)


def wrap_text(text: str, limit: int = 199) -> str:
    """Escaped TX value split into repetitions (line breaks in TX) of at most `limit` escaped characters,
    at word boundaries: hl7apy holds each repetition to the 199-character ST limit when parsing OBX-5."""
    return wrap_text_fast(text, limit) if fastpath.enabled() else wrap_text_plain(text, limit)


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.strftime("%Y%m%d%H%M%S%z")


def _v2(group: str, key: str) -> tuple[str, str, str]:
    """(code, text, coding system) for an OBX-3 row of the code table."""
    ct = code_table()
    row = ct.need(group, key)
    system = ct.need("v2system", row.system).code
    return row.code, row.display, system


def _cwe(code: str, text: str, system: str, alt: tuple[str, str, str] | None = None,
         esc: Callable[[str | None], str] = escape_hl7apy) -> str:
    parts = [esc(code), esc(text), esc(system) if code else ""]
    if alt:
        parts += [esc(alt[0]), esc(alt[1]), esc(alt[2])]
    return "^".join(parts).rstrip("^")


def _obx3(key: str, esc: Callable[[str | None], str]) -> str:
    return _cwe(*_v2("v2", key), esc=esc)


class _Obx:
    def __init__(self, issued: str, esc: Callable[[str | None], str]) -> None:
        self.n = 0
        self.issued = issued
        self.esc = esc
        self.lines: list = []

    def add(self, vtype: str, key: str, sub_id: str, value: str, status: str = "F",
            notes: list[str] | None = None) -> None:
        self.n += 1
        # OBX-1..14: set id, type, id, sub-id, value, units, range, flags, prob, nature, status, date, user, obs date
        fields = ["OBX", str(self.n), vtype if value else "", _obx3(key, self.esc), sub_id, value,
                  "", "", "", "", "", status, "", "", self.issued]
        self._obx(fields)
        for i, note in enumerate(notes or [], start=1):
            self.lines.append(f"NTE|{i}||{self.esc(note)}")

    def _obx(self, fields: list[str]) -> None:
        self.lines.append("|".join(fields))


def _pid3(patient: PatientRef, esc: Callable[[str | None], str]) -> str:
    system = patient.identifier_system
    if system.startswith("urn:oid:"):
        authority = f"&{esc(system[8:])}&ISO"
    else:
        authority = f"&{esc(system)}&URI"
    return f"{esc(patient.identifier_value)}^^^{authority}^MR"


def _phenotype_cwe(call: GeneCall, esc: Callable[[str | None], str]) -> str:
    ct = code_table()
    term = call.phenotype
    row = ct.phenotype_row(term)
    text = term or ""
    if call.activity_score:
        text += f" (activity score {call.activity_score})"
    if row is not None and row.code:
        return _cwe(row.code, row.display if not call.activity_score else text, ct.need("v2system", row.system).code,
                    esc=esc)
    return "^" + esc(text)


def _gene_cwe(gene: str, esc: Callable[[str | None], str]) -> str:
    hgnc = hgnc_table().get(gene)
    if hgnc is None:
        return "^" + esc(gene)
    return _cwe(hgnc, gene, code_table().need("v2system", "hgnc").code, esc=esc)


def _med_cwe(rec: Recommendation, esc: Callable[[str | None], str]) -> str:
    ct = code_table()
    primary = (rec.rxnorm, rec.drug, ct.need("v2system", "rxnorm").code) if rec.rxnorm else None
    atc = (rec.atc or "").split(";")[0].strip()
    alt = (atc, rec.drug, ct.need("v2system", "atc").code) if atc else None
    if primary:
        return _cwe(*primary, alt=alt, esc=esc)
    if alt:
        return _cwe(*alt, esc=esc)
    return "^" + esc(rec.drug)


def _gene_notes(call: GeneCall) -> list[str]:
    notes = []
    if call.status == "ambiguous":
        notes.append(f"Ambiguous: {len(call.diplotypes)} candidate diplotypes fit the data equally well: "
                     f"{call.diplotype_text}. Confirm with an orthogonal test before relying on it.")
    elif call.status == "not_called":
        notes.append(f"{call.gene} not called: the data did not support any diplotype.")
    elif call.status == "no_data":
        notes.append(f"{call.gene}: not tested; no data for this gene (no positions read and no outside call).")
    if call.source == "outside" and call.status != "no_data":  # a gene without data was not tested by anyone
        notes.append("Outside call: supplied from another test, not derived from the submitted VCF.")
    if call.missing_positions:
        notes.append(f"{len(call.missing_positions)} definition position(s) missing from the input.")
    notes.extend(call.warnings)
    return notes


def gene_key(gene: str, call: GeneCall) -> tuple:
    """Everything _gene_group reads of a gene call (the fast path's template key; diplotype names are made
    from the allele pair)."""
    return (gene, call.status, tuple((d.allele1, d.allele2) for d in call.diplotypes), call.phenotype,
            call.activity_score, call.source, len(call.missing_positions), tuple(call.warnings))


def _gene_group(obx: _Obx, gene: str, call: GeneCall, sub: str) -> None:
    esc = obx.esc
    obx.add("CWE", "gene-studied", sub, _gene_cwe(gene, esc))
    absent = call.status in ("not_called", "no_data") or (not call.diplotypes and not call.phenotype)
    if absent:
        obx.add("ST", "genotype", sub, "", status="X", notes=_gene_notes(call))
        return
    geno = call.diplotype_text or f"{call.phenotype} (no diplotype reported)"
    obx.add("ST", "genotype", sub, esc(geno[:199]), notes=_gene_notes(call))
    if call.phenotype:
        obx.add("CWE", "phenotype", sub, _phenotype_cwe(call, esc))


def _rec_texts(rec: Recommendation) -> tuple[str, str]:
    """(recommendation text, guideline reference) as sent, before escaping."""
    text = f"{action_display(rec.action)}. {rec.summary.strip()}"
    alts = alternatives_text(rec)
    if alts:
        text += " " + alts
    strength = rec.strength if rec.strength_graded else "not graded"
    guide = f"{rec.source} ({strength}), rules {rec.rules_version}"
    if rec.recommendation_id:
        guide += f", recommendation {rec.recommendation_id}"
    if rec.guideline_url:
        guide += f": {rec.guideline_url}"
    return text, guide


def rec_key(rec: Recommendation, text: str, guide: str) -> tuple:
    """Everything _rec_group reads (the fast path's template key)."""
    return (rec.drug, rec.rxnorm, rec.atc, text, guide)


def _rec_group(obx: _Obx, rec: Recommendation, text: str, guide: str, sub: str,
               wrap: Callable[[str], str]) -> None:
    obx.add("CWE", "medication-assessed", sub, _med_cwe(rec, obx.esc))
    obx.add("TX", "recommendation", sub, wrap(text))
    obx.add("TX", "guideline", sub, wrap(guide))


def _groups(calls: SampleCalls, recs: list[Recommendation]
            ) -> tuple[dict[str, GeneCall], list[tuple[Recommendation, str]]]:
    """The gene groups in message order, and each recommendation group with its OBX-4 sub-ID."""
    genes: dict[str, GeneCall] = dict(calls.genes)
    actionable = [screen(r, calls) for r in recs if r.actionable]
    for r in actionable:
        for g in r.genes:
            genes.setdefault(g, GeneCall(gene=g, status="no_data"))
    group_of = {gene: n for n, gene in enumerate(genes, start=1)}
    per_group: dict[int, int] = {}
    seen: set[tuple[str, str]] = set()
    out: list[tuple[Recommendation, str]] = []
    for rec in actionable:
        if (rec.drug, rec.source) in seen:
            continue
        seen.add((rec.drug, rec.source))
        g = next((group_of[x] for x in rec.genes if x in group_of), 0)
        per_group[g] = per_group.get(g, 0) + 1
        out.append((rec, f"{g}.{per_group[g]}"))
    return genes, out


def _header(calls: SampleCalls, patient: PatientRef, issued: str, apps: tuple[str, str, str, str],
            report_code: str, esc: Callable[[str | None], str]) -> list[str]:
    """MSH (MSH-10 a placeholder, see _with_control_id), PID, OBR."""
    # MSH-10 is derived from the message's own content (filled in at the end, see _with_control_id): the same
    # message re-sent (a retry, a rerun) carries the same control id, so a receiver that de-duplicates on MSH-10
    # drops it; any change in content (new advice, corrected identifier, new orders) gives a new control id
    msh = "|".join([
        "MSH", "^~\\&", esc(apps[0]), esc(apps[1]), esc(apps[2]), esc(apps[3]), issued, "", "ORU^R01^ORU_R01",
        _CONTROL_PLACEHOLDER, "P", "2.5.1", "", "", "AL", "NE",
    ])
    # PID-5 is required; ehrgen never carries names, so only the name type "S" (coded pseudo-name) is sent
    pid = "|".join(["PID", "1", "", _pid3(patient, esc), "", "^^^^^^S"])
    filler = stable_uuid("report", patient.id, calls.sample).replace("-", "")[:20]
    obr_fields = ["OBR", "1", "", f"{filler}^EHRGEN", report_code, "", "", issued] + [""] * 14 + [issued, "", "GE", "F"]
    return [msh, pid, "|".join(obr_fields)]


def build_oru(calls: SampleCalls, recs: list[Recommendation], patient: PatientRef, context: ReportContext,
              sending_application: str = "EHRGEN", sending_facility: str = "EHRGEN",
              receiving_application: str = "", receiving_facility: str = "") -> str:
    """ER7 text of an ORU^R01 v2.5.1 message for one patient/sample."""
    apps = (sending_application, sending_facility, receiving_application, receiving_facility)
    if fastpath.enabled():
        from ehrgen.hl7.oru_fast import build_oru_fast

        return build_oru_fast(calls, recs, patient, context, apps)
    return _build_oru_plain(calls, recs, patient, context, apps)


def _build_oru_plain(calls: SampleCalls, recs: list[Recommendation], patient: PatientRef, context: ReportContext,
                     apps: tuple[str, str, str, str]) -> str:
    """The straightforward builder: every segment composed and escaped (hl7apy) for this patient."""
    issued = _ts(context.issued)
    head = _header(calls, patient, issued, apps, _obx3("report", PLAIN.esc), PLAIN.esc)
    genes, rec_groups = _groups(calls, recs)
    obx = _Obx(issued, PLAIN.esc)
    for n, (gene, call) in enumerate(genes.items(), start=1):
        _gene_group(obx, gene, call, str(n))
    for rec, sub in rec_groups:
        _rec_group(obx, rec, *_rec_texts(rec), sub, PLAIN.wrap)
    return _with_control_id(SEGMENT_SEP.join([*head, *obx.lines]) + SEGMENT_SEP)


_CONTROL_PLACEHOLDER = "\x00control\x00"  # never occurs in escaped ER7 text


def _with_control_id(er7: str) -> str:
    """Fill MSH-10 with the first 20 hex digits (MSH-10's length limit) of the SHA-256 of the message as built
    with a placeholder there: a function of everything else in the message, and of nothing else."""
    control = hashlib.sha256(er7.encode("utf-8")).hexdigest()[:20]
    return er7.replace(_CONTROL_PLACEHOLDER, control, 1)


def parse_oru(er7: str, strict: bool = True):
    """Parse ER7 back with hl7apy (normalising \\n / \\r\\n to \\r first, as hl7apy requires)."""
    text = er7.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    level = VALIDATION_LEVEL.STRICT if strict else VALIDATION_LEVEL.TOLERANT
    return parse_message(text, validation_level=level, find_groups=True)
