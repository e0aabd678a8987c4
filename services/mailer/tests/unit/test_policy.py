"""The claim's cap decisions on given history: which deliveries go, which wait and until when."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from mailer.db.policy import Caps
from mailer.policy import OverCap, Window, decide

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
WS = uuid.uuid4()
ANN, BOB = (WS, "ann@example.com"), (WS, "bob@example.com")


def test_within_one_batch_the_first_email_to_a_contact_goes_and_the_next_waits_a_day() -> None:
    first, second, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    over = decide([(first, ANN), (second, ANN), (bob, BOB)], {},
                  {WS: Caps(1, None, "defer")}, {}, NOW)
    assert over == {second: OverCap("frequency cap: 1 a day", NOW + timedelta(days=1))}


def test_a_deferral_that_fits_outside_the_send_window_waits_for_its_opening() -> None:
    delivery = uuid.uuid4()
    window = Window(time(9), time(10), (1,), "UTC")  # Mondays 09:00-10:00
    over = decide([(delivery, ANN)], {ANN: [NOW - timedelta(hours=1)]},
                  {WS: Caps(1, None, "defer")}, {delivery: window}, NOW)
    # It would fit on Tuesday 08:00; the window next opens the Monday after, 09:00.
    assert over[delivery].due_at == datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


def test_skip_ends_the_delivery_and_other_workspaces_are_not_capped() -> None:
    capped, free = uuid.uuid4(), uuid.uuid4()
    elsewhere = (uuid.uuid4(), "ann@example.com")
    history = {ANN: [NOW - timedelta(days=2)], elsewhere: [NOW] * 5}
    over = decide([(capped, ANN), (free, elsewhere)], history,
                  {WS: Caps(None, 1, "skip")}, {}, NOW)
    assert over == {capped: OverCap("frequency cap: 1 a week", None)}
