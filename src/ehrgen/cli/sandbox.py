"""`ehrgen sandbox build|start|stop|status`: the local HAPI FHIR EHR sandbox."""

from __future__ import annotations

from typing import Optional

import typer

from ehrgen.cli.common import err_console, one_line_errors


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The local HAPI FHIR JPA sandbox (R4, Genomics Reporting IG validation).",
                        no_args_is_help=True)
    app.add_typer(group, name="sandbox")

    @group.command("build")
    @one_line_errors
    def build_cmd() -> None:
        """Build the sandbox jar (cached) and fetch the IG's dependency packages."""
        from ehrgen.fhir import sandbox

        jar = sandbox.build()
        err_console.print(f"built {jar}", highlight=False)

    @group.command("start")
    @one_line_errors
    def start_cmd(port: Optional[int] = typer.Option(None, "--port", help="default: settings sandbox.port (8080)")) -> None:
        """Start the sandbox in the background; prints the FHIR base URL."""
        from ehrgen.fhir import sandbox

        typer.echo(sandbox.start(port))

    @group.command("stop")
    @one_line_errors
    def stop_cmd() -> None:
        """Stop the sandbox (its data stays in ehr-sandbox/data/)."""
        from ehrgen.fhir import sandbox

        sandbox.stop()

    @group.command("status")
    @one_line_errors
    def status_cmd() -> None:
        """Print the base URL if running (exit 0), else exit 1."""
        from ehrgen.fhir import sandbox

        url = sandbox.status()
        if url is None:
            err_console.print("sandbox not running", highlight=False)
            raise typer.Exit(code=1)
        typer.echo(url)
