"""HL7 v2.5.1 ORU^R01 for one patient's PGx results (pure function; ER7 text with \\r segment separators).

Layout: MSH, PID, OBR (51969-4 genetic analysis report), then one OBX group per gene, tied together by OBX-4
sub-ID "<n>" (LOINC genetic-variation model): gene studied 48018-6 (CWE, HGNC), genotype/diplotype 84413-4 (ST;
ambiguous calls list every candidate, not-called genes are sent with OBX-11 = X and an NTE saying why),
phenotype 53040-2 (CWE, LOINC answer or text only). Each actionable recommendation follows its first gene's group
with sub-ID "<n>.<k>": medication assessed 51963-7 (CWE, RxNorm + ATC), recommendation text (TX, local code) and the
guideline reference. Free text is escaped with hl7apy's own escaping; segments are composed here and
`parse_oru` parses them back with hl7apy (STRICT validation available).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hl7apy.v2_5_1 import get_base_datatypes

from ehrgen.fhir.bundle import PatientRef, ReportContext
from ehrgen.fhir.codes import code_table, hgnc_table
from ehrgen.fhir.ids import stable_uuid
from ehrgen.fhir.resources import action_display
from ehrgen.pgx.model import GeneCall, SampleCalls
from ehrgen.rules.alternatives import alternatives_text, screen
from ehrgen.rules.model import Recommendation

_ST = get_base_datatypes()["ST"]
SEGMENT_SEP = "\r"


def escape(text: str | None) -> str:
    """Escape HL7 delimiters (| ^ & ~ \\) in a text value; newlines become the \\.br\\ formatting escape."""
    if not text:
        return ""
    esc = _ST(text).to_er7()
    return esc.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\.br\\")


def wrap_text(text: str, limit: int = 199) -> str:
    """Escaped TX value split into repetitions (line breaks in TX) of at most `limit` escaped characters,
    at word boundaries: hl7apy holds each repetition to the 199-character ST limit when parsing OBX-5."""
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


def _cwe(code: str, text: str, system: str, alt: tuple[str, str, str] | None = None) -> str:
    parts = [escape(code), escape(text), escape(system) if code else ""]
    if alt:
        parts += [escape(alt[0]), escape(alt[1]), escape(alt[2])]
    return "^".join(parts).rstrip("^")


def _obx3(key: str) -> str:
    return _cwe(*_v2("v2", key))


class _Obx:
    def __init__(self, issued: str) -> None:
        self.n = 0
        self.issued = issued
        self.lines: list[str] = []

    def add(self, vtype: str, key: str, sub_id: str, value: str, status: str = "F",
            notes: list[str] | None = None) -> None:
        self.n += 1
        # OBX-1..14: set id, type, id, sub-id, value, units, range, flags, prob, nature, status, date, user, obs date
        fields = ["OBX", str(self.n), vtype if value else "", _obx3(key), sub_id, value,
                  "", "", "", "", "", status, "", "", self.issued]
        self.lines.append("|".join(fields))
        for i, note in enumerate(notes or [], start=1):
            self.lines.append(f"NTE|{i}||{escape(note)}")


def _pid3(patient: PatientRef) -> str:
    system = patient.identifier_system
    if system.startswith("urn:oid:"):
        authority = f"&{escape(system[8:])}&ISO"
    else:
        authority = f"&{escape(system)}&URI"
    return f"{escape(patient.identifier_value)}^^^{authority}^MR"


def _phenotype_cwe(call: GeneCall) -> str:
    ct = code_table()
    term = call.phenotype
    row = ct.phenotype_row(term)
    text = term or ""
    if call.activity_score:
        text += f" (activity score {call.activity_score})"
    if row is not None and row.code:
        return _cwe(row.code, row.display if not call.activity_score else text, ct.need("v2system", row.system).code)
    return "^" + escape(text)


def _gene_cwe(gene: str) -> str:
    hgnc = hgnc_table().get(gene)
    if hgnc is None:
        return "^" + escape(gene)
    return _cwe(hgnc, gene, code_table().need("v2system", "hgnc").code)


def _med_cwe(rec: Recommendation) -> str:
    ct = code_table()
    primary = (rec.rxnorm, rec.drug, ct.need("v2system", "rxnorm").code) if rec.rxnorm else None
    atc = (rec.atc or "").split(";")[0].strip()
    alt = (atc, rec.drug, ct.need("v2system", "atc").code) if atc else None
    if primary:
        return _cwe(*primary, alt=alt)
    if alt:
        return _cwe(*alt)
    return "^" + escape(rec.drug)


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


def build_oru(calls: SampleCalls, recs: list[Recommendation], patient: PatientRef, context: ReportContext,
              sending_application: str = "EHRGEN", sending_facility: str = "EHRGEN",
              receiving_application: str = "", receiving_facility: str = "") -> str:
    """ER7 text of an ORU^R01 v2.5.1 message for one patient/sample."""
    issued = _ts(context.issued)
    # MSH-10 is derived from the message's own content (filled in at the end, see _with_control_id): the same
    # message re-sent (a retry, a rerun) carries the same control id, so a receiver that de-duplicates on MSH-10
    # drops it; any change in content (new advice, corrected identifier, new orders) gives a new control id
    control = _CONTROL_PLACEHOLDER
    report_code = _obx3("report")
    msh = "|".join([
        "MSH", "^~\\&", escape(sending_application), escape(sending_facility), escape(receiving_application),
        escape(receiving_facility), issued, "", "ORU^R01^ORU_R01", control, "P", "2.5.1", "", "", "AL", "NE",
    ])
    # PID-5 is required; ehrgen never carries names, so only the name type "S" (coded pseudo-name) is sent
    pid = "|".join(["PID", "1", "", _pid3(patient), "", "^^^^^^S"])
    filler = stable_uuid("report", patient.id, calls.sample).replace("-", "")[:20]
    obr_fields = ["OBR", "1", "", f"{filler}^EHRGEN", report_code, "", "", issued] + [""] * 14 + [issued, "", "GE", "F"]
    obr = "|".join(obr_fields)

    obx = _Obx(issued)
    genes: dict[str, GeneCall] = dict(calls.genes)
    actionable = [screen(r, calls) for r in recs if r.actionable]
    for r in actionable:
        for g in r.genes:
            genes.setdefault(g, GeneCall(gene=g, status="no_data"))
    group_of: dict[str, int] = {}
    for n, (gene, call) in enumerate(genes.items(), start=1):
        group_of[gene] = n
        sub = str(n)
        obx.add("CWE", "gene-studied", sub, _gene_cwe(gene))
        absent = call.status in ("not_called", "no_data") or (not call.diplotypes and not call.phenotype)
        if absent:
            obx.add("ST", "genotype", sub, "", status="X", notes=_gene_notes(call))
            continue
        geno = call.diplotype_text or f"{call.phenotype} (no diplotype reported)"
        obx.add("ST", "genotype", sub, escape(geno[:199]), notes=_gene_notes(call))
        if call.phenotype:
            obx.add("CWE", "phenotype", sub, _phenotype_cwe(call))

    per_group: dict[int, int] = {}
    seen: set[tuple[str, str]] = set()
    for rec in actionable:
        if (rec.drug, rec.source) in seen:
            continue
        seen.add((rec.drug, rec.source))
        g = next((group_of[x] for x in rec.genes if x in group_of), 0)
        per_group[g] = per_group.get(g, 0) + 1
        sub = f"{g}.{per_group[g]}"
        obx.add("CWE", "medication-assessed", sub, _med_cwe(rec))
        text = f"{action_display(rec.action)}. {rec.summary.strip()}"
        alts = alternatives_text(rec)
        if alts:
            text += " " + alts
        obx.add("TX", "recommendation", sub, wrap_text(text))
        strength = rec.strength if rec.strength_graded else "not graded"
        guide = f"{rec.source} ({strength}), rules {rec.rules_version}"
        if rec.recommendation_id:
            guide += f", recommendation {rec.recommendation_id}"
        if rec.guideline_url:
            guide += f": {rec.guideline_url}"
        obx.add("TX", "guideline", sub, wrap_text(guide))

    return _with_control_id(SEGMENT_SEP.join([msh, pid, obr, *obx.lines]) + SEGMENT_SEP)


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
