"""Re-interpretation support: which runs are stored, has the rule set changed since a run's recommendations
were made, and how?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ehrgen.pipeline.context import load_ruleset
from ehrgen.pipeline.run import RULES_SNAPSHOT, RunConfig, read_run_meta
from ehrgen.rules.ruleset import RuleChange, affected_drugs, diff, load


@dataclass
class RulesDiff:
    old_version: str | None
    new_version: str
    changes: list[RuleChange] = field(default_factory=list)
    drugs: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        # no snapshot (first run in this work dir) counts as changed: interpret everything once
        return self.old_version is None or bool(self.changes)

    def markdown(self) -> str:
        if self.old_version is None:
            return f"No earlier rules snapshot: everything interpreted with rules {self.new_version}."
        if not self.changes:
            return f"Rules unchanged ({self.new_version})."
        kinds: dict[str, int] = {}
        for c in self.changes:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        lines = [f"Rules {self.old_version} -> {self.new_version}: "
                 + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ".",
                 "", "Drugs affected: " + (", ".join(self.drugs[:50]) or "none")
                 + (f" (+{len(self.drugs) - 50} more)" if len(self.drugs) > 50 else "")]
        return "\n".join(lines)


def stored_runs(work_dir: str | Path) -> list[str]:
    """Every run kept in `work_dir`: a folder with the run.json that finish_run writes and stored calls. The
    drop-folder sweeps (`dropfolder`), `ehrgen run` / the on-demand deployment (one folder per input folder or
    --run-name) and anything else that ran with this work folder; the outbox, dead letters and Prefect's home
    have no run.json."""
    root = Path(work_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and (p / "run.json").is_file() and (p / "calls").is_dir())


def run_config(work_dir: str | Path, run_name: str, rules_dir: str | None = None, outbox: str | None = None,
               fhir_url: str | None = None, mllp: str | None = None, settings=None) -> RunConfig:
    """The configuration a stored run was made with (its run.json: clinical data, rules folder, source), with
    today's delivery targets; `rules_dir` overrides the run's own rules folder."""
    from ehrgen.settings import Settings

    meta = read_run_meta(RunConfig(work_dir=str(work_dir), run_name=run_name))
    return RunConfig(work_dir=str(work_dir), run_name=run_name, clinical=meta.get("clinical"),
                     clinical_merge=bool(meta.get("clinical_merge")), rules_dir=rules_dir or meta.get("rules_dir"),
                     source=meta.get("source", "both"), outbox=outbox, fhir_url=fhir_url, mllp=mllp,
                     settings=settings if settings is not None else Settings())


def rules_diff(cfg: RunConfig) -> RulesDiff:
    """Compare the rules in force (cfg.rules_dir or the project's rules/) with the run's rules snapshot."""
    new = load_ruleset(cfg.rules_dir)
    snap = cfg.dirs.root / RULES_SNAPSHOT
    if not snap.is_file():
        return RulesDiff(None, new.version)
    old = load(snap)
    changes = diff(old, new)
    return RulesDiff(old.version, new.version, changes, sorted(affected_drugs(changes)))


def last_sent_sha(ledger_path: Path, patient: str, kind: str, target: str) -> str | None:
    """What the ledger says was last sent to `target` for this patient (None: nothing yet)."""
    from ehrgen.store.ledger import Ledger

    if not ledger_path.is_file():
        return None
    with Ledger(ledger_path) as led:
        rec = led.last_sent(patient, kind, target)
    return rec.sha256 if rec else None


def outdated_in_ehr(cfg: RunConfig, outcomes) -> list[str]:
    """Samples whose freshly exported bundle differs from what the ledger says each target last received
    (these are the ones delivery will send; the rest the targets already hold)."""
    from ehrgen.deliver.model import sha256_hex
    from ehrgen.pipeline.stages import export_files

    out = []
    for o in outcomes:
        if o.status != "exported":
            continue
        files = export_files(o.patient, cfg.dirs)
        for t in cfg.targets():
            kind = "fhir-bundle" if "fhir-bundle" in t.kinds else "oru"
            f = files[kind]
            if f.is_file() and last_sent_sha(cfg.ledger_path, o.patient, kind, t.key) != sha256_hex(f.read_bytes()):
                out.append(o.sample)
                break
    return out
