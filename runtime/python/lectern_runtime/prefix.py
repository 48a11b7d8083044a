"""Serving under the public prefix the proxy strips (/content/<guid> or a vanity path).

The per-request X-Forwarded-Prefix wins over the prefix known at start, so one worker serves both
its /content/<guid>/ URL and its vanity path.
"""


def request_prefix(header_value, default):
    prefix = (header_value or default or "").strip()
    return prefix.rstrip("/")


class WSGIPrefix:
    """Sets SCRIPT_NAME, so url_for() and redirects include the prefix."""

    def __init__(self, app, default_prefix):
        self.app = app
        self.default_prefix = default_prefix

    def __call__(self, environ, start_response):
        prefix = request_prefix(environ.get("HTTP_X_FORWARDED_PREFIX"), self.default_prefix)
        if prefix:
            environ["SCRIPT_NAME"] = prefix
        proto = environ.get("HTTP_X_FORWARDED_PROTO")
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = environ.get("HTTP_X_FORWARDED_HOST")
        if host:
            environ["HTTP_HOST"] = host
        return self.app(environ, start_response)


class ASGIPrefix:
    """Sets root_path (FastAPI's docs, Starlette's url_for) from the forwarded prefix."""

    def __init__(self, app, default_prefix):
        self.app = app
        self.default_prefix = default_prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            raw = headers.get(b"x-forwarded-prefix")
            prefix = request_prefix(raw.decode("latin-1") if raw else None, self.default_prefix)
            if prefix:
                scope = dict(scope)
                scope["root_path"] = prefix
                # Newer Starlette routes on path minus root_path, so the path carries the prefix too.
                if not scope["path"].startswith(prefix + "/") and scope["path"] != prefix:
                    scope["path"] = prefix + scope["path"]
                    raw_path = scope.get("raw_path")
                    if raw_path is not None:
                        scope["raw_path"] = prefix.encode("latin-1") + raw_path
            proto = headers.get(b"x-forwarded-proto")
            if proto in (b"http", b"https"):
                scope = dict(scope)
                scope["scheme"] = proto.decode() if scope["type"] == "http" else ("wss" if proto == b"https" else "ws")
        await self.app(scope, receive, send)
