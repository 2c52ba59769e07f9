"""`ehrgen serve`: run the CDS Hooks 2.0 service (order-select, order-sign, patient-view)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

SERVE_EXAMPLES = examples(
    "ehrgen serve --port 8090 --fhir http://127.0.0.1:8080/fhir",
    "ehrgen serve --insecure-no-auth --calls out/sample_data/calls   # test networks only",
)


def register(app: typer.Typer) -> None:
    @app.command("serve", epilog=SERVE_EXAMPLES)
    @one_line_errors
    def serve(
        host: Optional[str] = typer.Option(None, "--host", help="bind address (default: settings cds.host, 127.0.0.1)"),
        port: Optional[int] = typer.Option(None, "--port", help="port (default: settings cds.port, 8090)"),
        fhir: Optional[str] = typer.Option(None, "--fhir", help="FHIR base URL to read results from when a "
                                           "request has neither prefetch nor fhirServer"),
        insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth",
                                              help="accept calls without a CDS Hooks JWT (test networks only)"),
        calls: Optional[Path] = typer.Option(None, "--calls", help="directory of <patientId>.calls.json files "
                                             "(or a patients.tsv index) for sites without a FHIR server"),
        feedback: Optional[Path] = typer.Option(None, "--feedback", help="card feedback JSONL "
                                                "(default: <work_dir>/cds-feedback.jsonl)"),
        ledger: Optional[Path] = typer.Option(None, "--ledger", help="delivery ledger: reads are audited there, "
                                              "consent withdrawals and new deliveries are read from it "
                                              "(default: settings deliver.ledger, out/ledger.sqlite)"),
    ) -> None:
        """Serve CDS Hooks: PGx cards at order time (order-select / order-sign) and a patient-view summary."""
        import uvicorn

        from ehrgen.cds.service import ServiceConfig, create_app
        from ehrgen.settings import load_settings

        settings = load_settings()
        cds = settings.cds.model_copy(update={k: v for k, v in {
            "host": host, "port": port, "fhir_url": fhir}.items() if v is not None})
        if insecure_no_auth:
            cds = cds.model_copy(update={"insecure_no_auth": True})
        if not cds.insecure_no_auth and not (cds.jwks_file or cds.jwks_url):
            err_console.print("error: JWT checking needs cds.jwks_file or cds.jwks_url and cds.allowed_issuers "
                              "(ehrgen.toml or EHRGEN_CDS__*), or --insecure-no-auth on a test network",
                              markup=False, highlight=False)
            raise typer.Exit(code=2)
        if cds.insecure_no_auth:
            err_console.print("WARNING: --insecure-no-auth: CDS Hooks JWT checking is off; anyone who can reach "
                              f"{cds.host}:{cds.port} can call the services", markup=False, highlight=False)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = ServiceConfig(settings=cds, calls_dir=calls,
                               feedback_path=feedback or settings.work_dir / "cds-feedback.jsonl",
                               verify_tls=settings.fhir.verify_tls,
                               ledger_path=ledger or settings.deliver.ledger,
                               audit_token=settings.fhir.bearer_token)
        try:
            app_ = create_app(config)
        except ValueError as exc:  # incomplete JWT settings
            err_console.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(code=2) from None
        err_console.print(f"CDS Hooks discovery: http://{cds.host}:{cds.port}/cds-services", highlight=False)
        # the service logs one PHI-free line per call itself; uvicorn's access log would add client addresses
        uvicorn.run(app_, host=cds.host, port=cds.port, log_level="info", access_log=False)
