"""The recording transaction maps DynamoDB's cancellation reasons to the right items, whatever
order the calls were made in (PynamoDB sends checks, deletes, puts, then updates)."""

import pytest
from pynamodb.exceptions import TransactWriteError

from chalicelib.booking.models import BookingLock, Session
from chalicelib.core.outbox import transaction
from chalicelib.core.transact import RecordingTransactWrite, failed_items


def _lock(key, **kw):
    BookingLock(key, **kw).save()


@pytest.mark.parametrize("failing", ["check", "delete", "put", "update"])
def test_failed_items_names_the_failing_item(aws, failing):
    _lock("present", n=1)
    _lock("gone-check", n=1)
    ok = BookingLock.key.exists()
    bad = BookingLock.key.does_not_exist()
    tx = None
    with pytest.raises(TransactWriteError) as err:
        with transaction() as t:
            tx = t
            assert isinstance(t, RecordingTransactWrite)
            # calls deliberately out of the order they are sent in
            t.update(BookingLock("upd"), actions=[BookingLock.n.add(1)],
                     condition=bad if failing != "update" else ok)
            t.save(BookingLock("new-put"), condition=BookingLock.key.does_not_exist() if failing != "put" else ok)
            t.delete(BookingLock("present"), condition=ok if failing != "delete" else bad)
            t.condition_check(BookingLock, "gone-check", condition=ok if failing != "check" else bad)
    expected = {"check": "gone-check", "delete": "present", "put": "new-put", "update": "upd"}[failing]
    assert failed_items(tx, err.value) == [(BookingLock.Meta.table_name, expected)]


def test_failed_items_on_several_tables(aws):
    with pytest.raises(TransactWriteError) as err:
        with transaction() as tx:
            tx.update(Session("no-such-session"), actions=[Session.used.add(1)], condition=Session.used < 1)
            tx.save(BookingLock("fresh"), condition=BookingLock.key.does_not_exist())
    assert failed_items(tx, err.value) == [(Session.Meta.table_name, "no-such-session")]
