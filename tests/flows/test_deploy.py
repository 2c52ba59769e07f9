"""The one deployment method (flows/deploy.py) and the Prefect server set-up in docs/operations.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


def test_three_deployments_share_the_work_folder_and_weekly_covers_every_run():
    from flows.deploy import build_deployments

    deps = {d.name: d for d in build_deployments("/srv/w", "/srv/drop", fhir="http://ehr/fhir")}
    assert set(deps) == {"on-demand", "nightly-sweep", "weekly"}
    assert {d.parameters["work_dir"] for d in deps.values()} == {"/srv/w"}
    assert {d.parameters["fhir_url"] for d in deps.values()} == {"http://ehr/fhir"}
    # no run name: the weekly re-interpretation re-checks every stored run (drop folder and on-demand)
    assert "run_name" not in deps["weekly"].parameters
    assert [s.schedule.cron for s in deps["weekly"].schedules] == ["0 3 * * 0"]
    assert [s.schedule.cron for s in deps["nightly-sweep"].schedules] == ["0 2 * * *"]
    assert not deps["on-demand"].schedules


def test_one_deployment_method_documented():
    # a prefect.yaml would register the same deployment names a second way and overwrite these
    assert not (ROOT / "prefect.yaml").exists()
    text = OPERATIONS.read_text(encoding="utf-8")
    assert "flows/deploy.py" in text and "prefect deploy --all" not in text and "worker start" not in text


def _doc_server_env() -> dict[str, str]:
    text = OPERATIONS.read_text(encoding="utf-8")
    block = re.search(r"<!-- prefect-server-env -->\n```bash\n(.*?)```", text, re.S)
    assert block, "docs/operations.md: the server's environment block is marked <!-- prefect-server-env -->"
    env = {}
    for line in block.group(1).splitlines():
        if line.startswith("export "):
            for k, v in re.findall(r"(\w+)=(\S+)", line.split("#", 1)[0]):
                env[k] = v
    return env


def _ui_api_url(env: dict[str, str], tmp_path: Path) -> str:
    """What a Prefect server started with this environment tells the browser UI to call (its /ui-settings)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    clean.update(env, PREFECT_HOME=str(tmp_path))
    code = "import prefect.settings as s; print(s.PREFECT_UI_API_URL.value())"
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_following_the_docs_on_another_port_points_the_ui_at_that_port(tmp_path):
    env = _doc_server_env()
    assert env["PREFECT_API_URL"] == f"http://{env['PREFECT_SERVER_API_HOST']}:{env['PREFECT_SERVER_API_PORT']}/api"
    # the docs: to use another port, change it in PREFECT_SERVER_API_PORT and PREFECT_API_URL together
    moved = {k: v.replace("4200", "4317") for k, v in env.items()}
    assert _ui_api_url(moved, tmp_path) == "http://127.0.0.1:4317/api"
    # the pitfall the docs explain: `prefect server start --port 4317` alone leaves the UI calling 4200
    assert _ui_api_url({}, tmp_path) == "http://127.0.0.1:4200/api"
