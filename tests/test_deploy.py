"""Static checks of the Docker deployment files (no Docker needed).

docker-compose.yml, deploy/Dockerfile, .dockerignore, the Keycloak realm and the Prometheus
config are parsed and cross-checked against each other and against `happening_engine.config`,
so that a typo (an env var the settings never read, a mount of a missing file, an issuer that
does not match the realm) fails here instead of at `docker compose up`.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

from happening_engine.config import Settings  # noqa: E402
from tests.settings_env import settings_env_map  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROD_REALM = ROOT / "deploy" / "keycloak" / "prod" / "happening-realm.json"
DEV_REALM = ROOT / "deploy" / "keycloak" / "dev" / "happening-realm.json"
RABBITMQ_DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"

INFRA = {"postgres", "redis", "rabbitmq", "keycloak", "mailpit"}
DATA = {"postgres", "redis", "rabbitmq"}
HAPPENING_SERVICES = {"migrate", "api", "engine", "worker"}
LONG_RUNNING = {"api", "engine", "worker"}
SUBCOMMANDS = {"migrate", "serve", "api", "engine", "worker", "dev-issuer", "check-invariants", "notifications"}

# service -> {(host address, host port, container port)}; every service not listed publishes nothing.
# Only the app listens on every interface; consoles, Keycloak and Mailpit on loopback; no broker port.
EXPECTED_PORTS = {
    "rabbitmq": {("127.0.0.1", 15672, 15672)},
    "keycloak": {("127.0.0.1", 8180, 8080)},
    "api": {("", 8080, 8080)},
    "prometheus": {("127.0.0.1", 9090, 9090)},
    "grafana": {("127.0.0.1", 3000, 3000)},
    "mailpit": {("127.0.0.1", 8025, 8025)},
}
# each service's own broker user, on the `happening` vhost (deploy/rabbitmq/definitions.json)
AMQP_URLS = {
    "migrate": "amqp://happening-ops:dev-ops@rabbitmq:5672/happening",
    "api": "amqp://happening-api:dev-api@rabbitmq:5672/happening",
    "engine": "amqp://happening-engine:dev-engine@rabbitmq:5672/happening",
    "worker": "amqp://happening-worker:dev-worker@rabbitmq:5672/happening",
}

EXPECTED_HAPPENING_ENV = {
    "HAPPENING_DATABASE_URL": "postgresql://postgres:dev-postgres@postgres:5432/happening",
    "HAPPENING_REDIS_URL": "redis://redis:6379/0",
    "HAPPENING_OIDC_ISSUER": "http://localhost:8180/realms/happening",
    "HAPPENING_OIDC_INTERNAL_URL": "http://keycloak:8080/realms/happening",
    "HAPPENING_OIDC_AUDIENCE": "happening-api",
    "HAPPENING_HTTP_HOST": "0.0.0.0",
    "HAPPENING_HTTP_PORT": "8080",
    "HAPPENING_LOG_FORMAT": "json",
    "HAPPENING_NOTIFY_SMTP_URL": "smtp://mailpit:1025",
    "HAPPENING_ENGINE_SHARDS": "1",
}


def interpolate(value: Any) -> str:
    """A compose value with `${VAR:-default}` resolved to its default (as with no .env file)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    return json.loads(PROD_REALM.read_text())


@pytest.fixture(scope="module")
def dev_realm() -> dict[str, Any]:
    return json.loads(DEV_REALM.read_text())


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a dict (compose accepts a mapping or a KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def command_argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition} (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published_ports(service: dict[str, Any]) -> set[tuple[str, int, int]]:
    """(host address or "" for every interface, host port, container port) per published port."""
    result = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):  # long syntax
            if port.get("published") is not None:
                result.add((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/", 1)[0]  # drop /tcp, /udp
        parts = spec.rsplit(":", 2)
        assert len(parts) >= 2, f"port {port!r} is not published on the host (container port only)"
        address = parts[0] if len(parts) == 3 else ""
        result.add((address, int(parts[-2]), int(parts[-1])))
    return result


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, is_bind) for each volume entry."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result.append((volume.get("source", ""), volume["target"], volume.get("type") == "bind"))
            continue
        parts = volume.split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        result.append((source, target, source.startswith((".", "/", "~"))))
    return result


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def resolve(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


# --------------------------------------------------------------------------- compose


def test_expected_services_exist(services):
    assert INFRA | HAPPENING_SERVICES | {"prometheus"} <= set(services)


def test_every_service_has_an_image_or_an_existing_dockerfile(services):
    for name, service in services.items():
        build = service.get("build")
        assert service.get("image") or build, f"{name}: neither image nor build"
        if build is None:
            continue
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        context_dir = (ROOT / context).resolve()
        assert context_dir.is_dir(), f"{name}: build context {context} is missing"
        assert (context_dir / dockerfile).is_file(), f"{name}: {dockerfile} is missing"


def test_happening_services_build_deploy_dockerfile_from_repo_root(services):
    for name in HAPPENING_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_bind_mounts_exist_and_named_volumes_are_declared(compose, services):
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in services.items():
        for source, target, is_bind in mounts(service):
            if is_bind:
                assert (ROOT / source).exists(), f"{name}: bind mount source {source} is missing"
            elif source:
                assert source in declared, f"{name}: named volume {source} is not declared"
            assert target.startswith("/"), f"{name}: mount target {target} is not absolute"


def test_specific_mounts(services):
    keycloak = {t: s for s, t, _ in mounts(services["keycloak"])}
    assert (ROOT / keycloak["/opt/keycloak/data/import"]).resolve() == DEV_REALM.parent
    prometheus = {t: s for s, t, _ in mounts(services["prometheus"])}
    assert (ROOT / prometheus["/etc/prometheus"]).resolve() == PROMETHEUS_FILE.parent
    rabbitmq = {t: s for s, t, _ in mounts(services["rabbitmq"])}
    assert (ROOT / rabbitmq["/etc/rabbitmq/definitions.json"]).resolve() == RABBITMQ_DEFINITIONS
    conf = (ROOT / rabbitmq["/etc/rabbitmq/conf.d/20-happening.conf"]).read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in conf
    postgres = {t: s for s, t, _ in mounts(services["postgres"])}
    assert "create database keycloak owner keycloak" in (ROOT / postgres[
        "/docker-entrypoint-initdb.d/10-keycloak-db.sh"]).read_text()


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"


def test_depends_on_names_real_services_with_valid_conditions(services):
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert dep != name, f"{name} depends on itself"
            assert condition in conditions, f"{name}: bad condition {condition}"


def test_service_healthy_targets_have_a_healthcheck(services):
    image_has_healthcheck = any(kw == "HEALTHCHECK" for kw, _ in dockerfile_instructions(DOCKERFILE))
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            if condition != "service_healthy":
                continue
            healthcheck = services[dep].get("healthcheck") or {}
            own = bool(healthcheck.get("test")) and not healthcheck.get("disable")
            inherited = "build" in services[dep] and image_has_healthcheck and not healthcheck.get("disable")
            assert own or inherited, f"{name} waits for {dep} to be healthy, which it never is"


def test_infra_services_have_healthchecks(services):
    for name in INFRA:
        healthcheck = services[name].get("healthcheck")
        assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), name
    assert "pg_isready" in json.dumps(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    keycloak_check = " ".join(services["keycloak"]["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/9000" in keycloak_check and "/health/ready" in keycloak_check
    assert "curl" not in keycloak_check and "wget" not in keycloak_check  # not in the image


def test_healthchecks_escape_shell_variables(services):
    """Compose interpolates `$name` itself; a shell variable must be written `$$name`."""
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        text = " ".join(test) if isinstance(test, list) else test
        lone = re.findall(r"(?<!\$)\$(?!\$)(?!\{)\w+", text.replace("$$", ""))
        assert not lone, f"{name}: healthcheck uses {lone} (write $$ for the shell)"


def test_published_ports(services):
    for name, service in services.items():
        assert published_ports(service) == EXPECTED_PORTS.get(name, set()), name
    for name in DATA:  # no data service's port is reachable from the host
        assert all(port not in {5432, 6379, 5672} for _, port, _ in published_ports(services[name]))


def test_happening_commands_are_valid_subcommands(services):
    for name in HAPPENING_SERVICES:
        argv = command_argv(services[name])
        assert argv[:1] == ["happening"], f"{name}: {argv}"
        assert argv[1] in SUBCOMMANDS, f"{name}: unknown subcommand {argv[1]}"
        assert argv[1] == name, f"{name} runs `happening {argv[1]}`"
    engine = command_argv(services["engine"])
    shard = int(engine[engine.index("--shard") + 1])
    shards = int(engine[engine.index("--shards") + 1])
    assert (shard, shards) == (0, 1)


def test_startup_order(services):
    migrate = services["migrate"]
    assert migrate["restart"] == "no"  # the string, not YAML false
    assert depends_on(migrate) == {"postgres": "service_healthy"}
    for name in LONG_RUNNING:
        deps = depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        for data in DATA:
            assert deps.get(data) == "service_healthy", f"{name} does not wait for {data}"
    # only the API uses the issuer; engine and worker start without waiting for Keycloak
    assert depends_on(services["api"]).get("keycloak") == "service_healthy"
    assert "keycloak" not in depends_on(services["engine"]) and "keycloak" not in depends_on(services["worker"])
    assert depends_on(services["keycloak"]) == {"postgres": "service_healthy"}
    assert depends_on(services["worker"]).get("mailpit") == "service_healthy"


def test_happening_services_share_one_configuration(services):
    first = services["api"]
    for name in HAPPENING_SERVICES:
        service = services[name]
        assert service["build"] == first["build"], name
        assert service.get("image") == first.get("image"), name
        env = {k: interpolate(v) for k, v in environment(service).items()}
        assert env.pop("HAPPENING_AMQP_URL") == AMQP_URLS[name], name
        assert env == EXPECTED_HAPPENING_ENV, name


def test_each_service_has_its_own_broker_user():
    definitions = json.loads(RABBITMQ_DEFINITIONS.read_text())
    assert [v["name"] for v in definitions["vhosts"]] == ["happening"]
    users = {u["name"]: u for u in definitions["users"]}
    assert "guest" not in users and all("password" not in u for u in users.values())
    for url in AMQP_URLS.values():
        user = url.split("//", 1)[1].split(":", 1)[0]
        assert user in users and not users[user]["tags"], user
        assert url.endswith("@rabbitmq:5672/happening")
    assert len(set(AMQP_URLS.values())) == len(AMQP_URLS)
    granted = {(p["user"], p["vhost"]) for p in definitions["permissions"]}
    assert {(user, "happening") for user in users} == granted


def test_environment_values_are_strings(services):
    """Compose rejects YAML booleans in environment (write "true")."""
    for name, service in services.items():
        for key, value in environment(service).items():
            assert isinstance(value, (str, int, float)) and not isinstance(value, bool), (
                f"{name}: {key}={value!r}"
            )


def test_happening_env_vars_are_read_by_settings(services):
    known = settings_env_map()
    for name in HAPPENING_SERVICES:
        env = {k: interpolate(v) for k, v in environment(services[name]).items()}
        for key in env:
            assert key.startswith("HAPPENING_"), f"{name}: {key} is not a Happening variable"
            assert key in known, f"{name}: Settings.from_env never reads {key}"
        settings = Settings.from_env(env)
        for key, value in env.items():
            assert str(resolve(settings, known[key])) == value, f"{name}: {key} did not come through"
        assert settings.oidc.effective_issuer == "http://localhost:8180/realms/happening"
        assert settings.oidc.fetch_base == "http://keycloak:8080/realms/happening"
        assert settings.amqp.url == AMQP_URLS[name]
        assert settings.http.host == "0.0.0.0" and settings.http.port == 8080


def test_keycloak_runs_on_postgres_and_agrees_with_happening(services, dev_realm):
    keycloak = services["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:26")
    assert command_argv(keycloak) == ["start", "--import-realm"]  # not start-dev: accounts in PostgreSQL
    kc_env = {k: interpolate(v) for k, v in environment(keycloak).items()}
    assert kc_env["KC_DB"] == "postgres" and kc_env["KC_DB_URL"] == "jdbc:postgresql://postgres:5432/keycloak"
    assert kc_env["KC_DB_PASSWORD"] == interpolate(environment(services["postgres"])["KEYCLOAK_DB_PASSWORD"])
    assert kc_env["KC_BOOTSTRAP_ADMIN_USERNAME"] and kc_env["KC_BOOTSTRAP_ADMIN_PASSWORD"] != "admin"
    assert kc_env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true" and kc_env["KC_HEALTH_ENABLED"] == "true"
    app_env = environment(services["api"])
    assert app_env["HAPPENING_OIDC_ISSUER"] == f"{kc_env['KC_HOSTNAME']}/realms/{dev_realm['realm']}"
    [(_, host_port, container_port)] = published_ports(keycloak)
    assert int(kc_env["KC_HOSTNAME"].rsplit(":", 1)[1]) == host_port
    assert app_env["HAPPENING_OIDC_INTERNAL_URL"] == f"http://keycloak:{container_port}/realms/{dev_realm['realm']}"
    # every placeholder of the dev realm is given by compose or has a default
    text = DEV_REALM.read_text()
    for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text):
        assert name in kc_env, f"the dev realm's ${{{name}}} has no value in compose"
    assert kc_env["KC_SMTP_HOST"] == "mailpit" and kc_env["KC_SMTP_PORT"] == "1025"
    assert kc_env["KC_IDP_GOOGLE_ENABLED"] == kc_env["KC_IDP_GITHUB_ENABLED"] == "false"


def test_rabbitmq_and_postgres_match_the_urls(services):
    pg = {k: interpolate(v) for k, v in environment(services["postgres"]).items()}
    assert pg["POSTGRES_DB"] == "happening"
    url = EXPECTED_HAPPENING_ENV["HAPPENING_DATABASE_URL"]
    assert url.startswith(f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/")


# --------------------------------------------------------------------------- Keycloak realm


def test_realm_basics(realm):
    assert realm["realm"] == "happening"
    assert realm["enabled"] is True
    assert realm["registrationAllowed"] is True
    assert realm["loginWithEmailAllowed"] is True
    # a self-registered user must verify their email before an invite (sent to that email) applies
    assert realm["verifyEmail"] is True and realm["resetPasswordAllowed"] is True
    assert realm["defaultSignatureAlgorithm"] == "RS256"
    smtp = realm["smtpServer"]
    assert smtp["host"] == "${KC_SMTP_HOST}" and smtp["port"].startswith("${KC_SMTP_PORT")
    # Declaring clientScopes would stop Keycloak from creating its built-in scopes (profile,
    # email, basic...), which the clients below refer to by name.
    assert "clientScopes" not in realm


def test_realm_api_client_is_only_an_audience(realm):
    [client] = [c for c in realm["clients"] if c["clientId"] == "happening-api"]
    assert client["bearerOnly"] is True and client["publicClient"] is False
    for flow in ("standardFlowEnabled", "implicitFlowEnabled", "directAccessGrantsEnabled", "serviceAccountsEnabled"):
        assert client[flow] is False, flow
    assert client["redirectUris"] == [] and client["webOrigins"] == []


def test_no_password_grant_in_the_production_realm(realm, dev_realm):
    assert not any(c["directAccessGrantsEnabled"] for c in realm["clients"])
    [dev_api] = [c for c in dev_realm["clients"] if c["clientId"] == "happening-api"]
    assert dev_api["directAccessGrantsEnabled"] is True and dev_api["publicClient"] is True
    [mapper] = [m for m in dev_api["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
    assert mapper["config"]["included.custom.audience"] == "happening-api"


def _web_client(realm: dict[str, Any]) -> dict[str, Any]:
    [client] = [c for c in realm["clients"] if c["clientId"] == Settings().oidc.web_client_id == "happening-web"]
    return client


def test_realm_web_client(realm, dev_realm):
    """The browser app signs in with the authorization code flow + PKCE S256 only, to exact URIs, and
    its access tokens carry the API audience (the API checks `aud`, the web client is only `azp`)."""
    for r in (realm, dev_realm):
        client = _web_client(r)
        assert client["enabled"] is True and client["protocol"] == "openid-connect"
        assert client["publicClient"] is True and client["standardFlowEnabled"] is True
        assert client["directAccessGrantsEnabled"] is False and client["implicitFlowEnabled"] is False
        assert client.get("serviceAccountsEnabled", False) is False
        assert client["attributes"]["pkce.code.challenge.method"] == "S256"
        assert all("*" not in uri for uri in client["redirectUris"])
        assert {"basic", "profile", "email", "web-origins"} <= set(client["defaultClientScopes"])
        [mapper] = [m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
        assert mapper["config"]["access.token.claim"] == "true"
        assert mapper["config"]["included.custom.audience"] == EXPECTED_HAPPENING_ENV["HAPPENING_OIDC_AUDIENCE"]
        assert len({c["clientId"] for c in r["clients"]}) == len(r["clients"]) == 2
    prod = _web_client(realm)
    assert prod["redirectUris"] == ["${HAPPENING_PUBLIC_URL}/auth/callback"]
    assert prod["webOrigins"] == ["${HAPPENING_PUBLIC_URL}"]
    dev = _web_client(dev_realm)
    app_origins = ["http://127.0.0.1:8080", "http://localhost:8080"]
    assert dev["redirectUris"] == [f"{origin}/auth/callback" for origin in app_origins]
    assert dev["webOrigins"] == app_origins
    assert dev["attributes"]["post.logout.redirect.uris"].split("##") == [f"{origin}/" for origin in app_origins]


def test_realm_identity_providers_come_from_placeholders_and_are_off_when_unset(realm, dev_realm):
    for r in (realm, dev_realm):
        providers = {p["alias"]: p for p in r["identityProviders"]}
        assert set(providers) == {"google", "github"}
        for alias, provider in providers.items():
            up = alias.upper()
            assert provider["providerId"] == alias
            assert provider["enabled"] == f"${{KC_IDP_{up}_ENABLED:false}}"
            assert provider["config"]["clientId"] == f"${{KC_IDP_{up}_CLIENT_ID:unset}}"
            assert provider["config"]["clientSecret"] == f"${{KC_IDP_{up}_CLIENT_SECRET:unset}}"
            assert "CHANGE_ME" not in json.dumps(provider)
            assert provider["config"]["syncMode"] == "IMPORT"


# --------------------------------------------------------------------------- Prometheus


def test_prometheus_scrapes_every_role(services):
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    targets: set[tuple[str, int, str]] = set()
    for job in config["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":  # Prometheus scraping itself
                    continue
                assert host in services, f"{job['job_name']}: {host} is not a compose service"
                targets.add((host, int(port), path))
    http_port = int(EXPECTED_HAPPENING_ENV["HAPPENING_HTTP_PORT"])
    assert targets == {(name, http_port, "/metrics") for name in LONG_RUNNING}


# --------------------------------------------------------------------------- image


def test_dockerfile_stages():
    """web (Node) -> build (virtualenv) -> slim runtime: no build tools in the final image, non-root, and a
    default command that refuses to run without an issuer instead of starting the dev one."""
    instructions = dockerfile_instructions(DOCKERFILE)
    froms = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    stages = [instructions[i][1].split() for i in froms]
    assert stages == [["node:20-slim", "AS", "web"], ["python:3.11-slim", "AS", "build"],
                      ["python:3.11-slim", "AS", "runtime"]]
    final = instructions[froms[-1]:]
    # the web app's static export is built in a Node stage and served by the API from web/out
    assert ("RUN", "npm ci --no-audit --no-fund") in instructions and ("RUN", "npm run build") in instructions
    assert ("COPY", "--from=web /web/out /app/web/out") in final
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final and ("COPY", "--from=build /app /app") in final
    build = instructions[froms[1]:froms[2]]
    assert any("pip install --no-cache-dir --no-deps -e /app" in args for kw, args in build if kw == "RUN")
    final_runs = " ".join(args for kw, args in final if kw == "RUN")
    assert "pip install" not in final_runs and "apt-get" not in final_runs
    keywords = [kw for kw, _ in final]
    assert keywords.count("CMD") == 1 and keywords.count("HEALTHCHECK") == 1
    assert "ENTRYPOINT" not in keywords  # compose and Kubernetes commands start with `happening`
    assert json.loads(dict(final)["CMD"]) == ["happening", "api"]  # refuses without HAPPENING_OIDC_ISSUER
    env = " ".join(args for kw, args in final if kw == "ENV")
    assert "HAPPENING_HTTP_HOST=0.0.0.0" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HAPPENING_OIDC_ISSUER" not in env
    healthcheck = dict(final)["HEALTHCHECK"]
    assert "urllib" in healthcheck and "/healthz" in healthcheck
    assert "${HAPPENING_HTTP_PORT:-8080}" in healthcheck
    users = [args for kw, args in final if kw == "USER"]
    assert users and users[-1] == "10001:10001", "runs as root"


def test_dockerignore_keeps_what_the_package_needs():
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".pytest_cache", "loadtests/results"} <= patterns
    assert patterns & {"__pycache__", "**/__pycache__"}
    assert patterns & {"*.egg-info", "**/*.egg-info"}
    needed = {"lua", "sql", "happening_engine", "api", "setup.cfg", "pyproject.toml", "README.md"}
    assert not patterns & (needed | {f"{n}/" for n in needed} | {"*", "**"})
