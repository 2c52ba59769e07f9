"""The calling stage's files: `<sample>.calls.json` (everything) and `calls.tsv` (one row per sample and gene)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

from ehrgen import fastpath
from ehrgen.pgx.model import SampleCalls

try:  # orjson ships with prefect (a pinned dependency); json gives the same layout without it
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

CALLS_TSV_COLUMNS = ("sample", "gene", "diplotypes", "phenotype", "activity_score", "status")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(sample: str) -> str:
    """A file-name-safe version of a sample id (ids are kept exactly inside the files)."""
    return _SAFE.sub("_", sample) or "_"


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file in the same folder, then rename: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_text(doc: dict) -> str:
    """The text of a stage file (calls.json, recommendations): orjson (installed with prefect) when present,
    else json with the same layout."""
    if _orjson is not None:
        return _orjson.dumps(doc, option=_orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_sample_calls(calls: SampleCalls, out_dir: Path, memo: dict | None = None) -> Path:
    """`<sample>.calls.json`. `memo` (one dict for a whole batch): call_batch shares one GeneCall object between
    samples with the same genotype pattern, so each distinct object is converted, and its JSON text laid out, once;
    the sample's file is then put together from those texts (the same bytes: tests/pgx/test_calls_output.py)."""
    path = out_dir / f"{safe_name(calls.sample)}.calls.json"
    if memo is None or not fastpath.enabled():
        atomic_write_text(path, json_text(calls.to_dict()))
        return path
    genes = {}
    for g, gc in calls.genes.items():
        d = memo.get(id(gc))
        if d is None:
            d = memo[id(gc)] = gc.to_dict()
        genes[g] = d
    doc = calls.to_dict(gene_dicts=genes)
    if _orjson is None or not genes:
        atomic_write_text(path, json_text(doc))
        return path
    texts = []
    for g, gc in calls.genes.items():
        t = memo.get(("text", id(gc)))
        if t is None:  # the gene object as it sits two levels deep in the indented document
            t = memo[("text", id(gc))] = _orjson.dumps(genes[g], option=_orjson.OPT_INDENT_2).decode().replace(
                "\n", "\n    ")
        texts.append(f"    {_orjson.dumps(g).decode()}: {t}")
    doc["genes"] = _GENES_SLOT
    head = json_text(doc)
    slot = _orjson.dumps(_GENES_SLOT).decode()
    atomic_write_text(path, head.replace(slot, "{\n" + ",\n".join(texts) + "\n  }", 1))
    return path


_GENES_SLOT = "\x00ehrgen genes\x00"  # cannot occur in a calls document: NUL is no text of it


def read_json(path: Path):
    """A stage file's document (orjson when present: the stage files are strict JSON, written by json_text).
    Raises OSError, or ValueError for text that is not JSON."""
    data = Path(path).read_bytes()
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data.decode("utf-8"))


def read_sample_calls(path: Path) -> SampleCalls:
    try:
        return SampleCalls.from_dict(read_json(path))
    except (ValueError, KeyError, TypeError) as exc:
        from ehrgen.errors import InputError
        raise InputError(str(path), f"not a valid ehrgen calls file ({exc})") from None


def tsv_rows(calls: SampleCalls) -> Iterable[dict[str, str]]:
    for gene in sorted(calls.genes):
        c = calls.genes[gene]
        yield {
            "sample": calls.sample, "gene": gene, "diplotypes": c.diplotype_text,
            "phenotype": c.phenotype or "", "activity_score": c.activity_score or "", "status": c.status,
        }


CALLS_TSV_HEADER = "\t".join(CALLS_TSV_COLUMNS) + "\n"


def calls_tsv_rows(calls: SampleCalls) -> str:
    """calls.tsv's rows for one sample, without the header (kept in the pipeline's per-sample digests)."""
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=CALLS_TSV_COLUMNS, delimiter="\t", lineterminator="\n").writerows(tsv_rows(calls))
    return buf.getvalue()


def write_calls_tsv(all_calls: Iterable[SampleCalls], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tsv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        fh.write(CALLS_TSV_HEADER)
        for calls in all_calls:
            fh.write(calls_tsv_rows(calls))
    os.replace(tmp, path)
