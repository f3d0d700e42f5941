"""Registered clients, kept in each process for a few seconds.

Every protocol request looks its client up, and the lookup was the largest
single cost of a token exchange. A client changes rarely, so each process keeps
the ones it met, as read-only copies, for ``clients.cache_seconds``.
A change committed in this process (dynamic registration, the admin pages,
tests) forgets the client at once; a change from another process or node
(the ``idp`` command) is seen within that time. Unknown client ids are never
kept, so guessing ids cannot fill the cache.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from idp.extensions import db
from idp.models import Client

_MAX_CLIENTS = 1024  # relying parties of a national login number in the hundreds
_PENDING = "idp.client_cache.changed"
_ALL = frozenset({"*every client*"})  # the pending mark for "forget them all"
_BY_CLIENT_ID = sa.select(Client.__table__).where(Client.__table__.c.client_id == sa.bindparam("client_id"))


class ClientCache:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._clients: OrderedDict[str, tuple[float, Client]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        """The client registered as ``client_id``: from this process's copy while it is fresh."""
        moment = time.monotonic()
        with self._lock:
            kept = self._clients.get(client_id)
            if kept is not None and kept[0] > moment:
                self._clients.move_to_end(client_id)
                return kept[1]
        row = db.session.execute(_BY_CLIENT_ID, {"client_id": client_id}).mappings().first()
        if row is None:
            return None
        # A transient copy, in no session: no commit expires it, no flush writes it back, and
        # an object the request loaded itself stays its own.
        client = Client(**row)
        if self._seconds <= 0:
            return client
        with self._lock:
            self._clients[client_id] = (moment + self._seconds, client)
            self._clients.move_to_end(client_id)
            while len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
        return client

    def forget(self, client_ids: set[str] | None) -> None:
        """Forget these clients; None: every client."""
        with self._lock:
            if client_ids is None:
                self._clients.clear()
            for client_id in client_ids or ():
                self._clients.pop(client_id, None)


_caches: weakref.WeakSet[ClientCache] = weakref.WeakSet()  # one per app in this process


def forget_on_commit(cache: ClientCache) -> None:
    """Forget a client in ``cache`` when a change to it commits in this process."""
    _caches.add(cache)
    if not event.contains(Session, "before_flush", _note_changed_clients):
        event.listen(Session, "before_flush", _note_changed_clients)
        event.listen(Session, "do_orm_execute", _note_bulk_change)
        event.listen(Session, "after_commit", _forget_changed_clients)
        event.listen(Session, "after_rollback", _drop_changed_clients)


def _note_changed_clients(session: Session, _context: object, _instances: object) -> None:
    changed = {obj.client_id for obj in (*session.new, *session.dirty, *session.deleted) if isinstance(obj, Client)}
    pending = session.info.setdefault(_PENDING, set())
    if changed and pending is not _ALL:
        pending.update(changed)


def _note_bulk_change(state: ORMExecuteState) -> None:
    # An UPDATE or DELETE statement on clients names no objects: forget them all on commit.
    if (state.is_update or state.is_delete) and state.bind_mapper is not None and state.bind_mapper.class_ is Client:
        state.session.info[_PENDING] = _ALL


def _forget_changed_clients(session: Session) -> None:
    changed = session.info.pop(_PENDING, None)
    if changed:
        for cache in list(_caches):
            cache.forget(None if changed is _ALL else changed)


def _drop_changed_clients(session: Session) -> None:
    session.info.pop(_PENDING, None)
