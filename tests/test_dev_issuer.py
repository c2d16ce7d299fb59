"""The dev issuer's browser sign-in, driven over HTTP like a browser and oidc-client-ts would:
authorization code + PKCE, token exchange, refresh rotation, userinfo, logout, CORS, prompt=none.
Access tokens from the flow are checked against the real API (`GET /v1/me`)."""
from __future__ import annotations

import asyncio
import os
import re
import secrets
import stat
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer

from api import dev_issuer as dev_issuer_module
from api.dev_grants import s256
from api.dev_issuer import DevIssuer

WEB = "happening-web"
APP = "http://localhost:3000"
CALLBACK = f"{APP}/auth/callback"


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser-like session: keeps cookies (also for 127.0.0.1), never follows redirects by itself."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def _request(verifier: str, **changes: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": WEB, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid profile email",
        "state": secrets.token_hex(8), "nonce": secrets.token_hex(8), "code_challenge": s256(verifier),
        "code_challenge_method": "S256", **changes}
    return {k: v for k, v in params.items() if v is not None}


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _sign_in(browser: aiohttp.ClientSession, base: str, params: dict[str, str], email: str,
                   name: str = "") -> dict[str, str]:
    """Open the sign-in page, submit it, and return the redirect's query (asserting it goes to redirect_uri)."""
    async with browser.get(f"{base}/protocol/openid-connect/auth", params=params, allow_redirects=False) as page:
        assert page.status == 200, await page.text()
        html = await page.text()
    hidden = {k: v for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)}
    assert hidden["code_challenge"] == params["code_challenge"]
    async with browser.post(f"{base}/protocol/openid-connect/auth", data={**hidden, "email": email, "name": name},
                            allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        location = response.headers["Location"]
    assert location.startswith(params["redirect_uri"] + "?")
    return _query(location)


async def _token(browser: aiohttp.ClientSession, base: str, **form: str) -> tuple[int, dict[str, Any]]:
    async with browser.post(f"{base}/protocol/openid-connect/token", data=form) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def _exchange(browser: aiohttp.ClientSession, base: str, code: str, verifier: str,
                    redirect_uri: str = CALLBACK, client_id: str = WEB) -> tuple[int, dict[str, Any]]:
    return await _token(browser, base, grant_type="authorization_code", code=code, client_id=client_id,
                        redirect_uri=redirect_uri, code_verifier=verifier)


async def _me(api_client: Any, access: str) -> tuple[int, dict[str, Any]]:
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    return response.status, await response.json()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _email() -> str:
    return f"web{uuid.uuid4().hex[:10]}@example.test"


async def test_discovery_lists_what_oidc_client_ts_reads(browser, dev_issuer) -> None:
    async with browser.get(f"{dev_issuer.issuer}/.well-known/openid-configuration") as response:
        doc = await response.json()
    endpoints = f"{dev_issuer.issuer}/protocol/openid-connect"
    # MetadataService: issuer, authorization/token/userinfo/end_session endpoints and jwks_uri.
    assert doc["issuer"] == dev_issuer.issuer
    assert doc["authorization_endpoint"] == f"{endpoints}/auth"
    assert doc["token_endpoint"] == f"{endpoints}/token"
    assert doc["userinfo_endpoint"] == f"{endpoints}/userinfo"
    assert doc["end_session_endpoint"] == f"{endpoints}/logout"
    assert doc["jwks_uri"] == f"{endpoints}/certs"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "password"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "email"} <= set(doc["scopes_supported"])
    assert "query" in doc["response_modes_supported"] and doc["subject_types_supported"] == ["public"]
    assert doc["token_endpoint_auth_methods_supported"] == ["none"]


async def test_sign_in_page_is_labelled_and_escapes_what_it_echoes(browser, dev_issuer) -> None:
    params = _request(secrets.token_urlsafe(32), state='"><script>alert(1)</script>')
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/auth", params=params) as page:
        assert page.status == 200 and page.content_type == "text/html"
        html = await page.text()
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert re.search(r'<label for="email">Email</label><input id="email" name="email" type="email"', html)
    assert re.search(r'<label for="name">Name</label><input id="name" name="name" type="text"', html)
    assert '<button type="submit">Sign in</button>' in html
    assert 'name="viewport" content="width=device-width' in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert not re.search(r'(src|href)="https?:', html)  # no external assets


async def test_the_flow_gives_tokens_the_api_accepts(browser, dev_issuer, api_client) -> None:
    verifier, email = secrets.token_urlsafe(48), _email()
    params = _request(verifier)
    callback = await _sign_in(browser, dev_issuer.issuer, params, email.upper(), "Web  Person")
    assert callback["state"] == params["state"] and callback["iss"] == dev_issuer.issuer
    assert callback["code"] and callback["session_state"]
    status, tokens = await _exchange(browser, dev_issuer.issuer, callback["code"], verifier)
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile email"
    assert tokens["expires_in"] == dev_issuer.ttl and 0 < tokens["refresh_expires_in"] <= 1800
    assert tokens["session_state"] == callback["session_state"] and tokens["refresh_token"]
    access, id_token = _claims(tokens["access_token"]), _claims(tokens["id_token"])
    assert (access["aud"], access["azp"], access["typ"], access["email"]) == ("happening-api", WEB, "Bearer", email)
    assert (id_token["aud"], id_token["azp"], id_token["typ"]) == (WEB, WEB, "ID")
    assert id_token["nonce"] == params["nonce"] and id_token["sid"] == callback["session_state"]
    assert id_token["sub"] == access["sub"]
    assert id_token["sub"] == _claims(dev_issuer.issue(email))["sub"]  # same user as the password grant
    assert id_token["iss"] == dev_issuer.issuer and "auth_time" in id_token and id_token["exp"] > id_token["iat"]
    status, me = await _me(api_client, tokens["access_token"])
    assert status == 200, me
    assert (me["email"], me["full_name"]) == (email, "Web Person")
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/userinfo",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"}) as response:
        assert response.status == 200
        info = await response.json()
    assert info == {"sub": access["sub"], "email": email, "email_verified": True, "name": "Web Person",
                    "preferred_username": email}
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/userinfo",
                           headers={"Authorization": f"Bearer {tokens['id_token']}"}) as response:
        assert response.status == 401 and "invalid_token" in response.headers["WWW-Authenticate"]


async def test_name_defaults_to_the_local_part_and_a_bad_email_is_asked_again(browser, dev_issuer, api_client) -> None:
    verifier, email = secrets.token_urlsafe(48), _email()
    params = _request(verifier)
    form_url = f"{dev_issuer.issuer}/protocol/openid-connect/auth"
    async with browser.post(form_url, data={**params, "email": "not-an-email"}, allow_redirects=False) as page:
        assert page.status == 400
        html = await page.text()
    assert 'role="alert"' in html and 'aria-invalid="true"' in html and "Location" not in page.headers
    callback = await _sign_in(browser, dev_issuer.issuer, params, email)
    status, tokens = await _exchange(browser, dev_issuer.issuer, callback["code"], verifier)
    assert status == 200, tokens
    assert (await _me(api_client, tokens["access_token"]))[1]["full_name"] == email.split("@")[0]


@pytest.mark.parametrize("mistake", ["wrong verifier", "no verifier", "short verifier", "reused code",
                                     "other redirect_uri", "other client", "unknown code"])
async def test_a_code_exchange_that_is_not_exactly_right_is_refused(browser, dev_issuer, mistake) -> None:
    # RFC 7636: a verifier has 43 to 128 characters, even when its challenge matches.
    verifier = "a" * 42 if mistake == "short verifier" else secrets.token_urlsafe(48)
    callback = await _sign_in(browser, dev_issuer.issuer, _request(verifier), _email())
    code, form = callback["code"], {"verifier": verifier, "redirect_uri": CALLBACK, "client_id": WEB}
    if mistake == "wrong verifier":
        form["verifier"] = secrets.token_urlsafe(48)
    elif mistake == "no verifier":
        form["verifier"] = ""
    elif mistake == "reused code":
        assert (await _exchange(browser, dev_issuer.issuer, code, verifier))[0] == 200
    elif mistake == "other redirect_uri":
        form["redirect_uri"] = "http://localhost:3000/elsewhere"
    elif mistake == "other client":
        form["client_id"] = "happening-api"
    elif mistake == "unknown code":
        code = secrets.token_urlsafe(32)
    status, body = await _exchange(browser, dev_issuer.issuer, code, form["verifier"], form["redirect_uri"],
                                   form["client_id"])
    assert (status, body["error"]) == (400, "invalid_grant"), body
    assert body["error_description"]
    if mistake != "reused code":  # a refused attempt uses the code up too
        assert (await _exchange(browser, dev_issuer.issuer, code, verifier))[0] == 400


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/cb", "http://127.0.0.1.evil.example/cb",
                                          "http://127.0.0.1@evil.example/cb", "javascript:alert(1)",
                                          "http://localhost:3000/cb#frag", "http://user@localhost:3000/cb", ""])
async def test_an_untrusted_redirect_uri_gets_an_error_page_never_a_redirect(browser, dev_issuer,
                                                                             redirect_uri) -> None:
    params = _request(secrets.token_urlsafe(48), redirect_uri=redirect_uri)
    url = f"{dev_issuer.issuer}/protocol/openid-connect/auth"
    for method, kwargs in (("GET", {"params": params}), ("POST", {"data": {**params, "email": _email()}})):
        async with browser.request(method, url, allow_redirects=False, **kwargs) as response:
            assert response.status == 400 and response.content_type == "text/html"
            assert "Location" not in response.headers and "redirect_uri" in await response.text()


async def test_an_unknown_client_gets_an_error_page(browser, dev_issuer) -> None:
    params = _request(secrets.token_urlsafe(48), client_id="someone-else")
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/auth", params=params,
                           allow_redirects=False) as response:
        assert response.status == 400 and "Location" not in response.headers


@pytest.mark.parametrize("changes", [{"code_challenge": None, "code_challenge_method": None},
                                     {"code_challenge_method": "plain"}, {"code_challenge_method": None},
                                     {"code_challenge": "short"}, {"response_type": "token"}])
async def test_pkce_s256_and_response_type_code_are_required(browser, dev_issuer, changes) -> None:
    params = _request(secrets.token_urlsafe(48), **changes)
    url = f"{dev_issuer.issuer}/protocol/openid-connect/auth"
    # The page refuses it, and so does a form whose hidden fields were edited.
    for method, kwargs in (("GET", {"params": params}), ("POST", {"data": {**params, "email": _email()}})):
        async with browser.request(method, url, allow_redirects=False, **kwargs) as response:
            assert response.status == 302
            callback = _query(response.headers["Location"])
        assert callback["error"] in ("invalid_request", "unsupported_response_type")
        assert "code" not in callback and callback["state"] == params["state"]
    assert not browser.cookie_jar.filter_cookies(url)  # nobody was signed in


async def test_refresh_rotates_and_outlives_an_expired_access_token(browser, dev_issuer, api_client) -> None:
    # A second issuer with the same name and key (so the API trusts it) whose access tokens are born
    # expired beyond the API's 10 s leeway.
    quick = DevIssuer(dev_issuer.issuer, "happening-api", dev_issuer.key, ttl=-11)
    server = TestServer(quick.app(), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url(dev_issuer_module.REALM_PATH))
        verifier, email = secrets.token_urlsafe(48), _email()
        callback = await _sign_in(browser, base, _request(verifier), email)
        status, first = await _exchange(browser, base, callback["code"], verifier)
        assert status == 200, first
        assert (await _me(api_client, first["access_token"]))[0] == 401
        quick.ttl = 300
        await asyncio.sleep(1.1)  # the refreshed ID token must keep the sign-in's auth_time, not take now
        status, second = await _token(browser, base, grant_type="refresh_token", client_id=WEB,
                                      refresh_token=first["refresh_token"], scope="openid profile email")
        assert status == 200, second
        assert second["refresh_token"] != first["refresh_token"] and second["expires_in"] == 300
        status, me = await _me(api_client, second["access_token"])
        assert status == 200 and me["email"] == email
        old, new = _claims(first["id_token"]), _claims(second["id_token"])
        for claim in ("sub", "auth_time", "azp", "sid", "nonce"):  # oidc-client-ts compares sub, auth_time, azp
            assert new[claim] == old[claim], claim
        status, body = await _token(browser, base, grant_type="refresh_token", client_id=WEB,
                                    refresh_token=first["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = await _token(browser, base, grant_type="refresh_token", client_id="happening-api",
                                    refresh_token=second["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")  # another client's token (and now used up)
    finally:
        await server.close()


async def test_a_refresh_token_expires(browser, dev_issuer) -> None:
    stale = DevIssuer(dev_issuer.issuer, "happening-api", dev_issuer.key, refresh_ttl=0)
    server = TestServer(stale.app(), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url(dev_issuer_module.REALM_PATH))
        verifier = secrets.token_urlsafe(48)
        callback = await _sign_in(browser, base, _request(verifier), _email())
        status, tokens = await _exchange(browser, base, callback["code"], verifier)
        assert status == 200 and tokens["refresh_expires_in"] == 0
        status, body = await _token(browser, base, grant_type="refresh_token", client_id=WEB,
                                    refresh_token=tokens["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
    finally:
        await server.close()


async def test_prompt_none_signs_in_silently_only_with_a_session(browser, dev_issuer) -> None:
    url = f"{dev_issuer.issuer}/protocol/openid-connect/auth"
    verifier = secrets.token_urlsafe(48)
    silent = _request(verifier, prompt="none")
    async with browser.get(url, params=silent, allow_redirects=False) as response:
        assert response.status == 302
        callback = _query(response.headers["Location"])
    assert callback["error"] == "login_required" and callback["state"] == silent["state"] and "code" not in callback
    first = await _sign_in(browser, dev_issuer.issuer, _request(secrets.token_urlsafe(48)), _email(), "Silent")
    async with browser.get(url, params=silent, allow_redirects=False) as response:
        assert response.status == 302
        callback = _query(response.headers["Location"])
    assert callback["session_state"] == first["session_state"] and callback["state"] == silent["state"]
    status, tokens = await _exchange(browser, dev_issuer.issuer, callback["code"], verifier)
    assert status == 200 and _claims(tokens["id_token"])["name"] == "Silent"
    async with browser.get(url, params=_request(verifier)) as page:  # with a session: the form, pre-filled
        assert page.status == 200 and 'value="Silent"' in await page.text()


async def test_logout_ends_the_session_and_its_refresh_tokens(browser, dev_issuer) -> None:
    verifier = secrets.token_urlsafe(48)
    callback = await _sign_in(browser, dev_issuer.issuer, _request(verifier), _email())
    status, tokens = await _exchange(browser, dev_issuer.issuer, callback["code"], verifier)
    assert status == 200
    logout = f"{dev_issuer.issuer}/protocol/openid-connect/logout"
    async with browser.get(logout, params={"post_logout_redirect_uri": "https://evil.example/",
                                           "id_token_hint": tokens["id_token"]}, allow_redirects=False) as response:
        assert response.status == 400 and "Location" not in response.headers
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": f"{APP}/", "client_id": WEB,
              "state": "bye"}
    async with browser.get(logout, params=params, allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == f"{APP}/?state=bye"
    assert not browser.cookie_jar.filter_cookies(logout)  # the SSO cookie is gone
    status, body = await _token(browser, dev_issuer.issuer, grant_type="refresh_token", client_id=WEB,
                                refresh_token=tokens["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/userinfo",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"}) as response:
        assert response.status == 401
    async with browser.get(f"{dev_issuer.issuer}/protocol/openid-connect/auth",
                           params=_request(verifier, prompt="none"), allow_redirects=False) as response:
        assert _query(response.headers["Location"])["error"] == "login_required"
    async with browser.get(logout) as page:  # no redirect asked: a page says so
        assert page.status == 200 and "Signed out" in await page.text()


@pytest.mark.parametrize("endpoint", ["/.well-known/openid-configuration", "/protocol/openid-connect/certs",
                                      "/protocol/openid-connect/token", "/protocol/openid-connect/userinfo"])
async def test_cors_for_loopback_origins_only(browser, dev_issuer, endpoint) -> None:
    url = dev_issuer.issuer + endpoint
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173"):
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type, authorization"}
        async with browser.options(url, headers=headers) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == origin
            allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"content-type", "authorization"} <= allowed
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
            assert "Origin" in response.headers["Vary"]
    async with browser.get(dev_issuer.issuer + "/.well-known/openid-configuration",
                           headers={"Origin": "http://localhost:3000"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    for origin in ("https://evil.example", "http://localhost.evil.example", "http://localhost:3000/path", "null"):
        preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        async with browser.options(url, headers=preflight) as response:
            assert "Access-Control-Allow-Origin" not in response.headers
        async with browser.get(dev_issuer.issuer + "/.well-known/openid-configuration",
                               headers={"Origin": origin}) as response:
            assert "Access-Control-Allow-Origin" not in response.headers and response.headers["Vary"] == "Origin"


async def test_password_grant_unchanged_and_unknown_grants_refused(browser, dev_issuer) -> None:
    status, body = await _token(browser, dev_issuer.issuer, grant_type="password", client_id="happening-api",
                                username="Script@Example.test", password="x")
    assert status == 200 and set(body) == {"access_token", "token_type", "expires_in"}
    claims = _claims(body["access_token"])
    assert (claims["email"], claims["aud"], claims["azp"]) == ("script@example.test", "happening-api", "happening-api")
    status, body = await _token(browser, dev_issuer.issuer, grant_type="implicit", client_id=WEB)
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_auth_config_names_the_web_client(api_client) -> None:
    response = await api_client.get("/v1/auth/config")
    assert response.status == 200
    body = await response.json()
    assert body["web_client_id"] == WEB and body["client_id"] == "happening-api" and body["audience"]
    assert body["issuer"]


def test_the_key_file_is_private_and_reused(tmp_path) -> None:
    path = tmp_path / "dev-key.pem"
    key = dev_issuer_module.load_or_create_key(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = dev_issuer_module.load_or_create_key(str(path))
    assert again.private_numbers() == key.private_numbers()
