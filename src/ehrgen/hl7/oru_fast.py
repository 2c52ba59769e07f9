"""The fast ORU^R01 builder (issue 14): the same text as ehrgen.hl7.oru's straightforward builder, composed once
per distinct gene result and per distinct recommendation rather than once per patient.

A group's OBX/NTE lines are kept as one format string with the per-patient parts left as fields: OBX-1 (the
set id runs through the whole message, so it depends on the groups before), OBX-4 (the sub-ID depends on the
gene's place in this patient's message) and OBX-14 (the issued time). NTE lines are kept whole: their set ids
restart under each OBX. MSH, PID and OBR are per patient and composed every time (with the hand-written escape); MSH-10 is
then the hash of the finished message, as on the straightforward path.

Templates are keyed on everything a group's text is read from (oru.gene_key / oru.rec_key) and on the code
tables in use; each cache holds at most _MAX entries (cleared when full) so a stream of any length stays in
bounded memory. Only this module reads them, and only when ehrgen.fastpath.enabled().
"""

from __future__ import annotations

from typing import Any, Union

from ehrgen.fhir.bundle import PatientRef, ReportContext
from ehrgen.fhir.codes import code_table, hgnc_table
from ehrgen.hl7 import oru
from ehrgen.pgx.model import SampleCalls
from ehrgen.rules.model import Recommendation

_MAX = 20_000  # per cache; all 3,202 people of 1000 Genomes need 612 gene and 325 recommendation templates (~0.4 MB)

Line = Union[str, tuple[str, str]]  # an NTE line as is, or an OBX line as (text before OBX-4, text before OBX-14)
Template = tuple[str, int]  # str.format pattern of the group's lines ({0}.. set ids, {sub}, {issued}), OBX count


class _Recorder(oru._Obx):
    """Collects a group's lines as templates instead of finished lines."""

    def _obx(self, fields: list[str]) -> None:
        assert len(fields) == 15  # OBX-0..14: 1 is the set id, 4 the sub-ID, 14 the time (stamped later)
        self.lines.append(("|" + "|".join(fields[2:4]) + "|", "|" + "|".join(fields[5:14]) + "|"))


class _Templates:
    def __init__(self, tables: tuple[Any, Any]) -> None:
        self.tables = tables  # the code table and HGNC table the templates were made with
        self.genes: dict[tuple, Template] = {}
        self.recs: dict[tuple, Template] = {}
        self.report_code = oru._obx3("report", oru.FAST.esc)


_templates: _Templates | None = None


def _current() -> _Templates:
    global _templates
    tables = (code_table(), hgnc_table())
    t = _templates
    if t is None or t.tables[0] is not tables[0] or t.tables[1] is not tables[1]:
        t = _templates = _Templates(tables)
    return t


def clear() -> None:
    """Forget every template (tests; a long-running service may call it between batches)."""
    global _templates
    _templates = None


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _template(lines: list[Line]) -> Template:
    parts, k = [], 0
    for line in lines:
        if isinstance(line, str):
            parts.append(_braces(line))
        else:
            parts.append(f"OBX|{{{k}}}{_braces(line[0])}{{sub}}{_braces(line[1])}{{issued}}")
            k += 1
    return oru.SEGMENT_SEP.join(parts), k


def _store(cache: dict[tuple, Template], key: tuple, lines: list[Line]) -> Template:
    if len(cache) >= _MAX:
        cache.clear()
    tpl = cache[key] = _template(lines)
    return tpl


def build_oru_fast(calls: SampleCalls, recs: list[Recommendation], patient: PatientRef, context: ReportContext,
                   apps: tuple[str, str, str, str]) -> str:
    t = _current()
    issued = oru._ts(context.issued)
    out = oru._header(calls, patient, issued, apps, t.report_code, oru.FAST.esc)
    genes, rec_groups = oru._groups(calls, recs)
    n = 0  # OBX-1 of the last OBX written
    for g, (gene, call) in enumerate(genes.items(), start=1):
        key = oru.gene_key(gene, call)
        tpl = t.genes.get(key)
        if tpl is None:
            rec = _Recorder("", oru.FAST.esc)
            oru._gene_group(rec, gene, call, "")
            tpl = _store(t.genes, key, rec.lines)
        out.append(tpl[0].format(*range(n + 1, n + 1 + tpl[1]), sub=g, issued=issued))
        n += tpl[1]
    for r, sub in rec_groups:
        text, guide = oru._rec_texts(r)
        key = oru.rec_key(r, text, guide)
        tpl = t.recs.get(key)
        if tpl is None:
            rec = _Recorder("", oru.FAST.esc)
            oru._rec_group(rec, r, text, guide, "", oru.FAST.wrap)
            tpl = _store(t.recs, key, rec.lines)
        out.append(tpl[0].format(*range(n + 1, n + 1 + tpl[1]), sub=sub, issued=issued))
        n += tpl[1]
    return oru._with_control_id(oru.SEGMENT_SEP.join(out) + oru.SEGMENT_SEP)
