"""Liveness, readiness naming the dependency that is down, and Prometheus metrics."""
from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from happening.processes import create_app


def closed_port_url(scheme: str, path: str = "") -> str:
    """A URL to a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"{scheme}127.0.0.1:{port}{path}"


def broken(settings, name: str):
    if name == "postgresql":
        return dataclasses.replace(settings, database=dataclasses.replace(
            settings.database, url=closed_port_url("postgresql://postgres@", "/happening"), min_size=0))
    if name == "redis":
        return dataclasses.replace(settings, redis=dataclasses.replace(
            settings.redis, url=closed_port_url("redis://", "/0")))
    return dataclasses.replace(settings, amqp=dataclasses.replace(
        settings.amqp, url=closed_port_url("amqp://guest:guest@", "/")))


async def probe(settings, path: str, parts: tuple[str, ...] = ()):
    client = TestClient(TestServer(create_app(settings, parts=parts)))
    await client.start_server()
    try:
        response = await client.get(path)
        return response.status, response.headers.get("Content-Type", ""), await response.text()
    finally:
        await client.close()


async def test_ready_when_everything_answers(settings) -> None:
    status, _, body = await probe(settings, "/readyz")
    assert status == 200 and '"down": []' in body
    assert (await probe(settings, "/healthz"))[0] == 200


@pytest.mark.parametrize("down", ["postgresql", "redis", "rabbitmq"])
async def test_not_ready_names_the_dependency_that_is_down(settings, down: str) -> None:
    status, content_type, body = await probe(broken(settings, down), "/readyz")
    assert status == 503
    assert content_type.startswith("application/problem+json")
    assert f'"down": ["{down}"]' in body
    assert (await probe(broken(settings, down), "/healthz"))[0] == 200  # alive, just not ready


async def test_metrics_are_prometheus_text(settings) -> None:
    client = TestClient(TestServer(create_app(settings, parts=("api", "engine"))))
    await client.start_server()
    try:
        assert (await client.get(f"/v1/events/{uuid.uuid4()}")).status == 401
        response = await client.get("/metrics")
        body = await response.text()
    finally:
        await client.close()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert "happening_bookings_total" in body and "happening_active_actors" in body
    # requests are counted by route pattern, not by the ids in their paths
    assert 'happening_http_request_seconds_count{method="GET",route="/v1/events/{event}",status="401"}' in body


async def test_a_flood_of_readiness_probes_checks_the_dependencies_once(settings, monkeypatch) -> None:
    """Each check opens a RabbitMQ connection: 300 probes at once share one check (then its cached
    answer), instead of opening 300 connections."""
    import asyncio

    from api import health, keys

    monkeypatch.setattr(health, "CACHE_SECONDS", 600.0)  # however slowly the 300 arrive here

    client = TestClient(TestServer(create_app(settings, parts=())))
    await client.start_server()
    try:
        statuses = await asyncio.gather(*(client.get("/readyz") for _ in range(300)))
        assert [r.status for r in statuses] == [200] * 300
        assert client.app[keys.READINESS].checks == 1
    finally:
        await client.close()
