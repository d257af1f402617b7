"""Contract tests of webhooks out: notifications on projects, the outbox written with a run's end, attempts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from podium_model import RunSource, RunStatus, RunUpdate, utcnow
from podium_model.notifications import DeliveryAttempt, DeliveryFilter, DeliveryStatus, Notification
from podium_storage import InvalidCursor, Storage
from podium_storage.interface import RunWrite

ALL = Notification(url="http://127.0.0.1:9/all", events=["run.finished", "run.failed"], secret="HOOK")
BUILDS = Notification(url="https://example.com/b?x=1", events=["run.succeeded"], jobs=["build"], secret="HOOK")
NOTIFY = {"p": [ALL, BUILDS]}


async def _ended(storage: Storage, job: str, to: RunStatus, notifications: object = NOTIFY) -> str:
    run = await storage.create_run("p", job, {"big": "x" * 2000}, RunSource())
    await storage.transition_run(run.id, [RunStatus.pending], RunStatus.running)
    write = RunWrite(run.id, RunUpdate(completed_at=utcnow()), to, (RunStatus.running,), notifications)  # type: ignore[arg-type]
    (moved,) = await storage.write_runs([write])
    assert moved is not None and moved.status is to
    return run.id


async def test_notifications_are_stored_with_the_project(storage: Storage) -> None:
    """A project's notifications read back as given, and a later put replaces them."""
    stored = await storage.put_project("p", "P", {}, [ALL, BUILDS])
    assert stored.notifications == [ALL, BUILDS]
    assert (await storage.get_project("p")) == stored
    assert (await storage.list_projects())[0].notifications == [ALL, BUILDS]
    assert (await storage.put_project("p", "P")).notifications == []


async def test_a_final_write_stores_its_deliveries_in_order(storage: Storage) -> None:
    """The events each notification wants, ids `<run>.<n>`, pending and due at once, bodies the run's end."""
    failed = await _ended(storage, "build", RunStatus.failed)
    succeeded = await _ended(storage, "build", RunStatus.succeeded)
    other = await _ended(storage, "deploy", RunStatus.succeeded)  # BUILDS wants only `build`
    pending = await storage.list_pending_deliveries()
    assert [(d.id, d.event, d.url) for d in pending] == [
        (f"{failed}.00", "run.failed", ALL.url),
        (f"{failed}.01", "run.finished", ALL.url),
        (f"{succeeded}.00", "run.finished", ALL.url),
        (f"{succeeded}.01", "run.succeeded", BUILDS.url),
        (f"{other}.00", "run.finished", ALL.url),
    ]
    first = pending[0]
    assert first.status is DeliveryStatus.pending and first.attempts == [] and first.attempt_count == 0
    assert first.next_attempt_at is not None and first.secret == "HOOK" and first.job == "build"
    body = json.loads(first.body)
    assert body["id"] == first.id and body["event"] == "run.failed" and body["project"] == "p"
    assert body["run"]["id"] == failed and body["run"]["status"] == "failed"
    assert body["run"]["parameters"]["big"] == "x" * 1024 and body["run"]["truncated_parameters"] == ["big"]


async def test_writes_without_notifications_store_nothing(storage: Storage) -> None:
    """No notifications given, another project's, or a status that is not final: no delivery."""
    await _ended(storage, "build", RunStatus.failed, None)
    await _ended(storage, "build", RunStatus.failed, {"other": [ALL]})
    run = await storage.create_run("p", "build", {}, RunSource())
    await storage.write_runs([RunWrite(run.id, None, RunStatus.running, (RunStatus.pending,), NOTIFY)])
    assert await storage.list_pending_deliveries() == []
    assert await storage.recover_deliveries(NOTIFY) == 0


async def test_attempts_are_recorded_until_delivered(storage: Storage) -> None:
    """Each attempt is appended with its outcome; delivered or failed ones leave the pending list."""
    run_id = await _ended(storage, "build", RunStatus.failed)
    first, second = await storage.list_pending_deliveries()
    later = utcnow() + timedelta(seconds=5)
    refused = DeliveryAttempt(attempt=1, at=utcnow(), status_code=500, error="answered 500", duration_ms=3)
    updated = await storage.record_delivery_attempt(first.id, refused, DeliveryStatus.pending, later)
    assert updated is not None and updated.attempts == [refused] and updated.attempt_count == 1
    assert updated.next_attempt_at is not None and abs(updated.next_attempt_at - later) < timedelta(milliseconds=1)
    ok = DeliveryAttempt(attempt=2, at=utcnow(), status_code=204)
    done = await storage.record_delivery_attempt(first.id, ok, DeliveryStatus.delivered, None)
    assert done is not None and done.status is DeliveryStatus.delivered and done.attempts == [refused, ok]
    assert done.next_attempt_at is None
    given_up = DeliveryAttempt(attempt=1, at=utcnow(), error="timed out after 10 s")
    await storage.record_delivery_attempt(second.id, given_up, DeliveryStatus.failed, None)
    assert await storage.list_pending_deliveries() == []
    assert await storage.record_delivery_attempt("nope", ok, DeliveryStatus.delivered, None) is None

    page = await storage.list_deliveries("p")
    assert [d.id for d in page.items] == [second.id, first.id] and page.next_cursor is None
    assert [d.status for d in page.items] == [DeliveryStatus.failed, DeliveryStatus.delivered]
    assert not hasattr(page.items[0], "body")
    assert (await storage.list_deliveries("p", DeliveryFilter(status=DeliveryStatus.failed))).items[0].id == second.id
    assert len((await storage.list_deliveries("p", DeliveryFilter(run=run_id))).items) == 2
    assert (await storage.list_deliveries("other")).items == []


async def test_only_the_latest_attempts_are_listed(storage: Storage) -> None:
    """A delivery lists its latest attempts; `attempt_count` counts them all."""
    await _ended(storage, "deploy", RunStatus.succeeded)
    (delivery,) = await storage.list_pending_deliveries()
    for number in range(1, 33):
        attempt = DeliveryAttempt(attempt=number, at=utcnow(), status_code=503)
        updated = await storage.record_delivery_attempt(delivery.id, attempt, DeliveryStatus.pending, utcnow())
    assert updated is not None and updated.attempt_count == 32
    assert [a.attempt for a in updated.attempts] == list(range(3, 33))


async def test_listing_pages_and_cursors(storage: Storage) -> None:
    """Newest first, one page at a time; a foreign cursor is refused."""
    for _ in range(3):
        await _ended(storage, "deploy", RunStatus.succeeded)
    first = await storage.list_deliveries("p", limit=2)
    assert len(first.items) == 2 and first.next_cursor is not None
    rest = await storage.list_deliveries("p", limit=2, cursor=first.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None
    ids = [d.id for d in [*first.items, *rest.items]]
    assert ids == sorted(ids, reverse=True)
    with pytest.raises(InvalidCursor):
        await storage.list_deliveries("p", cursor="garbage")


async def test_deleting_a_run_deletes_its_deliveries(storage: Storage) -> None:
    """Retention removes an ended run's deliveries with it."""
    run_id = await _ended(storage, "build", RunStatus.failed)
    kept = await _ended(storage, "deploy", RunStatus.succeeded)
    assert await storage.delete_runs([run_id]) == 1
    assert [d.run for d in (await storage.list_deliveries("p")).items] == [kept]


async def test_a_delivery_is_claimed_by_one_sender_until_its_lease_ends(storage: Storage) -> None:
    """Of two masters claiming one delivery one holds it; the other takes it once it was recorded or the lease ended."""
    await storage.put_project("p", "P", {}, [ALL])
    await _ended(storage, "build", RunStatus.failed)
    first = (await storage.list_pending_deliveries())[0]
    lease = utcnow() + timedelta(seconds=60)
    assert await storage.claim_delivery(first.id, "a", lease) is True
    assert await storage.claim_delivery(first.id, "b", lease) is False  # a holds it
    assert await storage.claim_delivery(first.id, "a", lease) is True  # its holder again: still its own
    assert (await storage.list_pending_deliveries())[0].id == first.id  # still listed, for the lease's end
    # a recorded a failure due in 60 s: its lease ended, but nobody may send it before it is due.
    attempt = DeliveryAttempt(attempt=1, at=utcnow(), status_code=500, error="answered 500", duration_ms=3)
    await storage.record_delivery_attempt(first.id, attempt, DeliveryStatus.pending, utcnow() + timedelta(seconds=60))
    assert await storage.claim_delivery(first.id, "b", lease) is False
    await storage.record_delivery_attempt(first.id, attempt, DeliveryStatus.pending, utcnow() - timedelta(seconds=1))
    assert await storage.claim_delivery(first.id, "b", utcnow() - timedelta(seconds=1)) is True  # due: b takes it
    assert await storage.claim_delivery(first.id, "a", lease) is True  # b died mid-send: its lease ended
    await storage.record_delivery_attempt(first.id, attempt, DeliveryStatus.delivered, None)
    assert await storage.claim_delivery(first.id, "a", lease) is False  # delivered: nothing to send
    assert await storage.claim_delivery("unknown.00", "a", lease) is False
