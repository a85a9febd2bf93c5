"""The host's defences: CSRF tokens, sign-in rate limits, security headers, safe redirects.

- Every state-changing browser form carries a CSRF token (Flask-WTF's `CSRFProtect`); a
  POST without a valid token is refused, also when the client has no session at all. The
  API is exempt: it authenticates with a bearer token, which a browser never sends by itself.
- Sign-in (`POST /login`, `POST /api/v1/auth/token`) is rate-limited with Flask-Limiter per
  client address (every attempt) and per account (failed attempts), answering 429 with
  `Retry-After`; storage is in memory, or Redis when `RATELIMIT_STORAGE_URI` says so.
- Every response carries a Content-Security-Policy, frame and type-sniffing protection.
"""

from urllib.parse import urlsplit

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_UNSAFE = {chr(c) for c in range(0x21)} | {"\\", "\x7f"}


def defaults() -> dict:
    """Return the security settings' defaults (instance/config.py may override them)."""
    return {
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": False,  # True behind HTTPS
        "SESSION_LIFETIME": 8 * 3600,  # seconds a browser session lives
        "API_TOKEN_LIFETIME": 12 * 3600,  # seconds an API token lives
        "PASSWORD_HASH_METHOD": "scrypt",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "WTF_CSRF_FIELD_NAME": "csrf_token",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_LIMIT_PER_ADDRESS": "30 per minute",
        "LOGIN_FAILURES_PER_ACCOUNT": "5 per 15 minutes",
    }


def _account() -> str:
    """Return the account a sign-in attempt names (form or JSON), for per-account limits."""
    try:
        body = request.get_json(silent=True) if request.is_json else request.form
    except RecursionError:  # the view's input gate answers 400; the limit still counts
        body = None
    name = body.get("username") if isinstance(body, dict) else None
    return f"account:{name}"[:120] if isinstance(name, str) else "account:?"


def _failed(response) -> bool:
    return response.status_code == 401


def init_app(app, sign_in_endpoints, other_limited=()) -> Limiter:
    """Protect `app`: CSRF on forms, limits on the sign-in views, headers on every answer.

    `other_limited` endpoints (a password change) are limited per client address only.
    """
    csrf.init_app(app)
    limiter = Limiter(get_remote_address, app=app)
    config, views = app.config, app.view_functions
    per_address = limiter.limit(config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"],
                                error_message="too many sign-in attempts from your address")
    per_account = limiter.limit(config["LOGIN_FAILURES_PER_ACCOUNT"], key_func=_account,
                                methods=["POST"], deduct_when=_failed, scope="account",
                                error_message="too many failed sign-ins for this account")
    for endpoint in sign_in_endpoints:
        views[endpoint] = per_address(per_account(views[endpoint]))
    for endpoint in other_limited:
        views[endpoint] = per_address(views[endpoint])

    @app.after_request
    def add_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return limiter


def same_origin_path(target, fallback: str) -> str:
    """Return `target` if it is a path on this site, else `fallback`.

    The target is parsed, never prefix-checked: anything with a scheme, a host, a backslash,
    whitespace or control characters (browsers drop tabs: `/\\t/evil.example`) is refused.
    """
    if not isinstance(target, str) or not target or any(c in _UNSAFE for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")


def back_to_referrer(fallback: str) -> str:
    """Return the Referer's path if the Referer is this very site, else `fallback`."""
    referrer = request.referrer
    if not referrer:
        return fallback
    parts = urlsplit(referrer)
    own = urlsplit(request.host_url)
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
        return fallback
    return same_origin_path(parts.path + (f"?{parts.query}" if parts.query else ""), fallback)
