"""Files derived from others, rendered here so that each fact has one source.

- deploy/keycloak/dev/happening-realm.json: the development variant of the production realm
  (deploy/keycloak/prod/happening-realm.json): the password grant on `happening-api` for scripts and
  the web client's loopback URLs. Only this variant enables the password grant.
- deploy/k8s/base/keycloak-realm.yaml: the production realm as a KeycloakRealmImport; its `${...}`
  placeholders come from the secret keycloak-realm-env. Identity providers are imported disabled
  (the CRD types `enabled` as a boolean, so the placeholder form cannot be used there); the prod
  overlay enables the ones whose credentials it has.
- deploy/k8s/base/prometheus-rules.yaml: deploy/prometheus/alerts.yml as a PrometheusRule.

Run `python deploy/render.py` after editing a source; tests/test_deploy.py fails when a rendered file
is out of date (`python deploy/render.py --check`).
"""
from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
PROD_REALM = DEPLOY / "keycloak" / "prod" / "happening-realm.json"
DEV_REALM = DEPLOY / "keycloak" / "dev" / "happening-realm.json"
REALM_IMPORT = DEPLOY / "k8s" / "base" / "keycloak-realm.yaml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS_RULE = DEPLOY / "k8s" / "base" / "prometheus-rules.yaml"
DEV_ORIGINS = ["http://127.0.0.1:8080", "http://localhost:8080"]
REALM_SECRET = "keycloak-realm-env"
HEADER = "# Rendered by deploy/render.py from {source}: edit that file, then run python deploy/render.py.\n"


def placeholders(text: str) -> list[str]:
    """The environment variables a realm's `${NAME}` / `${NAME:default}` placeholders name."""
    return sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::[^}]*)?\}", text)))


def dev_realm(prod: dict[str, Any]) -> dict[str, Any]:
    realm = copy.deepcopy(prod)
    realm["displayName"] = "Happening (development)"
    clients = {c["clientId"]: c for c in realm["clients"]}
    api, web = clients["happening-api"], clients["happening-web"]
    api.update(description="Development only: public client with the password grant, for scripts and curl.",
               publicClient=True, bearerOnly=False, directAccessGrantsEnabled=True, fullScopeAllowed=True,
               protocolMappers=copy.deepcopy(web["protocolMappers"]),
               defaultClientScopes=list(web["defaultClientScopes"]),
               optionalClientScopes=list(web["optionalClientScopes"]))
    web.update(rootUrl=DEV_ORIGINS[0], redirectUris=[f"{o}/auth/callback" for o in DEV_ORIGINS],
               webOrigins=list(DEV_ORIGINS))
    web["attributes"] = {**web["attributes"], "post.logout.redirect.uris": "##".join(f"{o}/" for o in DEV_ORIGINS)}
    return realm


def realm_import(prod: dict[str, Any]) -> dict[str, Any]:
    realm = copy.deepcopy(prod)
    for provider in realm["identityProviders"]:
        provider["enabled"] = False
    text = json.dumps(realm)
    names = placeholders(text)

    def optional(name: str) -> dict[str, bool]:
        return {"optional": True} if f"${{{name}:" in text else {}
    return {
        "apiVersion": "k8s.keycloak.org/v2alpha1",
        "kind": "KeycloakRealmImport",
        "metadata": {"name": "happening-realm"},
        "spec": {
            "keycloakCRName": "keycloak",
            # a placeholder with a default (`${NAME:default}`) may be left out of the secret
            "placeholders": {name: {"secret": {"name": REALM_SECRET, "key": name, **optional(name)}} for name in names},
            "realm": realm,
        },
    }


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "happening", "labels": {"release": "kube-prometheus-stack"}},
        "spec": {"groups": alerts["groups"]},
    }


def rendered() -> dict[Path, str]:
    prod = json.loads(PROD_REALM.read_text())
    alerts = yaml.safe_load(ALERTS.read_text())
    dump = lambda data: yaml.safe_dump(data, sort_keys=False, width=120)  # noqa: E731
    return {
        DEV_REALM: json.dumps(dev_realm(prod), indent=2) + "\n",
        REALM_IMPORT: HEADER.format(source="deploy/keycloak/prod/happening-realm.json") + dump(realm_import(prod)),
        PROMETHEUS_RULE: HEADER.format(source="deploy/prometheus/alerts.yml") + dump(prometheus_rule(alerts)),
    }


def main(argv: list[str]) -> int:
    stale = []
    for path, text in rendered().items():
        if path.exists() and path.read_text() == text:
            continue
        if "--check" in argv:
            stale.append(str(path.relative_to(DEPLOY.parent)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(DEPLOY.parent)}")
    for name in stale:
        print(f"out of date: {name} (run python deploy/render.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
