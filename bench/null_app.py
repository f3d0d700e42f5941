"""The lightest WSGI app: served by granian like idp, it gives the HTTP ceiling of this machine and client."""

_BODY = b'{"status":"alive"}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))])
    return [_BODY]
