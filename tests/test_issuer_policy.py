"""A production process without a token issuer refuses to start; `serve` on loopback keeps its dev issuer."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from happening_engine.config import HttpSettings, OidcSettings, Settings
from happening_engine.issuer_policy import IssuerMissing, is_loopback, start_dev_issuer


def _settings(host: str, issuer: str | None = None) -> Settings:
    return Settings(http=HttpSettings(host=host), oidc=OidcSettings(issuer=issuer))


def test_serve_on_loopback_starts_the_dev_issuer_as_before() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert start_dev_issuer(_settings(host), "serve", dev_flag=False) is True


def test_without_issuer_any_other_process_refuses_unless_asked() -> None:
    for command, host in (("serve", "0.0.0.0"), ("serve", "10.1.2.3"), ("api", "127.0.0.1"), ("api", "0.0.0.0")):
        with pytest.raises(IssuerMissing, match="HAPPENING_OIDC_ISSUER"):
            start_dev_issuer(_settings(host), command, dev_flag=False)
        assert start_dev_issuer(_settings(host), command, dev_flag=True) is True


def test_a_configured_issuer_never_starts_the_dev_one() -> None:
    for command in ("serve", "api"):
        assert start_dev_issuer(_settings("127.0.0.1", "https://id.example/realms/h"), command, True) is False
    assert not is_loopback("0.0.0.0") and not is_loopback("happening-api")


@pytest.mark.parametrize("argv", [["api"], ["serve"]])
def test_the_command_line_exits_with_a_clear_message(argv: list[str]) -> None:
    """As the image runs it: HAPPENING_HTTP_HOST=0.0.0.0 and no issuer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPENING_")}
    env.update(HAPPENING_HTTP_HOST="0.0.0.0", HAPPENING_HTTP_PORT="1", HAPPENING_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "happening.cli", *argv], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "no token issuer configured" in done.stderr and "--dev-issuer" in done.stderr
