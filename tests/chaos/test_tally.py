"""How the crash suite counts what the SMTP sink received, per recipient."""

from __future__ import annotations

from bench.chaos.tally import Received, recipients, scenario_domain, tally


def got(recipient: str, message_id: str = "<a@x>", at: float = 1.0) -> Received:
    return Received(recipient, message_id, at)


def test_a_recipient_without_a_message_is_lost() -> None:
    counted = tally(["a@s.example", "b@s.example"], [got("a@s.example")])
    assert (counted.lost, counted.duplicated, counted.unexpected) == (1, 0, 0)


def test_a_second_copy_with_the_same_message_id_is_a_duplicate() -> None:
    counted = tally(["a@s.example"], [got("a@s.example", at=1), got("a@s.example", at=5)])
    assert (counted.lost, counted.duplicated, counted.unexpected) == (0, 1, 0)
    assert counted.last_delivery == 5


def test_each_duplicate_is_dated_by_the_first_copy_whose_outcome_was_lost() -> None:
    counted = tally(["a@s.example", "b@s.example"],
                    [got("a@s.example", at=3), got("a@s.example", at=9), got("a@s.example", at=7),
                     got("b@s.example", at=4), got("b@s.example", at=8)])
    assert counted.duplicated == 3
    assert counted.first_copies == (3, 3, 4)


def test_another_message_or_a_recipient_nobody_mailed_is_unexpected() -> None:
    counted = tally(["a@s.example"], [got("a@s.example", "<a@x>"), got("a@s.example", "<b@x>"),
                                      got("z@s.example")])
    assert (counted.lost, counted.duplicated, counted.unexpected) == (0, 0, 2)
    assert counted.received == 3


def test_each_scenario_mails_addresses_of_its_own() -> None:
    assert recipients("nats-kill", 2) == [f"r0@{scenario_domain('nats-kill')}",
                                          f"r1@{scenario_domain('nats-kill')}"]
    assert scenario_domain("nats-kill") != scenario_domain("sigkill-mailer")


def test_the_longest_pause_counts_from_the_moment_to_the_first_message_after_it() -> None:
    counted = tally(["a@s.example", "b@s.example", "c@s.example"],
                    [got("a@s.example", at=2), got("b@s.example", at=13),
                     got("c@s.example", at=15)])
    assert counted.longest_pause_after(10) == 3
    assert counted.longest_pause_after(1) == 11
    assert counted.longest_pause_after(15) is None
