"""Example resources from the pinned Genomics Reporting IG package (package/example/<name>), for tests."""

from __future__ import annotations

import json
import tarfile

from ehrgen.fhir import sandbox


def ig_example(name: str) -> dict:
    with tarfile.open(sandbox.ig_package()) as tgz:
        member = tgz.extractfile(f"package/example/{name}")
        assert member is not None, name
        return json.load(member)
