"""One typed settings object for the whole pipeline.

Loaded from (lowest to highest precedence): embedded defaults, a TOML file (`EHRGEN_CONFIG` or
`./ehrgen.toml`), then `EHRGEN_<SECTION>__<FIELD>` environment variables. CLI options override
individual fields; nothing else reads the environment directly.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class CallingSettings(BaseModel):
    genes: list[str] | None = None  # None = all supported genes
    # joint-called cohort VCFs only: a PGx position with no record in the file is homozygous reference
    # (never for gVCFs; see ehrgen.ingest.absent). Off by default: a missing position is never assumed.
    absent_is_reference: bool = False
    # imputed array data (ehrgen.ingest.imputed): below these a genotype / site counts as missing
    min_gp: float = Field(0.9, ge=0.0, le=1.0)  # largest FORMAT GP of the genotype
    min_imputation_r2: float = Field(0.8, ge=0.0, le=1.0)  # INFO R2 / DR2 / INFO of the site
    # gVCF reference blocks and 0/0 calls with FORMAT GQ below this count as missing (low_ref_gq), never as
    # reference (ehrgen.ingest.ref_quality). 0 = every reference call counts, as PharmCAT does.
    min_ref_gq: int = Field(0, ge=0)


class RulesSettings(BaseModel):
    source: Literal["cpic", "dpwg", "both"] = "both"
    rules_dir: Path | None = None  # default: the project's rules/


class FhirSettings(BaseModel):
    base_url: str | None = None
    bearer_token: str | None = None
    verify_tls: bool = True
    timeout_s: float = 30.0
    max_retries: int = 4
    backoff_s: float = 0.5
    # an unreachable server (nothing answers the connect): a few quick tries, then the circuit opens and the rest
    # of the run's bundles stay queued for the next run (deliver/api.py) instead of each retrying for minutes
    connect_timeout_s: float = 5.0
    connect_retries: int = 2
    # SMART backend services (client-credentials JWT)
    smart_token_url: str | None = None
    smart_client_id: str | None = None
    smart_private_key: Path | None = None
    smart_scope: str = "system/*.write"
    # what the bundles say and how they point at the patient (docs/ehr-integration.md)
    performer_name: str = "Pharmacogenomics laboratory"  # the lab: Observation/DiagnosticReport.performer
    performer_identifier_system: str | None = None  # e.g. the lab's organisation id system (urn:oid:...)
    performer_identifier_value: str | None = None
    # conditional: subject = Patient?identifier=system|value; plain: the Patient entry's urn:uuid fullUrl
    references: Literal["conditional", "plain"] = "conditional"
    # a patient identifier (MRN) the EHR does not know: create a bare Patient, or reject that patient's results
    unknown_patient: Literal["create", "reject"] = "create"


class MllpSettings(BaseModel):
    host: str | None = None
    port: int | None = None
    timeout_s: float = 10.0
    max_retries: int = 3


class DeliverSettings(BaseModel):
    outbox: Path = Path("out/outbox")
    dead_letter: Path = Path("out/dead-letter")
    ledger: Path = Path("out/ledger.sqlite")
    require_consent: bool = True


class CdsSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8090
    fhir_url: str | None = None
    insecure_no_auth: bool = False
    allowed_issuers: list[str] = Field(default_factory=list)
    jwks_file: Path | None = None
    jwks_url: str | None = None
    audience: str | None = None
    pretest_card: bool = True
    cache_entries: int = 10_000  # per-patient cache of results read from a FHIR server; 0 turns it off
    cache_max_age_s: float = 300.0
    # hostile-input limits for hook and feedback bodies: over the size -> 413, deeper nesting -> 400
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_json_depth: int = Field(64, ge=8)


class SandboxSettings(BaseModel):
    port: int = 8080
    ig_package: Path | None = None  # default: ehr-sandbox/ig/hl7.fhir.uv.genomics-reporting-3.0.0.tgz
    start_timeout_s: float = 180.0


class ReportSettings(BaseModel):
    pdf_engine: Literal["auto", "weasyprint", "chromium", "none"] = "auto"
    # wallet card QR signing: an Ed25519 private key (PEM). None = a demo key generated in the work folder
    card_signing_key: Path | None = None
    card_issuer: str = "ehrgen demo laboratory"
    patient_outputs: bool = True  # `ehrgen run`: patient summary + wallet card per consenting patient
    card_png: bool = True  # the card as PNG too (needs headless Chromium)


class PipelineSettings(BaseModel):
    # worker processes for `ehrgen run` without --dask when the batch has more than one chunk (0 = one per CPU);
    # 1 keeps every chunk in the flow's own process (threads), as small runs do anyway (a worker's start-up
    # costs a few seconds)
    workers: int = Field(0, ge=0)
    # a multi-sample VCF spread over several chunks is called ahead in groups of up to this many samples (one read
    # of the file per group; about 30 MB of memory per 1,000 samples), so a 200,000-person cohort file is read 20
    # times instead of once per chunk of 500 (htslib parses every column of every line on each read); 0 = off
    call_group: int = Field(10000, ge=0)


class Settings(BaseModel):
    work_dir: Path = Path("out")
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    calling: CallingSettings = Field(default_factory=CallingSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    fhir: FhirSettings = Field(default_factory=FhirSettings)
    mllp: MllpSettings = Field(default_factory=MllpSettings)
    deliver: DeliverSettings = Field(default_factory=DeliverSettings)
    cds: CdsSettings = Field(default_factory=CdsSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)


def _env_overrides(prefix: str = "EHRGEN_") -> dict:
    out: dict = {}
    for key, value in os.environ.items():
        if not key.startswith(prefix) or "__" not in key:
            continue
        section, _, field = key[len(prefix):].lower().partition("__")
        out.setdefault(section, {})[field] = value
    return out


def load_settings(path: Path | None = None) -> Settings:
    data: dict = {}
    cfg = path or Path(os.environ.get("EHRGEN_CONFIG", "ehrgen.toml"))
    if cfg.is_file():
        with cfg.open("rb") as fh:
            data = tomllib.load(fh)
    for section, fields in _env_overrides().items():
        if isinstance(data.get(section), dict):
            data[section].update(fields)
        else:
            data[section] = fields
    return Settings.model_validate(data)
