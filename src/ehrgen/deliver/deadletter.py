"""Dead-letter folder: artefacts a receiver refused, kept with the receiver's answer and a reason.

Layout: <dead_letter>/<patient>.<kind>.<sha256[:12]>/{payload file, response file, reason.txt}
One folder per (patient, artefact, content), so a repeated rejection of the same content overwrites
itself instead of piling up copies.
"""

from __future__ import annotations

from pathlib import Path

from ehrgen.deliver.files import atomic_write
from ehrgen.deliver.model import Artefact


def dead_letter(
    root: Path,
    art: Artefact,
    payload: bytes,
    sha256: str,
    *,
    target: str,
    reason: str,
    response: bytes | None = None,
    response_name: str = "response.txt",
) -> Path:
    folder = root / f"{art.patient_id}.{art.kind}.{sha256[:12]}"
    atomic_write(folder / art.path.name, payload)
    if response is not None:
        atomic_write(folder / response_name, response)
    atomic_write(folder / "reason.txt", f"target: {target}\nsha256: {sha256}\nreason: {reason}\n".encode())
    return folder
