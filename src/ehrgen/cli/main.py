"""The `ehrgen` command line. Each command lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="ehrgen",
    help="Clinical pharmacogenomics: VCF -> star-allele calls -> CPIC/DPWG recommendations -> FHIR/HL7 -> EHR.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _print_version(value: bool) -> None:
    if value:
        from ehrgen import __version__

        typer.echo(f"ehrgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print ehrgen's version and exit.")) -> None:
    """ehrgen: PGx calling, interpretation, FHIR/HL7 mapping and EHR delivery."""


# one module per command group; each defines register(app)
_COMMAND_MODULES = (
    "call", "interpret", "export", "validate", "deliver", "sandbox", "serve", "run", "replay", "audit", "card",
    "cohort",
)

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"ehrgen.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name != f"ehrgen.cli.{_name}":
            raise
        continue
    _mod.register(app)


if __name__ == "__main__":
    app()
