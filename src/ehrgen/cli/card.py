"""`ehrgen card PATIENT`: the patient summary and wallet card; `ehrgen verify-card`: check a card's QR payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

CARD_EXAMPLES = examples(
    "ehrgen card P001 --calls out/sample_data/calls --clinical sample_data/clinical --out out/patient",
)

VERIFY_CARD_EXAMPLES = examples(
    'ehrgen verify-card out/patient/P001.card.jwt',
    'ehrgen verify-card "$(cat P001.card.jwt)" --key issuer-public.pem',
)


def register(app: typer.Typer) -> None:
    @app.command("card", epilog=CARD_EXAMPLES)
    @one_line_errors
    def card(
        patient: str = typer.Argument(..., help="patient id (or the sample id when there is no clinical data)"),
        calls: Path = typer.Option(..., "--calls", help="folder of <sample>.calls.json (from `ehrgen call` or a run's calls/)"),
        clinical: Optional[Path] = typer.Option(None, "--clinical", help="clinical data: sample links, name, birth date"),
        out: Path = typer.Option(Path("out/patient"), "--out", help="output folder"),
        work: Path = typer.Option(Path("out"), "--work", help="work folder (holds the demo signing key)"),
        key: Optional[Path] = typer.Option(None, "--key", help="Ed25519 private key (PEM); default report.card_signing_key, else a demo key"),
        issuer: Optional[str] = typer.Option(None, "--issuer", help="issuer named on the card and in the QR payload"),
        source: str = typer.Option("both", "--source", help="cpic | dpwg | both"),
    ) -> None:
        """Write <patient>.summary.html/.pdf and <patient>.card.html/.pdf/.png/.jwt (signed QR payload)."""
        from ehrgen.errors import InputError
        from ehrgen.pipeline.context import load_context
        from ehrgen.report.people import write_for_patient
        from ehrgen.report.signing import load_signing_key
        from ehrgen.rules.batch import read_calls_dir
        from ehrgen.settings import load_settings

        if source not in ("cpic", "dpwg", "both"):
            raise InputError("--source", f"expected cpic, dpwg or both, got {source!r}")
        settings = load_settings()
        if key is not None:
            settings.report.card_signing_key = key
        if issuer:
            settings.report.card_issuer = issuer
        ctx = load_context(str(clinical) if clinical else None, None)
        samples, errors = read_calls_dir(calls)
        mine = [c for c in samples if ctx.clinical.links.get(c.sample, c.sample) == patient]
        if not mine:
            raise InputError(str(calls), "no calls file for this patient (check the id, or pass --clinical "
                                         "for the sample-to-patient links)")
        written = write_for_patient(mine[0], patient, ctx, out, settings, work, source)
        for name in sorted(written):
            typer.echo(f"{name}\t{written[name]}")
        sk = load_signing_key(settings.report.card_signing_key, work)  # (a demo key was warned about once)
        pub = out / "card-public-key.pem"
        pub.write_text(sk.public_pem(), encoding="utf-8")
        err_console.print(f"card signed with key {sk.kid}; public key for verification: {pub}",
                          markup=False, highlight=False)

    @app.command("verify-card", epilog=VERIFY_CARD_EXAMPLES)
    @one_line_errors
    def verify_card(
        payload: str = typer.Argument(..., help="the QR payload (what a scanner reads), or a file holding it (<patient>.card.jwt)"),
        key: Optional[Path] = typer.Option(None, "--key", help="issuer's Ed25519 public key (PEM); default the work folder's demo key"),
        work: Path = typer.Option(Path("out"), "--work", help="work folder (for the demo key)"),
    ) -> None:
        """Verify a wallet card's signed payload offline; prints its claims and exits 0 only when it verifies."""
        from ehrgen.errors import InputError
        from ehrgen.report.signing import DEMO_KEY_NAME, read_public_key, verify_card as verify

        text = payload
        if "." not in payload.strip() or Path(payload).is_file():
            text = Path(payload).read_text(encoding="utf-8")
        if key is None:
            key = work / "keys" / DEMO_KEY_NAME.replace(".pem", ".pub.pem")
            if not key.is_file():
                raise InputError("--key", "no public key given and no demo key in the work folder")
        claims = verify(text, read_public_key(key))
        typer.echo(json.dumps(claims, indent=1, ensure_ascii=False))
        note = " (DEMO key: proves nothing about the issuer)" if claims.get("demo") else ""
        err_console.print(f"verified: signed by {claims.get('iss')!s}{note}", markup=False, highlight=False)
