"""Teacher URLs as they may be stored or shown: credentials out.

A teacher's ``base_url`` (or an AWS ``endpoint_url``) may carry credentials: userinfo
(``http://user:sk-...@host/v1``, sent by httpx as HTTP Basic auth) or a secret query parameter
(``?api_key=...``, a pre-signed ``X-Amz-Signature``).  The request goes to the real URL; everything that is
*kept or printed* (cache fingerprints, ``meta.teacher`` of generated lines, error messages, ``repr``) uses
:func:`redact_url`, and free text that may quote the URL (a server's or a library's error message) goes
through :func:`mask_secrets` with the URL's :func:`url_secrets`.

A URL with nothing secret in it comes back from :func:`redact_url` unchanged, character for character, so
cache keys built from it stay what they were.
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

#: what a secret is replaced with
MASK = "***"

#: what :func:`redact_url` shows for a string that does not parse as a URL but may hold a secret
UNSHOWN = "<a malformed URL, not shown>"

#: query parameter names whose values are secrets (compared case-insensitively, ``-`` and ``_`` alike)
SECRET_PARAMS: frozenset[str] = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "client_secret",
        "code",  # Azure Functions' function key
        "id_token",
        "key",
        "passwd",
        "password",
        "pwd",
        "refresh_token",
        "secret",
        "session_token",
        "sig",
        "signature",
        "subscription_key",
        "token",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_credential",
        "x_goog_signature",
    }
)

#: name endings that make any query parameter secret (``x-api-key``, ``my_token``, ``db_password``, ...)
SECRET_SUFFIXES: tuple[str, ...] = ("_key", "_token", "_secret", "_password", "_signature", "_credential")

#: secrets shorter than this are not masked in free text (a one-letter user name would garble every message)
_MIN_MASKED = 4


def is_secret_param(name: str) -> bool:
    """Whether a query parameter called ``name`` holds a secret (see :data:`SECRET_PARAMS`)."""
    normal = unquote_plus(name).strip().casefold().replace("-", "_")
    return normal in SECRET_PARAMS or normal.endswith(SECRET_SUFFIXES)


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def _may_hide_secrets(text: str) -> bool:
    """Whether a string that is not a URL with a host (``ftp//user:pw@...``) might still hold userinfo or a key."""
    return "@" in text or "=" in text


def _field_name(field: str) -> str:
    """The (raw) name of one ``name=value`` field of a query."""
    return field.partition("=")[0]


def redact_url(url: str) -> str:
    """``url`` with its userinfo replaced by ``***@`` and the values of secret query parameters by ``***``.

    ``http://user:pw@host:8000/v1?api-version=2&api_key=sk-1`` -> ``http://***@host:8000/v1?api-version=2&api_key=***``.
    The user name goes too: it is often the token itself (``https://<token>@host``).  A URL without secrets
    is returned unchanged; one that does not parse (or has no host but an ``@`` or ``=``) is not shown at all.
    """
    url = str(url)
    parts = _split(url)
    if parts is None or (not parts.netloc and _may_hide_secrets(url)):
        return UNSHOWN
    netloc = parts.netloc
    _, at, host = netloc.rpartition("@")
    if at:
        netloc = f"{MASK}@{host}"
    fields = parts.query.split("&") if parts.query else []
    query = "&".join(f"{_field_name(f)}={MASK}" if is_secret_param(_field_name(f)) else f for f in fields)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_secrets(url: str | None) -> list[str]:
    """The secret strings in ``url`` (userinfo, user name, password, secret query values; each as written and
    decoded), longest first, for :func:`mask_secrets`."""
    if not url:
        return []
    parts = _split(str(url))
    if parts is None or (not parts.netloc and _may_hide_secrets(str(url))):
        return [str(url)]
    found: set[str] = set()
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        user, _, password = userinfo.partition(":")
        found.update({userinfo, user, password})
    for field in parts.query.split("&") if parts.query else ():
        name, _, value = field.partition("=")
        if is_secret_param(name):
            found.add(value)
    found |= {unquote_plus(s) for s in found}
    return sorted((s for s in found if len(s) >= _MIN_MASKED), key=len, reverse=True)


def mask_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` (from :func:`url_secrets`) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
