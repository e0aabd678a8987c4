"""JetStream streams and the durable consumers each service reads them with.

Declared here, created by every service at start-up (idempotently), so that the topology is
code that the AsyncAPI document and the deployment both derive from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_days: int = 30
    duplicate_window_seconds: int = 120


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer. Deliver policy is always "all": a consumer that is recreated
    replays what the stream still holds, and the inbox table makes that harmless."""

    service: str
    stream: str
    filter_subjects: tuple[str, ...]
    ack_wait_seconds: int = 30
    max_deliver: int = 8
    # Redelivery delays after a failed attempt; the last one repeats.
    backoff_seconds: tuple[float, ...] = (1, 5, 15, 60, 300)
    batch_size: int = 100

    @property
    def durable(self) -> str:
        return f"{self.service}-{self.stream.lower()}"


@dataclass(frozen=True)
class Topology:
    streams: tuple[StreamSpec, ...]
    consumers: tuple[ConsumerSpec, ...] = field(default_factory=tuple)

    def stream(self, name: str) -> StreamSpec:
        return next(s for s in self.streams if s.name == name)

    def consumers_of(self, service: str) -> tuple[ConsumerSpec, ...]:
        return tuple(c for c in self.consumers if c.service == service)


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("CAMPAIGNS", ("workspace.>", "campaign.>", "audience.>", "contacts.>",
                             "contact.>", "list.>", "suppression.>"),
               "Workspaces, campaign definitions, lifecycle, contacts, lists and suppressions, "
               "in the order they happened"),
    StreamSpec("SCHEDULE", ("email.due",), "Emails that fall due, one per (campaign, sequence)"),
    StreamSpec("CONTENT", ("content.>",), "Generated (or failed) email content"),
    StreamSpec("DELIVERY", ("email.sent", "email.failed"), "Per-recipient delivery outcomes"),
    StreamSpec("TRANSACTIONAL", ("transactional.>",),
               "Messages sent at once outside campaigns (sign-up confirmations)"),
    StreamSpec("ENGAGEMENT", ("email.opened", "email.clicked", "recipient.>",
                              "email.performance"),
               "What recipients did: opens, clicks, unsubscribes, and each email's counts of "
               "them (email.performance)"),
    StreamSpec("ABTESTS", ("ab_test.>",),
               "The winners of emails tested in variants, one per (campaign, sequence)"),
    StreamSpec("ACTIVITY", ("activity.>",),
               "What contacts did, as the workspace's own systems report it (POST /api/events)"),
    StreamSpec("JOURNEYS", ("journey.>",),
               "Journeys' steps falling due per contact: emails to send, actions to carry out; "
               "each journey's counts per step (journey.progress)"),
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("campaign-api", "CONTENT", ("content.generated", "content.failed")),
    ConsumerSpec("campaign-api", "DELIVERY", ("email.sent", "email.failed")),
    # contact.erased: campaign-api's own event, back once published, to scrub its outbox.
    ConsumerSpec("campaign-api", "CAMPAIGNS", ("campaign.completed", "campaign.scheduled",
                                               "contact.erased")),
    # Journeys' action steps on contacts (tags, lists), which campaign-api owns.
    # Journeys' counts per step (journey.progress), for the dashboard's live view and funnel;
    # each contact's steps reached (journey.step_due, journey.action) for their profile.
    ConsumerSpec("campaign-api", "JOURNEYS", ("journey.action", "journey.progress",
                                              "journey.step_due")),
    # Contacts, lists and suppressions too: journeys' triggers, facts and exits, in order.
    ConsumerSpec("scheduler", "CAMPAIGNS", (
        "campaign.created", "campaign.updated", "campaign.paused", "campaign.resumed",
        "campaign.cancelled", "contact.erased", "contacts.changed", "contacts.deleted",
        "list.members.added", "list.members.removed", "suppression.added",
        "suppression.removed",
    )),
    # What journeys' branches and goals wait for: people's opens and clicks, unsubscribes,
    # and the workspace's own events (which start journeys too).
    ConsumerSpec("scheduler", "ENGAGEMENT", ("email.opened", "email.clicked",
                                             "recipient.unsubscribed")),
    ConsumerSpec("scheduler", "ACTIVITY", ("activity.recorded",)),
    ConsumerSpec("content-generator", "CAMPAIGNS", ("workspace.>", "campaign.>",
                                                    "contact.erased")),
    ConsumerSpec("content-generator", "SCHEDULE", ("email.due",), ack_wait_seconds=120),
    # Each email's counts, kept for the learners that choose how the next emails are written.
    ConsumerSpec("content-generator", "ENGAGEMENT", ("email.performance",)),
    # One consumer over campaigns, contacts and lists keeps their order: a contact before its
    # memberships, members before the campaign.
    ConsumerSpec("mailer", "CAMPAIGNS", (
        "workspace.>", "campaign.created", "campaign.updated", "campaign.paused",
        "campaign.resumed", "campaign.cancelled", "campaign.completed", "audience.>",
        "contacts.>", "contact.>", "list.>", "suppression.>",
    )),
    ConsumerSpec("mailer", "TRANSACTIONAL", ("transactional.requested",)),
    ConsumerSpec("mailer", "CONTENT", ("content.generated",)),
    ConsumerSpec("mailer", "ENGAGEMENT", ("recipient.unsubscribed",)),
    # The winner of a tested email goes to the recipients held back for it.
    ConsumerSpec("mailer", "ABTESTS", ("ab_test.decided",)),
    # One contact's email of a journey; it waits for the step's content, which is written once
    # for everyone and may take a model's outage to arrive.
    ConsumerSpec("mailer", "JOURNEYS", ("journey.step_due",), max_deliver=80),
)

# Which service publishes each event type.
PRODUCERS: dict[str, str] = {
    **dict.fromkeys(("campaign.created", "campaign.updated", "campaign.paused", "campaign.resumed",
                     "campaign.cancelled", "audience.members.added", "audience.members.removed",
                     "email.opened", "email.clicked", "recipient.unsubscribed",
                     "email.performance", "ab_test.decided", "activity.recorded",
                     "workspace.updated", "contacts.changed", "contacts.deleted",
                     "list.members.added", "list.members.removed", "suppression.added",
                     "suppression.removed", "contact.erased", "transactional.requested"),
                    "campaign-api"),
    "email.due": "scheduler",
    "journey.step_due": "scheduler",
    "journey.action": "scheduler",
    "journey.progress": "scheduler",
    "campaign.completed": "scheduler",
    "campaign.scheduled": "scheduler",
    "content.generated": "content-generator",
    "content.failed": "content-generator",
    "email.sent": "mailer",
    "email.failed": "mailer",
}

TOPOLOGY = Topology(STREAMS, CONSUMERS)
