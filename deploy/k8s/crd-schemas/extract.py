"""Vendor the openAPIV3Schema of operator CRDs (descriptions dropped) for tests/test_k8s.py.

Kubernetes itself only knows its built-in kinds; the operators' kinds (CloudNativePG Cluster,
RabbitmqCluster, Keycloak, ...) are validated against the schema their CRD declares. Only the schema
of the version we use is kept, without descriptions, which do not take part in validation and make up
most of each CRD. Usage: python deploy/k8s/crd-schemas/extract.py CRD.yaml VERSION [...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def extract(crd_file: str, version: str) -> Path:
    crd = yaml.safe_load(Path(crd_file).read_text())
    spec = crd["spec"]
    [served] = [v for v in spec["versions"] if v["name"] == version]
    out = HERE / f"{spec['group']}_{spec['names']['kind']}_{version}.json"
    out.write_text(json.dumps(strip(served["schema"]["openAPIV3Schema"]), sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    for crd_file, version in zip(args[::2], args[1::2]):
        print(extract(crd_file, version))
