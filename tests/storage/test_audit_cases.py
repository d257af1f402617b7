"""Contract tests of the audit log (SQLite, PostgreSQL, MongoDB)."""

from __future__ import annotations

import json
import logging

import pytest

from podium_model.audit import AuditFilter
from podium_storage import Storage
from podium_storage.interface import InvalidCursor


async def test_record_then_list_newest_first_with_cursor(storage: Storage) -> None:
    """Entries list newest first, a page at a time; each reads back as it was recorded."""
    recorded = [
        await storage.record_audit("admin", "user.disable", f"user/u{n}", {"n": n, "nested": {"a.b": ["$x"]}})
        for n in range(5)
    ]
    first = await storage.list_audit(limit=2)
    assert [e.id for e in first.items] == [recorded[4].id, recorded[3].id]
    assert first.items[0] == recorded[4]
    assert first.next_cursor is not None
    second = await storage.list_audit(limit=2, cursor=first.next_cursor)
    third = await storage.list_audit(limit=2, cursor=second.next_cursor)
    assert [e.target for e in [*second.items, *third.items]] == ["user/u2", "user/u1", "user/u0"]
    assert third.next_cursor is None
    with pytest.raises(InvalidCursor):
        await storage.list_audit(cursor="not-a-cursor")


async def test_filters_combine(storage: Storage) -> None:
    """Filters by actor, action and target combine with AND."""
    await storage.record_audit("admin", "user.create", "user/ann")
    await storage.record_audit("admin", "token.revoke", "user/ann")
    await storage.record_audit("root", "user.create", "user/bob")
    by_actor = await storage.list_audit(AuditFilter(actor="admin"))
    assert [e.action for e in by_actor.items] == ["token.revoke", "user.create"]
    both = await storage.list_audit(AuditFilter(action="user.create", target="user/bob"))
    assert [e.actor for e in both.items] == ["root"]
    assert (await storage.list_audit(AuditFilter(actor="nobody"))).items == []


async def test_record_writes_one_structured_log_line(storage: Storage, caplog: pytest.LogCaptureFixture) -> None:
    """Each recorded entry is also one `podium.audit` log line holding the entry as JSON."""
    with caplog.at_level(logging.INFO, logger="podium.audit"):
        entry = await storage.record_audit("admin", "worker.disable", "worker/w1", {"is_enabled": False})
    lines = [r.getMessage() for r in caplog.records if r.name == "podium.audit"]
    assert len(lines) == 1 and lines[0].startswith("audit ")
    assert json.loads(lines[0].removeprefix("audit "))["id"] == entry.id
