"""Interpretation memoised by the result key (issue 14): the fast path of `ehrgen.rules.engine.interpret`.

Why per guideline group and not per sample: on the 3,202 people of the 1000 Genomes cohort 3,133 whole-sample
result keys are distinct (20 genes vary independently), but each drug's guideline group reads one or two genes
and the whole cohort has about 4,400 distinct (group, result) pairs for 483,502 evaluations (a 99% hit rate).

What a record depends on, and so what the key holds (everything else the engine reads is per call):
- the rule set (this memo lives in `RuleSet.cache`, so a new or re-loaded rule set starts empty; a guard on its
  version, content hash and rule list drops the memo if that object's rules are swapped) and the drug table
  (one memo per table object, which it holds so its id is never reused);
- the group (source, guideline, drug, population) and the drug record the table gives for it;
- mode and screen_alternatives (source and the drug list only choose which groups run: the plan);
- per gene the group keys on, and per gene any alternative it may offer keys on (what `alternatives.screen`
  reads): every GeneCall field the engine reads (`result_content`).
Per sample, only `patient` and `calls.sample` are copied into a record: they are stamped on a fresh copy per call.
Templates are never handed out: each call gets new records with new lists and dicts (callers mutate them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable

from ehrgen.rules.model import Recommendation
from ehrgen.rules.ruleset import RuleSet

_KEY = "interpret.memo"
MAX_ENTRIES = 50_000  # records + result ids per (rule set, table); a new memo replaces a full one
MAX_TABLES = 4  # memos per rule set (one per drug table object)
_ABSENT = object()


def result_content(call: Any) -> tuple | None:
    """Every field of one GeneCall the engine and the alternatives screen read (hashable).

    gene_state: status, lookup (keys and values), phenotype, activity_score, the number of missing positions, and
    per candidate diplotype the alleles, phenotype and allele activity values; _recommendation: phenotype,
    activity score, diplotype text (the alleles) and status. Not read: positions, warnings, phasing, source, qc.
    """
    if call is None:
        return None
    lookup = call.lookup
    return (call.status, call.phenotype, call.activity_score,
            tuple((k, v if type(v) is str else (type(v).__name__, v)) for k, v in lookup.items()) if lookup else (),
            tuple((d.allele1, d.allele2, d.phenotype, tuple(d.activity_values)) for d in call.diplotypes),
            len(call.missing_positions))


@dataclass
class _Step:
    """One record-producing item of a plan, in the order the plain engine produces them."""

    slot: int  # identifies (kind, group or guideline, drug record) within a memo
    make: Callable[[Any, str], Recommendation]  # (calls, patient) -> the engine's record
    pick: Callable[[list[int]], Any]  # the result ids of the genes this record can depend on


@dataclass
class _Memo:
    guard: tuple
    table: Any  # held: keeps id(table) unique while this memo lives
    genes: list[str]
    records: dict[tuple, tuple | None] = field(default_factory=dict)  # (slot, mode, screen, ids) -> entry
    result_ids: dict[tuple, int] = field(default_factory=dict)  # (gene, result_content) -> small int
    plans: dict[tuple, list[_Step]] = field(default_factory=dict)
    slots: dict[tuple, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def size(self) -> int:
        return len(self.records) + len(self.result_ids) + len(self.plans)


def _guard(rs: RuleSet) -> tuple:
    return (rs.version, rs.content_sha256, id(rs.rules), len(rs.rules))


def _memo(rs: RuleSet, tbl: Any) -> _Memo:
    memos: dict[int, _Memo] = rs.cache.setdefault(_KEY, {})
    m = memos.get(id(tbl))
    if m is not None and m.table is tbl and m.guard == _guard(rs) and m.size() < MAX_ENTRIES:
        return m
    # new or full: replace the whole memo (never clear it in place: an outer call of this process, e.g. the one
    # whose alternatives screen asked this nested one, still holds result ids of the old one)
    if len(memos) >= MAX_TABLES:
        memos.clear()
    m = memos[id(tbl)] = _Memo(_guard(rs), tbl, sorted({g for r in rs.rules for g in r.lookup}))
    return m


def _result_ids(m: _Memo, calls: Any) -> list[int]:
    ids = m.result_ids
    out = []
    get = calls.genes.get
    for g in m.genes:
        k = (g, result_content(get(g)))
        i = ids.get(k)
        if i is None:
            i = ids[k] = len(ids)
        out.append(i)
    return out


def _picker(m: _Memo, genes: set[str]) -> Callable[[list[int]], Any]:
    idx = [m.genes.index(g) for g in sorted(genes) if g in m.genes]
    if not idx:
        return lambda ids: ()
    return itemgetter(*idx)


def _plan(m: _Memo, rs: RuleSet, drugs: list[str] | None, source: str) -> list[_Step]:
    from ehrgen.rules import engine
    from ehrgen.rules.alternatives import _genes_for

    key = (None if drugs is None else tuple(drugs), source)
    plan = m.plans.get(key)
    if plan is not None:
        return plan
    tbl = m.table
    sources = {"cpic": ["CPIC"], "dpwg": ["DPWG"], "both": ["CPIC", "DPWG"]}[source]
    plan = []

    def slot(*ident: Any) -> int:
        return m.slots.setdefault(ident, len(m.slots))

    for item in engine._wanted(rs, tbl, drugs):
        name = item.name if isinstance(item, engine.Drug) else item
        drug = item if isinstance(item, engine.Drug) else tbl.drugs.get(name)
        groups = engine._groups(rs, name, sources)
        missing_guidelines = [g for g in engine.not_in_ruleset() if g.drug == name and g.source in sources]
        for g in missing_guidelines:
            plan.append(_Step(slot("not_in_ruleset", g, drug),
                              lambda calls, patient, g=g, drug=drug: engine._not_in_ruleset(calls, patient, g, drug, rs),
                              _picker(m, set())))
        if not groups:
            if drugs is not None and not missing_guidelines:
                plan.append(_Step(slot("no_guideline", name, drug, sources[0]),
                                  lambda calls, patient, name=name, drug=drug: engine._no_guideline(
                                      calls, patient, name, drug, sources[0], rs),
                                  _picker(m, set())))
            continue
        for group in groups:
            alt_genes = {g for r in group.rules for alt in r.alternatives for g in _genes_for(alt, rs)}
            plan.append(_Step(slot("group", id(group), drug), _group_maker(group, drug, rs),
                              _picker(m, set(group.genes) | alt_genes)))
    m.plans[key] = plan
    return plan


def _group_maker(group: Any, drug: Any, rs: RuleSet) -> Callable[[Any, str], Recommendation]:
    from ehrgen.rules import engine

    def make(calls: Any, patient: str) -> Recommendation:
        states = {g: engine.gene_state(calls.genes.get(g), g, group.source) for g in group.genes}
        return engine._recommendation(calls, patient, group, engine.evaluate_group(group, states), drug, rs)
    return make


def _finish(rec: Recommendation, calls: Any, rs: RuleSet, mode: str, screen_alternatives: bool) -> tuple | None:
    """What the plain engine does to each record after building it (mode, then the alternatives screen)."""
    from ehrgen.rules import engine

    if mode == "reactive":
        if not rec.actionable:
            return None
    elif rec.action == "test_recommended" and not rec.rule_id:
        rec.actionable = False
    if screen_alternatives:
        if rec.alternative_options or rec.alternatives:
            from ehrgen.rules.alternatives import screen

            rec = screen(rec, calls, rs)
        else:
            rec.alternatives_screened = True
    order = (engine.ALERT_ORDER.get(rec.alert, 9), rec.drug, rec.source, rec.guideline_id, rec.population or "")
    template = dict(rec.__dict__)
    template["patient"] = template["sample"] = ""  # stamped per call
    return order, template


_new = object.__new__


def _stamp(t: dict[str, Any], patient: str, sample: str) -> Recommendation:
    """A fresh record from a template: its own lists and dicts (a caller may change them in place)."""
    d = t.copy()
    d["patient"] = patient
    d["sample"] = sample
    d["genes"] = d["genes"][:]
    d["phenotypes"] = d["phenotypes"].copy()
    alts = d["alternatives"]
    d["alternatives"] = alts[:] if alts else []
    opts = d["alternative_options"]
    d["alternative_options"] = [o.copy() for o in opts] if opts else []
    r = _new(Recommendation)
    r.__dict__ = d
    return r


_ORDER = itemgetter(0)


def interpret(calls: Any, patient: str, drugs: list[str] | None, source: str, mode: str, rs: RuleSet,
              tbl: Any, screen_alternatives: bool) -> list[Recommendation]:
    """Same records, in the same order, as the plain engine.interpret (rule set and table already resolved)."""
    m = _memo(rs, tbl)
    plan = _plan(m, rs, drugs, source)
    ids = _result_ids(m, calls)
    records = m.records
    found = []
    for step in plan:
        k = (step.slot, mode, screen_alternatives, step.pick(ids))
        e = records.get(k, _ABSENT)
        if e is _ABSENT:
            m.misses += 1
            e = records[k] = _finish(step.make(calls, patient), calls, rs, mode, screen_alternatives)
        else:
            m.hits += 1
        if e is not None:
            found.append(e)
    found.sort(key=_ORDER)  # stable, on the plain engine's sort key: ties keep the plan's order, as there
    sample = calls.sample
    return [_stamp(t, patient, sample) for _, t in found]


def stats(rs: RuleSet) -> dict[str, int]:
    """Hits, misses and sizes of the memos of this rule set (for bench/ and tests)."""
    out = {"hits": 0, "misses": 0, "records": 0, "result_ids": 0}
    for m in rs.cache.get(_KEY, {}).values():
        out["hits"] += m.hits
        out["misses"] += m.misses
        out["records"] += len(m.records)
        out["result_ids"] += len(m.result_ids)
    return out
