"""gunicorn settings that belong to the code, not to the command line (``--config python:idp.gunicorn_conf``)."""

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    # A dead worker's gauges must not be reported as live; its counters stay summed.
    multiprocess.mark_process_dead(worker.pid)
