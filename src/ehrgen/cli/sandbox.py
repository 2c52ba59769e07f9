"""`ehrgen sandbox build|start|stop|status`: the local HAPI FHIR EHR sandbox."""

from __future__ import annotations

from typing import Optional

import typer

from ehrgen.cli.common import TYPER_SETTINGS, err_console, examples, one_line_errors

BUILD_EXAMPLES = examples(
    "ehrgen sandbox build",
)

START_EXAMPLES = examples(
    "ehrgen sandbox start --port 8080",
)

STOP_EXAMPLES = examples(
    "ehrgen sandbox stop",
)

STATUS_EXAMPLES = examples(
    "ehrgen sandbox status && echo running",
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The local HAPI FHIR JPA sandbox (R4, Genomics Reporting IG validation).",
                        epilog=examples("ehrgen sandbox build && ehrgen sandbox start --port 8080",
                                        "ehrgen sandbox stop"),
                        no_args_is_help=True, **TYPER_SETTINGS)
    app.add_typer(group, name="sandbox")

    @group.command("build", epilog=BUILD_EXAMPLES)
    @one_line_errors
    def build_cmd() -> None:
        """Build the sandbox jar (cached) and fetch the IG's dependency packages."""
        from ehrgen.fhir import sandbox

        jar = sandbox.build()
        err_console.print(f"built {jar}", highlight=False)

    @group.command("start", epilog=START_EXAMPLES)
    @one_line_errors
    def start_cmd(port: Optional[int] = typer.Option(None, "--port", help="default: settings sandbox.port (8080)")) -> None:
        """Start the sandbox in the background; prints the FHIR base URL."""
        from ehrgen.fhir import sandbox

        typer.echo(sandbox.start(port))

    @group.command("stop", epilog=STOP_EXAMPLES)
    @one_line_errors
    def stop_cmd() -> None:
        """Stop the sandbox (its data stays in ehr-sandbox/data/)."""
        from ehrgen.fhir import sandbox

        sandbox.stop()

    @group.command("status", epilog=STATUS_EXAMPLES)
    @one_line_errors
    def status_cmd() -> None:
        """Print the base URL if running (exit 0), else exit 1."""
        from ehrgen.fhir import sandbox

        url = sandbox.status()
        if url is None:
            err_console.print("sandbox not running", highlight=False)
            raise typer.Exit(code=1)
        typer.echo(url)
