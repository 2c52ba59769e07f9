"""Named-allele matching for one gene and one sample's genotype pattern (pure functions, no I/O).

Semantics follow PharmCAT's documented Named Allele Matcher:
- a position missing from the data is dropped from consideration, never assumed reference; scores count the
  defined positions still present (an IUPAC ambiguity cell only where the sample's base is not the reference);
- an allele whose defining positions are all missing is left out of scoring, as PharmCAT leaves it out, and
  then listed back: every diplotype that differs from the call by such an allele is a candidate too (ehrgen
  says less than PharmCAT there, never more);
- unphased data: every pair of named alleles consistent with the genotypes is a candidate; all top-scoring
  pairs are returned (ties are reported, not broken);
- phased data: each strand is matched on its own;
- DPYD and RYR1: per-strand variant lists and the lowest-function rule (see `_call_variant_list`);
- no consistent pair: "not_called".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ehrgen.pgx.genotype_codes import ABSENT, MISSING, PARTIAL, UNDOC
from ehrgen.pgx.definitions import GeneDefinition
from ehrgen.pgx.model import INDETERMINATE, Diplotype, GeneCall, PositionGenotype


@dataclass(frozen=True)
class Pattern:
    """One sample's genotype codes at a gene's positions."""

    a1: np.ndarray
    a2: np.ndarray
    phased: np.ndarray
    ps: np.ndarray


def natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def order_pair(gd: GeneDefinition, a: str, b: str) -> tuple[str, str]:
    """Lower-numbered first for star alleles; the reference allele first for named variants."""
    ref = gd.reference_allele.name if gd.alleles else None
    if not a.startswith("*") or not b.startswith("*"):
        if b == ref and a != ref:
            return b, a
        if a == ref:
            return a, b
    return (a, b) if natural_key(a) <= natural_key(b) else (b, a)


def _bases(gd: GeneDefinition, i: int, code: int) -> str:
    if code == MISSING:
        return "."
    if code == UNDOC:
        return "?"
    if code == PARTIAL:
        return "."
    return gd.positions[i].alleles[code]


def describe_positions(gd: GeneDefinition, pat: Pattern, file_missing: dict[int, str]) -> list[PositionGenotype]:
    out = []
    a1s, a2s, phs = pat.a1.tolist(), pat.a2.tolist(), pat.phased.tolist()
    for i, pdef in enumerate(gd.positions):
        c1, c2 = a1s[i], a2s[i]
        missing = c1 == MISSING or c2 == MISSING
        if missing:
            alleles = []
        else:
            al = pdef.alleles
            alleles = [al[c1] if c1 >= 0 else _bases(gd, i, c1)]
            if c2 != ABSENT:
                alleles.append(al[c2] if c2 >= 0 else _bases(gd, i, c2))
        reason = file_missing.get(i) or ("no-call" if missing else None)
        out.append(PositionGenotype(pdef.pos, pdef.rsid, alleles, phs[i], reason))
    return out


def _function_of(gd: GeneDefinition, name: str) -> tuple[str | None, str | None]:
    fn = gd.functions.get(name, {})
    return fn.get("function"), fn.get("activity_value")


def _make_diplotype(gd: GeneDefinition, names: list[str], score: int, table: dict | None = None) -> Diplotype:
    if len(names) == 2:
        a, b = order_pair(gd, names[0], names[1])
        names = [a, b]
    if table is None:
        pheno, score_as = gd.phenotype_of(names)
    else:
        hit = table.get("/".join(sorted(names)))
        pheno, score_as = (hit[0], hit[1]) if hit else (None, None)
    fns = [_function_of(gd, n) for n in names]
    return Diplotype(
        allele1=names[0], allele2=names[1] if len(names) == 2 else None, score=score,
        functions=[f for f, _ in fns], activity_values=[av for _, av in fns],
        phenotype=pheno, activity_score=score_as,
    )


def summarise(gene: str, diplotypes: list[Diplotype], warnings: list[str]) -> tuple[str, str | None, str | None]:
    """Status, consensus phenotype ("Indeterminate" when candidates disagree) and activity score."""
    if not diplotypes:
        return "not_called", None, None
    phenos = {d.phenotype for d in diplotypes}
    scores = {d.activity_score for d in diplotypes}
    status = "called" if len(diplotypes) == 1 else "ambiguous"
    if len(phenos) == 1:
        phenotype = next(iter(phenos))
    else:
        phenotype = INDETERMINATE
        warnings.append(
            f"{gene}: tied diplotypes give different phenotypes ("
            + "; ".join(f"{d.name}: {d.phenotype or 'no phenotype'}" for d in diplotypes)
            + "); phased data or a targeted test would resolve it")
    activity = next(iter(scores)) if len(scores) == 1 else None
    if phenotype is None and len(phenos) == 1:
        warnings.append(f"{gene}: no phenotype is defined for {diplotypes[0].name} in the CPIC tables")
    return status, phenotype, activity


def lookup_keys(call: GeneCall) -> dict[str, str]:
    """What rules may key on: only determinate values are given."""
    keys: dict[str, str] = {}
    if call.phenotype and call.phenotype != INDETERMINATE:
        keys["phenotype"] = call.phenotype
    if call.activity_score:
        keys["activity_score"] = call.activity_score
    if len(call.diplotypes) == 1:
        keys["diplotype"] = call.diplotypes[0].name
    return keys


def call_gene(gd: GeneDefinition, pat: Pattern, file_missing: dict[int, str] | None = None,
              extra_warnings: list[str] | None = None) -> GeneCall:
    file_missing = file_missing or {}
    warnings: list[str] = list(extra_warnings or [])
    positions = describe_positions(gd, pat, file_missing)
    a1, a2 = pat.a1.astype(np.int16), pat.a2.astype(np.int16)
    missing = (a1 == MISSING) | (a2 == MISSING)
    missing_positions = [gd.positions[i].pos for i in np.nonzero(missing)[0]]
    base = dict(gene=gd.gene, positions=positions, missing_positions=missing_positions)
    if missing.all():
        return GeneCall(status="no_data", warnings=warnings + [f"{gd.gene}: no data at any defining position"],
                        **base)
    if missing_positions:
        warnings.append(f"{gd.gene}: {len(missing_positions)} of {len(gd.positions)} defining positions missing; "
                        "they were not assumed reference")
    req_missing = [p for p in gd.required_positions if p in set(missing_positions)]
    if req_missing:
        warnings.append(f"{gd.gene}: required position(s) {', '.join(map(str, req_missing))} missing")
        return GeneCall(status="not_called", warnings=warnings, **base)

    undoc = (a1 == UNDOC) | (a2 == UNDOC)
    if undoc.any():
        where = ", ".join(str(gd.positions[i].pos) for i in np.nonzero(undoc)[0])
        if gd.undocumented_as_reference:
            warnings.append(f"{gd.gene}: allele(s) not in the definitions at {where} treated as reference "
                            "(PharmCAT rule for this gene)")
            a1 = np.where(a1 == UNDOC, 0, a1)
            a2 = np.where(a2 == UNDOC, 0, a2)
        else:
            warnings.append(f"{gd.gene}: allele(s) not in the definitions at {where}: cannot be called")
            call = GeneCall(status="not_called", warnings=warnings, **base)
            if gd.special.get("fallback_rsid"):
                present = np.nonzero(~missing)[0]
                _apply_fallback(gd, call, _fallback(gd, present, a1[present], a2[present], warnings))
            return call

    present = np.nonzero(~missing)[0]
    c1, c2 = a1[present], a2[present]
    haploid_mask = c2 == ABSENT
    if haploid_mask.any() and not haploid_mask.all():
        warnings.append(f"{gd.gene}: mixed haploid and diploid genotypes: cannot be called")
        return GeneCall(status="not_called", warnings=warnings, **base)
    haploid = bool(haploid_mask.all())
    if haploid and not gd.haploid_capable:
        warnings.append(f"{gd.gene}: haploid genotypes on an autosomal gene: cannot be called")
        return GeneCall(status="not_called", warnings=warnings, **base)
    het = (c1 != c2) & ~haploid_mask
    ph = pat.phased[present]
    ps = pat.ps[present]
    phased = bool(het.sum() >= 2 and ph[het].all() and len(set(ps[het].tolist())) == 1)

    if gd.call_mode == "variant_list":
        diplotypes, mode_warnings, phased_out = _call_variant_list(gd, present, c1, c2, haploid, het, phased)
        warnings += mode_warnings
    else:
        diplotypes = _call_star(gd, present, c1, c2, haploid, phased, warnings)
        phased_out = phased
    fallback = None
    if not diplotypes and gd.special.get("fallback_rsid"):
        fallback = _fallback(gd, present, c1, c2, warnings)
    status, phenotype, activity = summarise(gd.gene, diplotypes, warnings)
    call = GeneCall(status=status, diplotypes=diplotypes, phenotype=phenotype, activity_score=activity,
                    phased=phased_out, warnings=warnings, **base)
    call.lookup = lookup_keys(call)
    _apply_fallback(gd, call, fallback)
    return call


def _apply_fallback(gd: GeneDefinition, call: GeneCall, fallback: str | None) -> None:
    if fallback:
        call.phenotype, call.lookup = fallback, {"phenotype": fallback, "fallback": gd.special["fallback_rsid"]}


def _call_star(gd: GeneDefinition, present: np.ndarray, c1: np.ndarray, c2: np.ndarray, haploid: bool,
               phased: bool, warnings: list[str] | None = None) -> list[Diplotype]:
    masks = gd.masks[:, present]
    defined = gd.defined[:, present]
    # PharmCAT scores only alleles with at least one defining position read (score > 0); an allele whose
    # defining positions are all missing can neither be confirmed nor excluded: it is added back afterwards
    # (_with_unassessable), so ehrgen lists more candidates than PharmCAT there, never fewer
    amb = gd.ambiguous[:, present]
    structural = np.array([a.structural_variant for a in gd.alleles])
    scores = defined.sum(axis=1) + gd.score_bonus  # plus ambiguity cells, scored per strand below
    reference = np.array([a.reference for a in gd.alleles])
    readable = (defined | amb).any(axis=1) | (gd.score_bonus > 0)
    eligible = ~structural & (readable | reference)
    unassessable = np.nonzero(~structural & ~reference & ~readable & (gd.defined | gd.ambiguous).any(axis=1))[0]
    nr1, nr2 = c1 > 0, c2 > 0  # non-reference base per strand (ambiguity cells score only there)
    b1 = np.where(c1 >= 0, np.left_shift(1, np.clip(c1, 0, 15)), 0).astype(np.uint16)
    b2 = np.where(c2 >= 0, np.left_shift(1, np.clip(c2, 0, 15)), 0).astype(np.uint16)
    ok1 = (masks & b1) != 0
    ok2 = (masks & b2) != 0
    names = [a.display_name for a in gd.alleles]
    pairs: list[tuple[int, int]] = []
    if haploid:
        cand = np.nonzero(eligible & ok1.all(axis=1))[0]
        if len(cand) == 0:
            return []
        scores = scores + (amb & nr1).sum(axis=1)
        best = scores[cand].max()
        seen_h: set[str] = set()
        out_h = []
        for k in cand:
            if scores[k] == best and names[k] not in seen_h:
                seen_h.add(names[k])
                out_h.append(_make_diplotype(gd, [names[k]], int(scores[k])))
        extra = [u for u in unassessable if ok1[u].all() and names[u] not in seen_h]
        return _with_unassessable(gd, out_h, [[names[u]] for u in extra], warnings)
    if phased:
        s1 = np.nonzero(eligible & ok1.all(axis=1))[0]
        s2 = np.nonzero(eligible & ok2.all(axis=1))[0]
        pairs = [(i, j) for i in s1 for j in s2]
        sc1 = scores + (amb & nr1).sum(axis=1)
        sc2 = scores + (amb & nr2).sum(axis=1)
        totals = [int(sc1[i] + sc2[j]) for i, j in pairs]
    else:
        cand = np.nonzero(eligible & (ok1 | ok2).all(axis=1))[0]
        if len(cand) == 0:
            return []
        o1, o2 = ok1[cand], ok2[cand]
        straight = o1[:, None, :] & o2[None, :, :]  # i takes strand 1's base, j strand 2's
        crossed = o2[:, None, :] & o1[None, :, :]
        valid = (straight | crossed).all(axis=2)
        ii, jj = np.nonzero(np.triu(valid))
        pairs = [(int(cand[i]), int(cand[j])) for i, j in zip(ii, jj)]
        totals = []
        if len(pairs):
            # unphased: each position's bases can go either way, so an ambiguity cell scores where some valid
            # arrangement gives its allele the non-reference base (best arrangement per position)
            a = amb[cand]
            ai, aj = a[ii], a[jj]
            v_straight = (ai & nr1).astype(np.int16) + (aj & nr2)
            v_crossed = (ai & nr2).astype(np.int16) + (aj & nr1)
            st, cr = straight[ii, jj], crossed[ii, jj]
            amb_score = np.maximum(np.where(st, v_straight, -1), np.where(cr, v_crossed, -1)).sum(axis=1)
            totals = [int(scores[i] + scores[j] + e) for (i, j), e in zip(pairs, amb_score.tolist())]
    if not pairs:
        return []
    picked = None
    if not phased and gd.unphased_priorities:
        picked = _unphased_priority(gd, pairs, totals, names, warnings)
    out: list[Diplotype] = [picked] if picked is not None else _top_pairs(gd, pairs, totals, names)
    # an unassessable allele u can replace either allele of a call wherever the data allow the pair (pairs of
    # two unassessable alleles are not listed: one is enough to make the result indeterminate)
    by_name: dict[str, list[int]] = {}
    for k, n in enumerate(names):
        if eligible[k]:
            by_name.setdefault(n, []).append(k)
    extra: list[list[str]] = []
    for d in out:
        for keep in {d.allele1, d.allele2}:
            for u in unassessable:
                for i in by_name.get(keep or "", []):
                    if phased:
                        fits = (ok1[i].all() and ok2[u].all()) or (ok1[u].all() and ok2[i].all())
                    else:
                        fits = bool(((ok1[i] & ok2[u]) | (ok2[i] & ok1[u])).all())
                    if fits:
                        extra.append(list(order_pair(gd, keep, names[u])))
                        break
    return _with_unassessable(gd, out, extra, warnings)


def unassessable_alleles(gd: GeneDefinition, missing_positions: list[int]) -> set[str]:
    """Names of the non-reference alleles whose every defining position is missing (never assumed absent)."""
    gone = {k for k, p in enumerate(gd.positions) if p.pos in set(missing_positions)}
    return {a.display_name for a in gd.alleles
            if not a.reference and not a.structural_variant and (a.defined | a.ambiguous).any()
            and set(np.nonzero(a.defined | a.ambiguous)[0].tolist()) <= gone and not a.ignored_defined}


def _top_pairs(gd: GeneDefinition, pairs: list[tuple[int, int]], totals: list[int], names: list[str]) -> list[Diplotype]:
    best = max(totals)
    seen: set[tuple[str, str]] = set()
    out: list[Diplotype] = []
    for (i, j), t in zip(pairs, totals):
        if t != best:
            continue
        key = order_pair(gd, names[i], names[j])
        if key in seen:
            continue
        seen.add(key)
        out.append(_make_diplotype(gd, list(key), t))
    out.sort(key=lambda d: (natural_key(d.allele1), natural_key(d.allele2 or "")))
    return out


def _with_unassessable(gd: GeneDefinition, out: list[Diplotype], extra: list[list[str]],
                       warnings: list[str] | None) -> list[Diplotype]:
    """The call plus the diplotypes that differ from it only by an allele whose every defining position is
    missing here (ehrgen says less than PharmCAT there: such an allele is never assumed absent)."""
    have = {tuple(sorted([d.allele1, d.allele2 or ""])) for d in out}
    added = []
    for names in extra:
        key = tuple(sorted([names[0], names[1] if len(names) > 1 else ""]))
        if key in have:
            continue
        have.add(key)
        added.append(_make_diplotype(gd, names, 0))
    if not added:
        return out
    alleles = sorted({n for d in added for n in (d.allele1, d.allele2) if n} - {n for d in out for n in (d.allele1, d.allele2) if n},
                     key=natural_key)
    if warnings is not None:
        warnings.append(f"{gd.gene}: every defining position of {', '.join(alleles)} is missing: "
                        "such alleles can be neither confirmed nor excluded, so the diplotypes with them are "
                        "listed too (PharmCAT leaves them out)")
    res = out + added
    res.sort(key=lambda d: (natural_key(d.allele1), natural_key(d.allele2 or "")))
    return res




def _unphased_priority(gd: GeneDefinition, pairs: list[tuple[int, int]], totals: list[int], names: list[str],
                       warnings: list[str] | None) -> Diplotype | None:
    """NAT2 (PharmCAT's unphased priorities): when every diplotype of a listed group is consistent with the
    data (whatever its score), the group's population-frequency default is the call, with a note."""
    consistent: dict[frozenset, int] = {}
    for (i, j), t in zip(pairs, totals):
        key = frozenset((names[i], names[j])) if names[i] != names[j] else frozenset((names[i],))
        consistent[key] = max(t, consistent.get(key, 0))
    for prio in gd.unphased_priorities:
        group = [frozenset(d.split("/")) for d in prio["candidates"]]
        if all(g in consistent for g in group):
            pick = prio["pick"].split("/")
            key = frozenset(pick)
            if warnings is not None:
                warnings.append(f"{gd.gene}: unphased data consistent with {', '.join(prio['candidates'])}; "
                                f"{prio['pick']} is reported, the most frequent of these in PharmCAT's "
                                "population data (PharmCAT's NAT2 priority rule); phased data would confirm it")
            return _make_diplotype(gd, list(order_pair(gd, pick[0], pick[-1])), consistent[key])
    return None


def _variant_alleles(gd: GeneDefinition, present: np.ndarray, c1: np.ndarray, c2: np.ndarray,
                     warnings: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Non-reference named alleles with their (present) defining positions: (name, local idx, masks)."""
    pos_index = {int(p): k for k, p in enumerate(present)}
    rsid_local = {gd.positions[int(p)].rsid: k for k, p in enumerate(present)}
    prefer = gd.special.get("prefer_position")
    out = []
    # only alleles whose every present defining position carries a non-reference allele can be on a strand
    nonref = (c1 > 0) | (c2 > 0)
    possible = ~(gd.defined[:, present] & ~nonref).any(axis=1) & gd.defined[:, present].any(axis=1)
    for k_allele, a in enumerate(gd.alleles):
        if a.reference or a.structural_variant:
            continue
        if not possible[k_allele] and not (prefer and prefer["allele_contains"] in a.name):
            continue
        idx = [pos_index[int(p)] for p in np.nonzero(a.defined)[0] if int(p) in pos_index]
        all_defined = np.nonzero(a.defined)[0]
        if prefer and prefer["allele_contains"] in a.name:
            prim, sec = rsid_local.get(prefer["primary_rsid"]), rsid_local.get(prefer["secondary_rsid"])
            if prim is not None:
                if sec is not None:
                    # both SNPs read: HapB3 needs both (the intronic SNP alone is its own named allele,
                    # c.1129-5923C>G, which the definitions match on their own), as PharmCAT calls it
                    carriers_p = _strand_has(a.masks[present[prim]], c1[prim], c2[prim])
                    carriers_s = _strand_has(a.masks[present[sec]], c1[sec], c2[sec])
                    if sum(carriers_p) != sum(carriers_s):
                        warnings.append(f"{gd.gene}: {a.name}: the intronic ({prefer['primary_rsid']}) and exonic "
                                        f"({prefer['secondary_rsid']}) SNPs disagree")
                    if not possible[k_allele]:
                        continue
                else:
                    warnings.append(f"{gd.gene}: {a.name}: exonic SNP {prefer['secondary_rsid']} missing; "
                                    f"called from {prefer['primary_rsid']}")
            elif sec is not None:
                warnings.append(f"{gd.gene}: {a.name}: intronic SNP {prefer['primary_rsid']} missing; called from "
                                f"the exonic SNP only: genotype {prefer['primary_rsid']} to confirm")
        elif len(idx) < len(all_defined):
            continue  # some defining positions missing: cannot be asserted present or absent
        if not idx:
            continue
        out.append((a.name, np.array(idx), a.masks))
    return out


def _strand_has(mask: int, x: int, y: int) -> tuple[bool, bool]:
    return (x >= 0 and bool(mask & (1 << x))), (y >= 0 and bool(mask & (1 << y)))


def _call_variant_list(gd: GeneDefinition, present, c1, c2, haploid, het, phased):
    """DPYD/RYR1: list variants per strand; phenotype from the lowest-function variant(s)."""
    warnings: list[str] = []
    ref = gd.reference_allele.name
    variants = _variant_alleles(gd, present, c1, c2, warnings)
    counts = gd.defined[:, present].sum(axis=1) + gd.score_bonus
    scores = {a.name: int(counts[k]) for k, a in enumerate(gd.alleles)}
    effectively_phased = phased or het.sum() <= 1
    strand1: list[str] = []
    strand2: list[str] = []
    detected: list[str] = []
    # a variant position is explained by one named allele per strand: alleles defined at more positions take
    # theirs first (HapB3 consumes its intronic SNP, which is otherwise the allele c.1129-5923C>G), as
    # PharmCAT combines alleles only over disjoint positions
    variants = sorted(variants, key=lambda v: -len(v[1]))
    left1, left2 = set(range(len(c1))), set(range(len(c2)))  # positions not yet explained, per strand
    avail: dict[tuple[int, int], int] = {}
    for k in range(len(c1)):
        for x in (int(c1[k]), int(c2[k])):
            if x > 0:
                avail[(k, x)] = avail.get((k, x), 0) + 1
    for name, idx, masks in variants:
        m = masks[present[idx]]
        ks = [int(k) for k in idx]
        if not effectively_phased:
            # unphased: count copies position by position (a homozygous variant is listed twice); each
            # observed copy at a position is used by one allele only
            copies = min(sum(n for (kk, code), n in avail.items() if kk == k and mm & (1 << code))
                         for k, mm in zip(ks, m))
            for k, mm in zip(ks, m):
                need = copies
                for (kk, code), n in list(avail.items()):
                    if kk == k and need and n and mm & (1 << code):
                        take = min(need, n)
                        avail[(kk, code)] -= take
                        need -= take
            detected += [name] * copies
            continue
        # the variant must differ from the reference at the position to count as carried
        on1 = all((c1[k] >= 0) and bool(mm & (1 << int(c1[k]))) and int(c1[k]) != 0 for k, mm in zip(idx, m))
        on2 = all((c2[k] >= 0) and bool(mm & (1 << int(c2[k]))) and int(c2[k]) != 0 for k, mm in zip(idx, m))
        if het.sum() == 1 and not phased and on1 and not on2 and all(c2[k] == 0 for k in ks):
            on1, on2 = False, True  # a single heterozygous variant (REF/ALT): put it on the second strand
        if on1 and all(k in left1 for k in ks):
            strand1.append(name)
            left1 -= set(ks)
        if on2 and all(k in left2 for k in ks):
            strand2.append(name)
            left2 -= set(ks)
    if haploid:
        names = [_strand_name(strand1, ref)]
        lookup = [_lowest(gd, strand1, ref)]
        d = _make_diplotype(gd, lookup, scores[lookup[0]])
        d.allele1 = names[0]
        return [d], warnings, True
    if effectively_phased:
        s1, s2 = _strand_name(strand1, ref), _strand_name(strand2, ref)
        lookup = [_lowest(gd, strand1, ref), _lowest(gd, strand2, ref)]
        d = _make_diplotype(gd, lookup, scores[lookup[0]] + scores[lookup[1]])
        a, b = order_pair(gd, s1, s2)
        if [a, b] != [d.allele1, d.allele2] and (strand1 and len(strand1) > 1 or len(strand2) > 1):
            warnings.append(f"{gd.gene}: phenotype from the lowest-function variant on each strand "
                            f"({d.allele1}/{d.allele2})")
        d.allele1, d.allele2 = a, b
        return [d], warnings, True
    ranked = sorted(detected, key=lambda n: _rank(gd, n))
    lookup = (ranked + [ref, ref])[:2]
    warnings.append(f"{gd.gene}: unphased data with several heterozygous variants ({', '.join(detected)}); "
                    f"the two lowest-function variants ({lookup[0]}, {lookup[1]}) are presumed on different "
                    "strands (CPIC rule)")
    return [_make_diplotype(gd, lookup, scores[lookup[0]] + scores[lookup[1]])], warnings, False


def _strand_name(names: list[str], ref: str) -> str:
    if not names:
        return ref
    if len(names) == 1:
        return names[0]
    return "[" + " + ".join(sorted(names, key=natural_key)) + "]"


def _rank(gd: GeneDefinition, name: str) -> tuple:
    fn, av = _function_of(gd, name)
    if gd.special.get("rank_by") == "function":
        return (gd.special.get("function_rank", {}).get(fn or "", 1.5), natural_key(name))
    try:
        return (float(av), natural_key(name))
    except (TypeError, ValueError):
        return (1.0, natural_key(name))


def _lowest(gd: GeneDefinition, names: list[str], ref: str) -> str:
    return min(names, key=lambda n: _rank(gd, n)) if names else ref


def _fallback(gd: GeneDefinition, present, c1, c2, warnings: list[str]) -> str | None:
    """SLCO1B1: with no star-allele call, the phenotype from the single key SNP's genotype."""
    rsid = gd.special["fallback_rsid"]
    local = {gd.positions[int(p)].rsid: k for k, p in enumerate(present)}
    k = local.get(rsid)
    if k is None:
        return None
    ref = gd.reference_allele
    gpos = int(present[k])
    single = [a for a in gd.alleles if not a.reference and a.defined.sum() == 1 and a.defined[gpos]]
    if not single:
        return None
    var = single[0]
    if c1[k] < 0 or c2[k] < 0:  # unknown or undocumented allele at the key SNP itself: no fallback
        return None
    copies = sum(1 for x in (c1[k], c2[k]) if x > 0 and (var.masks[gpos] & (1 << int(x))))
    names = [ref.name] * (2 - copies) + [var.name] * copies
    pheno, _ = gd.phenotype_of(names)
    if pheno:
        warnings.append(f"{gd.gene}: no star-allele call; phenotype assigned from {rsid} alone "
                        f"(as if {names[0]}/{names[1]})")
    return pheno
