#!/usr/bin/env python3
"""Screenshots of the pages made for people, from a run folder, into docs/screenshots/ (headless Chromium).

    python tools/screenshots.py out/sample_data [--patient P001]

The cohort page's screenshot comes from a cohort run (`ehrgen run` on the 1000 Genomes batch, see bench/):
pass --cohort RUN_DIR to refresh it too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.report.browser import screenshot  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--patient", default="P001")
    ap.add_argument("--cohort", type=Path, default=None, help="a cohort run folder (cohort-summary.html)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    p, run = args.patient, args.run_dir
    pages = [(run / "export" / f"{p}.report.html", f"report-{p}.png", 1000, 1400),
             (run / "patient" / f"{p}.summary.html", f"patient-summary-{p}.png", 800, 1100),
             (run / "patient" / f"{p}.card.html", f"wallet-card-{p}.png", 340, 220)]
    if args.cohort:
        pages.append((args.cohort / "cohort-summary.html", "cohort-summary.png", 1100, 1400))
    for src, name, w, h in pages:
        png = src.with_suffix(".png")  # the run's own card PNG (3x, card-sized) when it wrote one
        if name.startswith("wallet-card") and png.is_file():
            shutil.copyfile(png, args.out / name)
        else:
            screenshot(src.read_text(encoding="utf-8"), args.out / name, w, h)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
