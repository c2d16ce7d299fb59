"""Prometheus config, alert rules (with their promtool unit tests) and the Grafana dashboards.

promtool (Debian's `prometheus` package) checks the config and the rules and runs
deploy/prometheus/alerts_test.yml. Every dashboard query is parsed as PromQL by promtool (each becomes
a recording rule of a generated rules file) and every `happening_*` metric a query or an alert names
must be one the code registers with prometheus_client.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
# names Prometheus and kube-state-metrics provide, which the alerts may use beside ours
EXTERNAL = {"up", "kube_deployment_status_replicas_ready", "kube_pod_status_ready", "kube_job_status_failed",
            "kube_cronjob_status_last_successful_time"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan", "le"}


def exported_metrics() -> set[str]:
    """Every sample name the code's metrics can produce (the modules that define them imported)."""
    import happening.processes  # noqa: F401  (every part: api.middlewares, api.fanout, api.auth, the engine)
    import happening_engine.live
    import happening_engine.metrics
    import happening_engine.outbox
    import happening_engine.worker.consumer  # noqa: F401

    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"],
                    "summary": ["_count", "_sum"]}.get(family.type, [""])
        names |= {family.name + s for s in suffixes}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, label matchers, groupings removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[match.end():].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def dashboards() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(DASHBOARDS.glob("*.json"))]


def queries() -> list[tuple[str, str]]:
    return [(f"{name}: {panel['title']}", target["expr"]) for name, board in dashboards()
            for panel in board["panels"] for target in panel.get("targets", [])]


def test_metric_names_are_read_from_promql():
    assert metric_names('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!~".*/live"}[5m])))') == {
        "a_bucket"}
    assert metric_names("(sum by (shard) (up{role=\"engine\"}) == 0) or (b == 0)") == {"up", "b"}


def test_dashboards_cover_the_issue_list_and_name_exported_metrics():
    exported = exported_metrics()
    assert {"happening_bookings_total", "happening_http_request_seconds_bucket", "happening_jwks_fetches_total",
            "happening_outbox_lag_seconds", "happening_notifications_total"} <= exported
    titles = " | ".join(title for title, _ in queries()).lower()
    for topic in ("bookings/s by outcome", "latency p50 / p99 by route", "active actors", "mailbox depth",
                  "batch size", "waitlist", "outbox lag", "notifications sent / failed (dead-lettered)", "jwks",
                  "shard health"):
        assert topic in titles, topic
    for title, expr in queries():
        names = metric_names(expr.replace("$__rate_interval", "5m"))
        assert names, title
        assert names <= exported, f"{title}: {names - exported} not exported by the code"
    for name, board in dashboards():
        assert board["uid"] and all(p["datasource"]["uid"] == "${datasource}" for p in board["panels"]), name


def test_alerts_name_exported_metrics():
    exported = exported_metrics()
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"HappeningOutboxLag", "HappeningNotificationsDeadLettered", "HappeningSlowRequests",
            "HappeningShardWithoutEngine", "HappeningNotReady", "HappeningInvariantViolation"} <= set(alerts)
    for name, rule in alerts.items():
        names = metric_names(rule["expr"])
        assert names <= exported | EXTERNAL, f"{name}: {names - exported - EXTERNAL}"
    dead = alerts["HappeningNotificationsDeadLettered"]["annotations"]["description"]
    assert "happening notifications dead" in dead and "happening notifications replay" in dead


@needs_promtool
def test_dashboard_queries_parse_as_promql(tmp_path: Path):
    rules = [{"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
             for i, (_, expr) in enumerate(queries())]
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


@needs_promtool
def test_prometheus_config_and_alert_rules(tmp_path: Path):
    for argv in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([PROMTOOL, *argv], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"promtool {' '.join(argv)}:\n{done.stdout}{done.stderr}"


def test_grafana_provisioning_points_at_the_compose_prometheus_and_dashboards():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 2)[:2] if v.count(":") == 2 else v.split(":", 1) for v in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "happening.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
