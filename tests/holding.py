"""For tests of work a server does once it has sent its answer (AnswerFirst): hold that work
while the test looks at what the caller got, then see it done."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager


@contextmanager
def held(monkeypatch, owner, name: str):
    """Hold every call of ``owner.name`` until the block ends. Yields an event, set once a call
    is being held."""
    holding, release = threading.Event(), threading.Event()
    real = getattr(owner, name)

    def held_call(*args, **kwargs):
        holding.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, held_call)
    try:
        yield holding
    finally:
        release.set()


def once_recorded(row, *, seconds: float = 5):
    """``row`` read again until it is no longer pending (or ``seconds`` passed)."""
    deadline = time.monotonic() + seconds
    row.refresh_from_db()
    while row.is_pending and time.monotonic() < deadline:
        time.sleep(0.05)
        row.refresh_from_db()
    return row
