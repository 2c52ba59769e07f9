"""The table generators in tools/ reproduce the committed tables from the pinned reference set.

They read the full reference set beside the checkout (../shared/reference, several MB of guideline files that
the repository does not carry), so this runs where it is present (maintainers) and a user's clone skips it:
one test for all generators, so that clone reports one skip for one reason.
"""

from __future__ import annotations

import subprocess
import sys

from ehrgen.paths import mappings_dir, project_root, rules_dir
from tests.reference_data import needs_shared_reference


def _generate(tool: str, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(project_root() / "tools" / tool), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


@needs_shared_reference
def test_generators_reproduce_the_committed_tables(tmp_path):
    # drugs: the same bytes as mappings/drugs.tsv, and the gaps are printed, never hidden
    drugs = _generate("gen_drugs.py", tmp_path / "drugs.tsv")
    assert drugs.returncode == 0, drugs.stderr
    assert (tmp_path / "drugs.tsv").read_text(encoding="utf-8") == \
        (mappings_dir() / "drugs.tsv").read_text(encoding="utf-8")
    assert "flucytosine: no rxnorm" in drugs.stdout

    # rules: reproducible, and the generator's own spot checks pass
    rules = _generate("gen_rules.py", tmp_path / "rules.tsv")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "FAILED" not in rules.stdout and "spot checks:" in rules.stdout
    assert (tmp_path / "rules.tsv").read_text(encoding="utf-8") == \
        (rules_dir() / "rules.tsv").read_text(encoding="utf-8")
