"""A/B tests in campaign-api: a tested email's test is recorded from its content.generated;
the decider takes each test whose window is over, reads its slices' human engagement, decides
by `ab_decision.decide` and publishes ab_test.decided; an operator may pick the winner first.

A decision is stored and published through the outbox in one transaction, under the test's
row lock and with an event id derived from (campaign, sequence): a crash before the commit
leaves the test undecided and the next decider decides it, after it the decision is out
exactly once, and a decider and an operator never both decide."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.ab_decision import Decision, SliceCounts, decide
from campaign_api.db import AnyRow
from campaign_api.failures import Conflict, Invalid, NotFound
from campaign_api.schemas_ab_tests import AbTestReport, VariantReport
from campaign_api.usecases._claim_loop import claim_until_stopped
from campaign_api.usecases.campaigns import require_campaign
from contracts import AbTestDecided, ContentGenerated, deterministic_id
from contracts.ab_tests import AbTestDecidedPayload, VariantKey, VariantResult
from servicekit.db import UnitOfWork
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)

_SUCCESSES = {"clicks": "unique_human_clicks", "opens": "unique_human_opens"}


async def record_test(conn: AsyncConnection, event: ContentGenerated) -> None:
    """The test of an email written in variants, decided its window after its send time."""
    p = event.payload
    if p.ab_test is None or not p.variants:
        return
    await db.insert_ab_test(
        conn, campaign_id=p.campaign_id, sequence=p.sequence, workspace_id=event.workspace_id,
        kind=p.ab_test.kind, metric=p.ab_test.metric, slice_percent=p.ab_test.slice_percent,
        variants=[{"key": v.key, "subject": v.subject, "preheader": v.preheader}
                  for v in p.variants],
        decide_at=p.send_at + timedelta(minutes=p.ab_test.window_minutes))


def _slices(test: AnyRow, counts: list[AnyRow]) -> list[SliceCounts]:
    """Every variant of the test, those not sent to anyone yet at zero."""
    found = {r.variant: r for r in counts}
    successes = _SUCCESSES[test.metric]
    return [SliceCounts(v["key"], found[v["key"]].delivered if v["key"] in found else 0,
                        getattr(found[v["key"]], successes) if v["key"] in found else 0)
            for v in test.variants]


def _seed(campaign_id: uuid.UUID, sequence: int) -> int:
    return deterministic_id("ab_test.seed", campaign_id, sequence).int >> 64


async def _publish(uow: UnitOfWork, test: AnyRow, decision: Decision, now: datetime) -> None:
    results = [r.model_dump(mode="json") for r in decision.results]
    await db.record_ab_decision(uow.conn, test.campaign_id, test.sequence,
                                winner=decision.winner, rule=decision.rule, decided_at=now,
                                results=results)
    uow.publish(AbTestDecided.create(
        AbTestDecidedPayload(campaign_id=test.campaign_id, sequence=test.sequence,
                             winner=decision.winner, rule=decision.rule, metric=test.metric,
                             decided_at=now, results=list(decision.results)),
        workspace_id=test.workspace_id,
        event_id=deterministic_id("ab_test.decided", test.campaign_id, test.sequence)))
    log.info("ab_test.decided", campaign_id=str(test.campaign_id), sequence=test.sequence,
             winner=decision.winner, rule=decision.rule)


async def decide_due_test(engine: AsyncEngine, now: datetime | None = None
                          ) -> Literal["decided"] | None:
    """Decide one test whose window is over; None when none is due (or every due one is
    being decided elsewhere)."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(engine) as uow:
        test = await db.claim_due_ab_test(uow.conn, now)
        if test is None:
            return None
        counts = await db.variant_counts(uow.conn, test.campaign_id, test.sequence)
        decision = decide(_slices(test, counts), seed=_seed(test.campaign_id, test.sequence))
        await _publish(uow, test, decision, now)
        await uow.commit()
    return "decided"


async def decider_loop(engine: AsyncEngine, shutdown: Shutdown, *, poll: float) -> None:
    """Until the service stops: decide every test whose window is over, then look again
    after `poll` seconds."""
    await claim_until_stopped(lambda: decide_due_test(engine), shutdown, poll=poll,
                              failed_event="ab_test.decision_failed")


async def pick_winner(engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
                      sequence: int, variant: VariantKey) -> AbTestReport:
    """An operator's winner, sent to everyone held back; refused once the test is decided."""
    now = datetime.now(UTC)
    async with UnitOfWork(engine) as uow:
        await require_campaign(uow.conn, workspace_id, campaign_id)
        test = await db.lock_ab_test(uow.conn, campaign_id, sequence)
        if test is None:
            raise NotFound(f"Email {sequence} of campaign {campaign_id} is not under a test.")
        if test.winner is not None:
            raise Conflict(f"winner: the test of email {sequence} was decided already "
                           f"({test.winner}, {test.rule})")
        keys = [v["key"] for v in test.variants]
        if variant not in keys:
            raise Invalid.field("variant", f"the test has variants {', '.join(keys)}")
        counts = await db.variant_counts(uow.conn, campaign_id, sequence)
        results = tuple(VariantResult(key=s.key, delivered=s.delivered, successes=s.successes,
                                      rate=s.rate) for s in _slices(test, counts))
        await _publish(uow, test, Decision(variant, "operator", results), now)
        await uow.commit()
    async with engine.connect() as conn:
        [report] = [r for r in await ab_test_reports(conn, campaign_id) if r.sequence == sequence]
    return report


async def ab_test_reports(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AbTestReport]:
    """Each tested email of the campaign, its variants' counts as they stand now."""
    tests = await db.ab_tests_of(conn, campaign_id)
    if not tests:
        return []
    counts: dict[tuple[int, str], AnyRow] = {
        (r.sequence, r.variant): r for r in await db.variant_counts(conn, campaign_id)}
    return [_report(t, counts) for t in tests]


def _report(test: AnyRow, counts: dict[tuple[int, str], AnyRow]) -> AbTestReport:
    chances: dict[str, Any] = {r["key"]: r.get("probability_best") for r in test.results or []}
    slices = {s.key: s for s in _slices(
        test, [r for (k, _), r in counts.items() if k == test.sequence])}
    variants = []
    for v in test.variants:
        row = counts.get((test.sequence, v["key"]))
        variants.append(VariantReport(
            key=v["key"], subject=v["subject"], preheader=v["preheader"],
            delivered=slices[v["key"]].delivered,
            unique_human_opens=row.unique_human_opens if row else 0,
            unique_human_clicks=row.unique_human_clicks if row else 0,
            rate=slices[v["key"]].rate, probability_best=chances.get(v["key"])))
    return AbTestReport(
        sequence=test.sequence, kind=test.kind, metric=test.metric,
        slice_percent=test.slice_percent,
        status="decided" if test.winner else "testing", decide_at=test.decide_at,
        winner=test.winner, rule=test.rule, decided_at=test.decided_at, variants=variants)
