"""A/B tests in the mailer: each variant to its slice of the recipients, drawn the same way
every time; the rest held and sent nothing until the winner is decided, then sent the winner;
every recipient exactly one variant, whatever runs twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from contracts import AbTest, AbTestDecided, EmailVariant
from contracts.ab_tests import AbTestDecidedPayload
from mailer import ab_tests, db
from mailer.db.tables import ab_tests as tests_table

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

PEOPLE = [(f"p{i:03d}@example.com", f"P {i}") for i in range(200)]
SUBJECTS = {"A": "Tulips are in", "B": "Have you seen our tulips?"}


async def _tested(world: World, **test: object) -> None:
    """Two subject variants of 25% each (so that 200 recipients fill every slice)."""
    await world.campaign()
    await world.members(*PEOPLE)
    await world.content(1, subject=SUBJECTS["A"], ab_test=AbTest(slice_percent=25, **test),
                        variants=[EmailVariant(key=k, subject=s, preheader=f"Variant {k}")
                                  for k, s in SUBJECTS.items()])


def _decision(world: World, winner: str = "B") -> AbTestDecided:
    return AbTestDecided.create(AbTestDecidedPayload(
        campaign_id=world.campaign_id, sequence=1, winner=winner, rule="operator",
        metric="clicks", decided_at=datetime.now(UTC)), **world.envelope())


async def test_each_variant_goes_to_its_slice_and_the_rest_is_held(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _tested(world)

    rows = (await world.deliveries()).values()
    states = Counter((r.state, r.variant) for r in rows)
    assert set(states) == {("pending", "A"), ("pending", "B"), ("held", None)}
    # A quarter each, as a hash of 200 addresses spreads them.
    assert 30 <= states["pending", "A"] <= 70
    assert 30 <= states["pending", "B"] <= 70

    sent = await world.send(world.send_at + timedelta(minutes=1), batch_size=500)

    assert sent == states["pending", "A"] + states["pending", "B"]
    subjects = Counter(m["Subject"] for m in smtp.received)
    assert subjects == {SUBJECTS["A"]: states["pending", "A"],
                        SUBJECTS["B"]: states["pending", "B"]}
    variants = {e["payload"]["recipient"]: e["payload"]["variant"]
                for e in await world.events("email.sent")}
    by_row = {r.email: r.variant for r in rows if r.variant}
    assert variants == by_row
    first = next(m for m in smtp.received if m["Subject"] == SUBJECTS["B"])
    assert "Variant B" in first.get_body(("html",)).get_content()  # its preheader
    assert "tulips are in" in first.get_body(("html",)).get_content()  # the email's body


async def test_the_slices_are_the_same_draw_for_another_replica_or_a_rerun(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _tested(world)
    first = {r.email: (r.state, r.variant) for r in (await world.deliveries()).values()}
    async with world.engine.begin() as conn:
        # The assignment run again (a dispatch rerun after a crash) finds nothing to assign.
        assert await db.assign_variants(conn, world.campaign_id, 1) == 0
        # The same draw from scratch: every delivery back to new, assigned again.
        await conn.execute(db.deliveries.update().values(state="pending", variant=None))
        assert await db.assign_variants(conn, world.campaign_id, 1) == len(PEOPLE)

    assert {r.email: (r.state, r.variant) for r in (await world.deliveries()).values()} == first


async def test_the_winner_goes_to_the_held_once_and_nobody_gets_two_variants(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _tested(world)
    now = world.send_at + timedelta(minutes=1)
    tested = await world.send(now, batch_size=500)
    assert await world.send(now + timedelta(minutes=5)) == 0  # the held wait

    await world.handle(ab_tests.on_ab_test_decided, _decision(world, "B"))
    # A second decision, say the operator's after the decider's, changes nothing.
    await world.handle(ab_tests.on_ab_test_decided, _decision(world, "A"))
    released = await world.send(now + timedelta(minutes=10), batch_size=500)

    assert tested + released == len(PEOPLE)
    recipients = Counter(m["To"].addresses[0].addr_spec for m in smtp.received)
    assert set(recipients.values()) == {1}
    assert len(recipients) == len(PEOPLE)
    rows = (await world.deliveries()).values()
    assert Counter(r.variant for r in rows)["A"] == Counter(
        m["Subject"] for m in smtp.received)[SUBJECTS["A"]]
    assert {r.state for r in rows} == {"sent"}
    [test] = await world.fetch(tests_table.select())
    assert test.winner == "B"


async def test_a_dispatch_after_the_decision_sends_the_winner_at_once(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await world.members(*PEOPLE)
    await world.content(1, dispatch=False, subject=SUBJECTS["A"],
                        ab_test=AbTest(slice_percent=25),
                        variants=[EmailVariant(key=k, subject=s) for k, s in SUBJECTS.items()])
    await world.handle(ab_tests.on_ab_test_decided, _decision(world, "A"))

    await world.dispatch(world.send_at)

    states = Counter((r.state, r.variant) for r in (await world.deliveries()).values())
    assert states["held", None] == 0
    assert states["pending", "A"] > states["pending", "B"] > 0


async def test_cancelling_a_campaign_cancels_its_held_recipients(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _tested(world)

    await world.cancel()

    assert "held" not in {r.state for r in (await world.deliveries()).values()}


async def test_an_untested_email_has_no_variants_and_holds_nobody(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await world.members(*PEOPLE[:5])
    await world.content(1)

    rows = (await world.deliveries()).values()
    assert {(r.state, r.variant) for r in rows} == {("pending", None)}
    assert await world.send(world.send_at + timedelta(minutes=1)) == 5
    assert {e["payload"]["variant"] for e in await world.events("email.sent")} == {None}
