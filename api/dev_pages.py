"""The dev issuer's HTML (sign-in form, error page, signed-out page): self-contained under a strict CSP,
every value through `html.escape`, controls named by their `<label>`s so browser tests find them by role."""
from __future__ import annotations

from collections.abc import Mapping
from html import escape

from aiohttp import web

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the sign-in URL carries state and nonce
    "X-Content-Type-Options": "nosniff",
}
_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;color:#1a1a1a;background:#f6f6f6}
main{max-width:24rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;
  box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.5rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin-top:1rem}
input{box-sizing:border-box;width:100%;font:inherit;padding:.6rem;margin-top:.25rem;border:1px solid #767676;
  border-radius:.25rem}
input:focus,button:focus{outline:3px solid #1a56db;outline-offset:2px}
.hint{color:#555;font-size:.875rem;margin:.25rem 0 0}
.error{color:#b00020;font-weight:600}
button{margin-top:1.5rem;width:100%;font:inherit;font-weight:600;padding:.75rem;border:0;border-radius:.25rem;
  background:#1a56db;color:#fff;cursor:pointer}
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
    return web.Response(text=document, content_type="text/html", status=status, headers=_HEADERS)


def sign_in_page(action: str, hidden: Mapping[str, str], email: str = "", name: str = "",
                 error: str | None = None) -> web.Response:
    """The form; the authorization request rides along in hidden fields and is checked again on POST."""
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items() if v)
    invalid = ' aria-invalid="true" aria-describedby="email-error"' if error else ""
    alert = f'<p id="email-error" class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        "<h1>Sign in to Happening</h1>"
        '<p class="hint">Development sign-in: no password is asked.</p>'
        f'<form method="post" action="{escape(action)}">{fields}'
        '<label for="email">Email</label>'
        f'<input id="email" name="email" type="email" autocomplete="email" required autofocus'
        f' value="{escape(email)}"{invalid}>{alert}'
        '<label for="name">Name</label>'
        f'<input id="name" name="name" type="text" autocomplete="name" maxlength="200" value="{escape(name)}"'
        ' aria-describedby="name-hint">'
        '<p id="name-hint" class="hint">Optional: defaults to the part of the email before the @.</p>'
        '<button type="submit">Sign in</button></form>'
    )
    return _page("Sign in to Happening", body, status=400 if error else 200)


def error_page(message: str, status: int = 400) -> web.Response:
    """For a request the issuer cannot redirect back (unknown client, untrusted redirect URI)."""
    body = f'<h1>Sign-in error</h1><p role="alert">{escape(message)}</p>'
    return _page("Sign-in error", body, status=status)


def signed_out_page() -> web.Response:
    return _page("Signed out", "<h1>Signed out</h1><p>You are signed out of Happening.</p>")
