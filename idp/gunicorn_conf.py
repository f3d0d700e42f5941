"""gunicorn settings that belong to the code, not to the command line (``--config python:idp.gunicorn_conf``)."""

import html

from gunicorn import util
from gunicorn.glogging import Logger
from prometheus_client import multiprocess


class _Logger(Logger):
    """gunicorn's logger without its access log: the app's idp.access lines replace it.

    Theirs prints query strings (login hints, transaction ids). Without this, ``logconfig_dict``
    makes gunicorn build every request's access fields and a log record that no handler
    writes: 28 µs a request, half of what the app spends answering /jwks.
    """

    def access(self, resp, req, environ, request_time) -> None:
        return None


logger_class = _Logger

# gunicorn's own messages (start, worker exits, timeouts) as JSON lines like the app's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "idp.ops.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}

# A request gunicorn cannot parse never reaches the app: gunicorn answers it itself, 400 for a
# malformed request line or header, 414 for a request line over limit_request_line bytes, 431 for
# more than limit_request_fields headers or one over limit_request_field_size bytes. These are
# gunicorn's defaults, named because the app relies on them: a POSTed authorization request is
# resent as a GET only when its URL stays under same_site.MAX_URL_BYTES, below limit_request_line.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# The control socket sits at one path per user; several nodes on one host would
# fight over it, and nothing here uses it.
control_socket_disable = True


def child_exit(server, worker) -> None:
    # A dead worker's gauges must not be reported as live; its counters stay summed.
    multiprocess.mark_process_dead(worker.pid)


# The app is built once in the master and the workers are forked from it, sharing its
# pages: a worker's own memory (PSS) fell from 36 to 21 MiB, RSS from 90 to 81 MiB.
# A new release needs a restart: SIGHUP starts new workers from the code already loaded.
preload_app = True


def when_ready(server) -> None:
    # Before any worker is forked: they all write gunicorn's own error responses this way.
    from idp.app import security_headers

    util.write_error = _error_writer(security_headers(server.app.wsgi().config["IDP"]))


def _error_writer(headers: list[tuple[str, str]]):
    """gunicorn's ``util.write_error`` with the app's security headers, and a page that echoes nothing.

    gunicorn offers no setting or hook for the responses it writes itself; its own page
    quotes the offending request line back. Replacing the function its workers call is
    the one way in; tests/production/test_ops.py checks it still holds after an upgrade.
    """
    security = "".join(f"{name}: {value}\r\n" for name, value in headers)

    def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
        title = html.escape(f"{status_int} {reason}")
        body = f"<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n".encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n{security}\r\n"
        )
        util.write_nonblock(sock, head.encode("latin-1") + body)

    return write_error


def post_fork(server, worker) -> None:
    from idp.extensions import db

    app = server.app.wsgi()
    # Nothing the master connected may be shared by two processes; workers open their own.
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
