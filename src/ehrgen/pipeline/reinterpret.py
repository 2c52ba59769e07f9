"""Re-interpretation support: has the rule set changed since a run's recommendations were made, and how?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ehrgen.pipeline.context import load_ruleset
from ehrgen.pipeline.run import RULES_SNAPSHOT, RunConfig
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
