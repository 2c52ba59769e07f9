"""Where a stage's inputs came from: `<out>/inputs.json`, so the next stage finds them without extra flags.

`ehrgen call VCF --out A; ehrgen interpret A --out B; ehrgen export B --out C; ehrgen deliver C ...` works as
written: export reads B/inputs.json for the calls folder (and the clinical data interpret used), deliver reads
C/inputs.json for the clinical data that holds consent. Explicit flags (--calls, --clinical) always win.
Paths are stored absolute; a recorded path that no longer exists is ignored (the flag is then needed).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ehrgen import __version__

FILE = "inputs.json"
SCHEMA = "ehrgen.stage-inputs/1"


def record(out_dir: Path, stage: str, **inputs: Path | str | None) -> Path:
    """Write out_dir/inputs.json naming the stage and each input (absolute paths; None = not given)."""
    from ehrgen.pgx.output import atomic_write_text

    doc = {
        "schema": SCHEMA, "stage": stage, "ehrgen": __version__,
        "written": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "inputs": {k: (str(Path(v).resolve()) if v is not None else None) for k, v in inputs.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def recorded(stage_dir: Path) -> dict[str, Path]:
    """The inputs the stage that wrote stage_dir recorded, existing paths only; {} when there is no record."""
    try:
        doc = json.loads((stage_dir / FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("inputs"), dict):
        return {}
    out = {}
    for key, value in doc["inputs"].items():
        if isinstance(value, str) and Path(value).exists():
            out[key] = Path(value)
    return out

