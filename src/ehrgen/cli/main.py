"""The `ehrgen` command line. Each command lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

from ehrgen.cli.common import TYPER_SETTINGS, examples

app = typer.Typer(
    name="ehrgen",
    help="Clinical pharmacogenomics: VCF -> star-allele calls -> CPIC/DPWG recommendations -> FHIR/HL7 -> EHR.",
    epilog=examples(
        "ehrgen run sample_data/                       # the whole pipeline, results to out/outbox",
        "ehrgen call sample_data/vcf/S001.vcf --out out/calls    # or stage by stage:",
        "ehrgen interpret out/calls --clinical sample_data/clinical --out out/results",
        "ehrgen export out/results --out out/export",
        "ehrgen deliver out/export --outbox out/outbox",
        "ehrgen COMMAND --help                         # each command's options and examples",
    ),
    no_args_is_help=True,
    **TYPER_SETTINGS,
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
