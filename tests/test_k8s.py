"""The Kubernetes overlays, rendered by `kubectl kustomize` and validated like a cluster would.

Built-in kinds go through `kubernetes-validate` (the Kubernetes OpenAPI schemas, strict: unknown
fields are errors); operator kinds through their CRDs' schemas vendored in deploy/k8s/crd-schemas.
Then what no schema knows: probes, limits, non-root, one engine Deployment per shard, selectors that
select something, secrets and settings that exist. Nothing is applied to a cluster.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from happening_engine.config import Settings
from tests.settings_env import settings_env_map

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (apt-get install kubectl)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "crd-schemas"
KUBERNETES_VERSION = "1.31"
OVERLAYS = ("dev", "prod")
SUBCOMMANDS = {"api", "engine", "worker", "migrate", "check-invariants"}
# secrets created by the operators rather than by us
OPERATOR_SECRETS = {"happening-db-app", "keycloak-db-app"}
# env names the manifests carry for parts that may not be in Settings yet (kept even once they are)
PENDING_ENV = {"HAPPENING_ENGINE_COMMAND_KEYS"}


def _render(overlay: str) -> list[dict[str, Any]]:
    done = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _render(request.param)


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused, as the API server's strict field validation (kubectl's
    default) does for custom resources; objects that keep unknown fields by design are left open."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod_templates(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            out.append((d["metadata"]["name"], d["spec"]["template"]))
        elif d["kind"] == "CronJob":
            out.append((d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]))
    return out


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_resource_is_valid_against_its_schema(rendered):
    overlay, docs = rendered
    problems = []
    for doc in docs:
        name = f"{overlay}: {doc['kind']} {doc['metadata']['name']}"
        group, _, version = doc["apiVersion"].rpartition("/")
        schema_file = SCHEMAS / f"{group}_{doc['kind']}_{version}.json"
        if schema_file.exists():
            schema = _strict(json.loads(schema_file.read_text()))
            schema["properties"].update(metadata={"type": "object"},  # checked by the API server itself
                                        apiVersion={"type": "string"}, kind={"type": "string"})
            validator = jsonschema.Draft7Validator(schema)
            problems += [f"{name}: {'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
            continue
        assert "." not in group or group.endswith("k8s.io"), f"{name}: no schema vendored for {doc['apiVersion']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_containers_are_probed_limited_and_unprivileged(rendered):
    overlay, docs = rendered
    for name, template in _pod_templates(docs):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}, name
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
            assert resources["limits"]["memory"], name
            argv = container["command"]
            assert argv[0] == "happening" and argv[1] in SUBCOMMANDS, f"{name}: {argv}"
            if template is not None and any(d["metadata"]["name"] == name for d in _of(docs, "Deployment")):
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
                assert container["ports"] == [{"name": "http", "containerPort": 8080}], name


def test_one_engine_deployment_per_shard_active_and_standby(rendered):
    overlay, docs = rendered
    [config] = [c for c in _of(docs, "ConfigMap") if c["metadata"]["name"] == "happening-config"]
    shards = int(config["data"]["HAPPENING_ENGINE_SHARDS"])
    engines = {d["metadata"]["name"]: d for d in _of(docs, "Deployment")
               if d["metadata"]["labels"].get("app.kubernetes.io/component") == "engine"}
    assert set(engines) == {f"happening-engine-{k}" for k in range(shards)}
    for k in range(shards):
        engine = engines[f"happening-engine-{k}"]
        [container] = engine["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["happening", "engine", "--shard", str(k), "--shards",
                                        "$(HAPPENING_ENGINE_SHARDS)"]
        assert engine["spec"]["replicas"] == (2 if overlay == "prod" else 1)
        assert engine["spec"]["template"]["metadata"]["labels"]["happening.dev/shard"] == str(k)
    pdbs = {p["metadata"]["name"]: p for p in _of(docs, "PodDisruptionBudget")}
    assert all(pdbs[name]["spec"]["maxUnavailable"] == 1 for name in engines)


def test_selectors_and_targets_point_at_something(rendered):
    overlay, docs = rendered
    deployments = {d["metadata"]["name"]: d for d in _of(docs, "Deployment")}
    pod_labels = [t["metadata"]["labels"] for _, t in _pod_templates(docs)]
    for deployment in deployments.values():
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], template_labels)
    for pdb in _of(docs, "PodDisruptionBudget"):
        assert any(_selects(pdb["spec"]["selector"]["matchLabels"], labels) for labels in pod_labels), pdb
    for service in _of(docs, "Service"):
        assert any(_selects(service["spec"]["selector"], labels) for labels in pod_labels), service
    for hpa in _of(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    [scaled] = _of(docs, "ScaledObject")
    assert deployments[scaled["spec"]["scaleTargetRef"]["name"]]["metadata"]["labels"][
        "app.kubernetes.io/component"] == "worker"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == "happening.notifications"
    assert {t["metadata"]["name"] for t in _of(docs, "TriggerAuthentication")} == {
        trigger["authenticationRef"]["name"]}
    services = {s["metadata"]["name"] for s in _of(docs, "Service")}
    for ingress in _of(docs, "Ingress"):
        backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        assert backends == {"happening-api"} <= services
    [migrate] = [j for j in _of(docs, "Job")]
    assert migrate["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"  # deploy.yml applies it first
    [cron] = _of(docs, "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0  # a violation fails the Job: alert


def test_data_services_admit_only_happening_pods(rendered):
    overlay, docs = rendered
    policies = {p["metadata"]["name"]: p for p in _of(docs, "NetworkPolicy")}
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    [api] = [p for p in policies.values() if p["spec"]["podSelector"].get("matchLabels", {}).get(
        "app.kubernetes.io/component") == "api"]
    assert [peer["namespaceSelector"]["matchLabels"] for rule in api["spec"]["ingress"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"}]
    for name, port in (("postgres-from-happening", 5432), ("rabbitmq-from-happening", 5672),
                       ("redis-from-happening", 6379)):
        rules = policies[name]["spec"]["ingress"]
        for rule in rules:
            if port not in [p["port"] for p in rule["ports"]]:
                continue
            for peer in rule["from"]:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                assert labels or namespace in {"cnpg-system", "redis-operator"}, f"{name}: {peer}"
                assert "ingress-nginx" != namespace, name
    ingress_namespaces = {peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                          for p in policies.values() for rule in p["spec"].get("ingress", [])
                          for peer in rule["from"]}
    assert "ingress-nginx" in ingress_namespaces


def test_env_names_settings_and_secrets_that_exist(rendered):
    overlay, docs = rendered
    known = set(settings_env_map()) | PENDING_ENV
    generated = {s["metadata"]["name"] for s in _of(docs, "Secret")}
    documented = (K8S / "base" / "config.yaml").read_text()
    [config] = [c for c in _of(docs, "ConfigMap") if c["metadata"]["name"] == "happening-config"]
    assert set(config["data"]) <= known
    env = {k: str(v) for k, v in config["data"].items()}
    settings = Settings.from_env(env)
    assert settings.oidc.issuer and settings.oidc.issuer.endswith("/realms/happening")
    assert settings.http.host == "0.0.0.0" and settings.engine.shards >= 1
    for name, template in _pod_templates(docs):
        for container in template["spec"]["containers"]:
            for var in container.get("env", []):
                assert var["name"] in known, f"{name}: nothing reads {var['name']}"
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                secret = ref["name"]
                if overlay == "dev" and secret not in OPERATOR_SECRETS:
                    assert secret in generated or ref.get("optional"), f"{name}: secret {secret} is not generated"
                assert secret in OPERATOR_SECRETS or secret in documented, f"{name}: {secret} is undocumented"


def test_realm_import_and_rules_are_rendered_from_their_sources():
    done = subprocess.run(["python3", str(ROOT / "deploy" / "render.py"), "--check"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_reaches_grafana_as_a_labelled_config_map(rendered):
    _, docs = rendered
    maps = [d for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    shipped = {p.name: json.loads(p.read_text()) for p in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")}
    assert shipped
    assert {name: json.loads(text) for m in maps for name, text in m["data"].items()} == shipped
