"""Serve ehrgen's flows with schedules from one long-running process (no work pool needed).

    PREFECT_API_URL=http://127.0.0.1:4200/api python flows/deploy.py --work /srv/ehrgen/out --drop /srv/ehrgen/drop

Deployments:
  pgx-pipeline/on-demand          no schedule; start from the UI or `prefect deployment run 'pgx-pipeline/on-demand'`
  pgx-drop-folder/nightly-sweep   cron (default 02:00 every night): sweep <drop>/inbox
  pgx-reinterpret/weekly          cron (default Sunday 03:00): re-interpret the stored calls of every run in
                                  --work (drop folder and on-demand) if the rules changed
The process must keep running (systemd unit or Windows service); see docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build_deployments(work: str, drop: str, outbox: str | None = None, fhir: str | None = None,
                      mllp: str | None = None, sweep_cron: str = "0 2 * * *", reinterpret_cron: str = "0 3 * * 0",
                      timezone: str = "UTC", settle_seconds: float = 30.0):
    from prefect.schedules import Cron

    from flows.drop_folder import drop_folder
    from flows.pgx_pipeline import pgx_pipeline
    from flows.reinterpret import reinterpret

    targets = {"outbox": outbox, "fhir_url": fhir, "mllp": mllp}
    return [
        pgx_pipeline.to_deployment(name="on-demand", parameters={"input_dir": str(Path(drop) / "batch"),
                                                                 "work_dir": work, **targets},
                                   description="Run a folder laid out like sample_data/ (set input_dir)."),
        drop_folder.to_deployment(name="nightly-sweep", schedules=[Cron(sweep_cron, timezone=timezone)],
                                  concurrency_limit=1,  # two sweeps must never claim the same inbox
                                  parameters={"root": drop, "work_dir": work, "settle_seconds": settle_seconds,
                                              **targets},
                                  description="Process finished files from the drop folder's inbox."),
        reinterpret.to_deployment(name="weekly", schedules=[Cron(reinterpret_cron, timezone=timezone)],
                                  concurrency_limit=1,
                                  parameters={"work_dir": work, **targets},  # every stored run in `work`
                                  description="Re-interpret the stored calls of every run when the rules "
                                              "changed; deliver changes."),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="out", help="work folder (stage files, ledger, outbox)")
    ap.add_argument("--drop", default="dropbox", help="drop folder root (inbox/, processed/, failed/)")
    ap.add_argument("--outbox")
    ap.add_argument("--fhir")
    ap.add_argument("--mllp")
    ap.add_argument("--sweep-cron", default="0 2 * * *")
    ap.add_argument("--reinterpret-cron", default="0 3 * * 0")
    ap.add_argument("--timezone", default=os.environ.get("EHRGEN_TIMEZONE", "UTC"))
    args = ap.parse_args(argv)
    work, drop = str(Path(args.work).resolve()), str(Path(args.drop).resolve())

    from ehrgen.pipeline.prefect_env import configure

    configure(work)  # before importing prefect
    if not os.environ.get("PREFECT_API_URL"):
        sys.exit("set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) to a running `prefect server start`")
    from prefect import serve

    serve(*build_deployments(work, drop, args.outbox, args.fhir, args.mllp, args.sweep_cron,
                             args.reinterpret_cron, args.timezone))


if __name__ == "__main__":
    main()
