"""The ``file`` gateways' outbox: JSON lines appended to one file, which the demo and the tests read."""

from __future__ import annotations

import json
import os
from pathlib import Path

from idp.clock import now


def append(path: Path, message: dict[str, object]) -> None:
    """Append ``message`` with the time it was sent, as one line readable only by this user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": now().isoformat(), **message}, ensure_ascii=False)
    # One write of one line with O_APPEND: concurrent workers do not interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)
