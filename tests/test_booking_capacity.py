"""Capacity is exact: deterministic interleavings of the service functions (two patients racing
for the last seat, payment racing expiry, patient cancel racing doctor cancel, capacity edit
racing a booking) and a hypothesis state machine over book / pay / expire / cancel / waitlist /
doctor-cancel / capacity edits with events delivered at arbitrary points.

moto does not make conditional writes atomic under threads, so races are played step by step:
each "patient" reads first (a stale snapshot), then both commit; DynamoDB's conditions decide.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.booking import peers as booking_peers
from chalicelib.booking import service as booking
from chalicelib.booking.models import LIVE, Booking, BookingLock, Session, WaitlistEntry
from chalicelib.core import clock as core_clock
from chalicelib.core import timers
from chalicelib.core.errors import ApiError, Conflict
from chalicelib.core.http import Caller
from chalicelib.core.ids import new_id
from tests.booking_support import FakePayments
from tests.support import OutboxDrain

DOCTOR = "doctor-1"
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _clear_tables():
    from chalicelib.domains import all_models

    for model in all_models():
        keys = [model._hash_keyname] + ([model._range_keyname] if model._range_keyname else [])
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)


def make_session(capacity=1, fee=5000, days=10) -> Session:
    starts = core_clock.now() + timedelta(days=days)
    sid = new_id()
    s = Session(sid, doctor_id=DOCTOR, status="open", status_start=booking._status_start("open", starts, sid),
                local_date=starts.astimezone(core_clock.SHANGHAI).date().isoformat(), starts_at=starts,
                ends_at=starts + timedelta(hours=2), hospital="协和", capacity=capacity, used=0, held=0,
                confirmed=0, fee_fen=fee, audience="bound", created_at=core_clock.now())
    s.save()
    return s


def make_patient(n_profiles=1) -> tuple[Caller, list[str]]:
    caller = Caller(new_id(), "patient")
    profiles = [new_id() for _ in range(n_profiles)]
    for p in profiles:  # what the bindings projection holds for an active binding
        BookingLock(booking._elig_key(DOCTOR, p), active=True, account_id=caller.account_id).save()
    return caller, profiles


def check_counts(session_id: str) -> Session:
    s = Session.get(session_id, consistent_read=True)
    bookings = [b for b in Booking.scan() if b.session_id == session_id]
    live = [b for b in bookings if b.status in LIVE]
    assert 0 <= int(s.used) <= int(s.capacity) or s.status == "cancelled" and int(s.used) >= 0
    assert int(s.used) == len(live)
    assert int(s.held) == sum(1 for b in live if b.status == "held") >= 0
    assert int(s.confirmed) == sum(1 for b in live if b.status != "held") >= 0
    per_profile = Counter(b.profile_id for b in live)
    assert not per_profile or max(per_profile.values()) == 1
    return s


@pytest.fixture
def env(aws, clock, monkeypatch):
    fake = FakePayments()
    monkeypatch.setattr(booking_peers, "payments", lambda: fake)
    d = OutboxDrain()
    d.skip_existing()
    return fake, d


def test_two_patients_race_for_the_last_seat(env):
    pay, drain = env
    s = make_session(capacity=1)
    (p1, [a]), (p2, [b]) = make_patient(), make_patient()
    seen_by_1 = Session.get(s.session_id)  # both read: one seat left
    seen_by_2 = Session.get(s.session_id)
    first = booking._take_seat(seen_by_1, account_id=p1.account_id, profile_id=a, source="book")
    with pytest.raises(Conflict) as exc:
        booking._take_seat(seen_by_2, account_id=p2.account_id, profile_id=b, source="book")
    assert exc.value.code == "session_full"
    assert first.status == "held"
    loser_order = next(o for o in pay.orders.values() if o.payer_account_id == p2.account_id)
    assert loser_order.status == "closed"  # the loser's order is closed, never payable
    s = check_counts(s.session_id)
    assert (int(s.used), int(s.held)) == (1, 1)


def test_payment_racing_expiry_either_order(env):
    pay, drain = env
    s = make_session(capacity=2)
    (p1, [a]), (p2, [b]) = make_patient(), make_patient()
    # expiry first, then the payment lands: released once, payment refunded in full
    b1 = booking._take_seat(s, account_id=p1.account_id, profile_id=a, source="book")
    assert booking.release_hold(b1.booking_id, "hold expired") is True
    assert booking.release_hold(b1.booking_id, "order closed", order_closed=True) is False
    pay.orders[b1.order_id].status = "created"
    pay.pay(b1.order_id)
    assert booking.confirm_paid(b1.booking_id, b1.order_id) == "refunded"
    assert booking.confirm_paid(b1.booking_id, b1.order_id) == "refunded"  # redelivered: same refund key
    assert pay.refunded_total(b1.order_id) == 5000
    # payment first, then the expiry timer: the confirmed seat stays
    b2 = booking._take_seat(Session.get(s.session_id), account_id=p2.account_id, profile_id=b, source="book")
    pay.pay(b2.order_id)
    assert booking.confirm_paid(b2.booking_id, b2.order_id) == "confirmed"
    assert booking.release_hold(b2.booking_id, "hold expired") is False
    s = check_counts(s.session_id)
    assert (int(s.used), int(s.held), int(s.confirmed)) == (1, 0, 1)
    assert BookingLock.get(booking._holds_key(p2.account_id)).n == 0


def test_patient_cancel_racing_doctor_cancel(env):
    pay, drain = env
    s = make_session(capacity=2)
    p1, [a] = make_patient()
    b1 = booking._take_seat(s, account_id=p1.account_id, profile_id=a, source="book")
    pay.pay(b1.order_id)
    booking.confirm_paid(b1.booking_id, b1.order_id)
    seen_by_patient = Booking.get(b1.booking_id)
    seen_by_doctor_fanout = Booking.get(b1.booking_id)
    booking._end_live(seen_by_patient, "cancelled", "cancelled by the patient")
    with pytest.raises(Conflict):
        booking._end_live(seen_by_doctor_fanout, "doctor_cancelled", "doctor cancelled the session")
    drain()
    assert pay.refunded_total(b1.order_id) == 5000
    assert len(pay.refunds) == 1
    s = check_counts(s.session_id)
    assert int(s.used) == 0


def test_capacity_cut_racing_a_booking(env):
    pay, drain = env
    s = make_session(capacity=2)
    (p1, [a]), (p2, [b]) = make_patient(), make_patient()
    booking._take_seat(s, account_id=p1.account_id, profile_id=a, source="book")
    doctor = Caller(DOCTOR, "doctor")
    stale = Session.get(s.session_id)  # the patient saw one seat left
    from chalicelib.booking.schemas import SessionUpdate

    booking.update_session(doctor, s.session_id, SessionUpdate(capacity=1))
    with pytest.raises(Conflict):
        booking._take_seat(stale, account_id=p2.account_id, profile_id=b, source="book")
    # and the other way round: a booking lands first, then the cut below it is refused
    booking.update_session(doctor, s.session_id, SessionUpdate(capacity=2))
    booking._take_seat(Session.get(s.session_id), account_id=p2.account_id, profile_id=b, source="book")
    with pytest.raises(Conflict) as exc:
        booking.update_session(doctor, s.session_id, SessionUpdate(capacity=1))
    assert exc.value.code == "capacity_below_taken"
    check_counts(s.session_id)


def test_freed_seat_taken_by_a_new_booking_before_the_waitlist_offer(env):
    pay, drain = env
    s = make_session(capacity=1)
    (p1, [a]), (p2, [b]), (p3, [c]) = make_patient(), make_patient(), make_patient()
    b1 = booking._take_seat(s, account_id=p1.account_id, profile_id=a, source="book")
    booking.join_waitlist(p2, s.session_id, b)
    drain()
    booking.cancel_booking(p1, b1.booking_id)  # seat freed; the offer is an event away
    booking._take_seat(Session.get(s.session_id), account_id=p3.account_id, profile_id=c, source="book")
    drain()  # the promotion finds the session full: the waiter keeps waiting
    assert [e.profile_id for e in WaitlistEntry.query(s.session_id)] == [b]
    s = check_counts(s.session_id)
    assert int(s.used) == 1


class BookingMachine(RuleBasedStateMachine):
    """Events (order.paid / order.closed / booking.released / ...) stay pending until a
    ``deliver`` step, so every rule also runs against not-yet-settled state."""

    def __init__(self):
        super().__init__()
        _clear_tables()
        self.clock = core_clock.FrozenClock(START)
        core_clock.set_clock(self.clock)
        self.pay = FakePayments()
        self._patch = patch.object(booking_peers, "payments", lambda: self.pay)
        self._patch.start()
        self.drain = OutboxDrain()
        self.drain.skip_existing()
        self.patients = [make_patient(2) for _ in range(3)]

    def teardown(self):
        self._patch.stop()
        core_clock.set_clock(None)

    @initialize(capacity=st.integers(1, 2))
    def publish(self, capacity):
        self.session = make_session(capacity=capacity)

    def _patient(self, i, j):
        caller, profiles = self.patients[i]
        return caller, profiles[j]

    def _bookings(self):
        return sorted(Booking.scan(), key=lambda b: b.booking_id)

    @rule(i=st.integers(0, 2), j=st.integers(0, 1))
    def book(self, i, j):
        caller, profile = self._patient(i, j)
        try:
            booking.book(caller, self.session.session_id, profile)
        except ApiError as exc:
            assert exc.status in (409, 422, 429), exc

    @rule(i=st.integers(0, 2), j=st.integers(0, 1))
    def join_waitlist(self, i, j):
        caller, profile = self._patient(i, j)
        try:
            booking.join_waitlist(caller, self.session.session_id, profile)
        except ApiError as exc:
            assert exc.status in (409, 422), exc

    @rule(k=st.integers(0, 20))
    def provider_pays(self, k):
        # mostly open orders; now and then a closed one (paid at the provider just before the close)
        orders = sorted(o for o in self.pay.orders if self.pay.orders[o].status == "created")
        if not orders or k == 20:
            orders = sorted(o for o in self.pay.orders if self.pay.orders[o].status == "closed")
        if orders:
            self.pay.pay(orders[k % len(orders)])

    @rule(k=st.integers(0, 20))
    def order_expires(self, k):
        orders = sorted(self.pay.orders)
        if orders:
            self.pay.expire(orders[k % len(orders)])

    @rule(minutes=st.integers(1, 20))
    def time_passes(self, minutes):
        self.clock.advance(minutes=minutes)
        timers.sweep()

    @rule(k=st.integers(0, 20))
    def patient_cancels(self, k):
        bs = [b for b in self._bookings() if b.status in LIVE] or self._bookings()
        if bs:
            b = bs[k % len(bs)]
            owner = next(c for c, ps in self.patients if b.profile_id in ps)
            try:
                booking.cancel_booking(owner, b.booking_id)
            except ApiError as exc:
                assert exc.status in (409, 422), exc

    @rule(k=st.integers(0, 20))
    def duplicate_paid_event(self, k):
        paid = [o for o in self.pay.orders.values() if o.status in ("paid", "refunded")]
        if paid:
            o = paid[k % len(paid)]
            booking.confirm_paid(o.product_id, o.order_id)

    @rule(capacity=st.integers(1, 4))
    def doctor_edits_capacity(self, capacity):
        from chalicelib.booking.schemas import SessionUpdate

        try:
            booking.update_session(Caller(DOCTOR, "doctor"), self.session.session_id, SessionUpdate(capacity=capacity))
        except ApiError as exc:
            assert exc.status == 409, exc

    @precondition(lambda self: getattr(self, "session", None) is not None)
    @rule(roll=st.integers(0, 9))
    def doctor_cancels(self, roll):
        if roll == 0:  # rare: it ends the interesting part
            try:
                booking.cancel_session(Caller(DOCTOR, "doctor"), self.session.session_id, "停诊")
            except ApiError as exc:
                assert exc.status == 409

    @rule()
    def deliver(self):
        self.drain()
        self._settled_money()

    @rule(i=st.integers(0, 2), j=st.integers(0, 1))
    def book_pay_deliver(self, i, j):
        self.book(i, j)
        self.provider_pays(0)
        self.deliver()

    def _settled_money(self):
        """After delivery: a live, paid booking's order is paid and unrefunded; every other
        paid order was refunded in full, once; nothing refunded beyond what was paid."""
        by_id = {b.booking_id: b for b in Booking.scan()}
        for o in self.pay.orders.values():
            assert o.refunded_fen <= o.amount_fen
            b = by_id.get(o.product_id)
            if o.status in ("paid", "refunded"):
                if b is not None and b.order_id == o.order_id and b.status in LIVE and b.status != "held":
                    assert o.refunded_fen == 0, (b.status, o)
                else:
                    assert o.refunded_fen == o.amount_fen, (b and b.status, o)

    @invariant()
    def seats_are_exact(self):
        if getattr(self, "session", None) is None:
            return
        check_counts(self.session.session_id)
        for caller, _ in self.patients:
            held = sum(1 for b in Booking.scan() if b.account_id == caller.account_id and b.status == "held")
            try:
                n = int(BookingLock.get(booking._holds_key(caller.account_id)).n or 0)
            except BookingLock.DoesNotExist:
                n = 0
            assert n == held <= 2


def test_capacity_state_machine(env):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(BookingMachine, settings=settings(
        max_examples=20, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
