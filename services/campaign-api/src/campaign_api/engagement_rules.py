"""Whether an open or a click was a person's or a machine's, and why. Pure: the request's user
agent, the delivery time and the recipient's earlier clicks of the same email in, a verdict
out; `usecases.engagement` gathers the inputs and `db.engagement` keeps the verdict with the
engagement.

Machines that fetch what is in an email:
- image proxies. Apple Mail Privacy Protection fetches every image of every message as it
  arrives, whether anyone reads it or not: its opens say nothing. Gmail's and Yahoo's proxies
  fetch the images when the reader opens the message, so their opens are a person's, except
  within seconds of delivery, when they are prefetching;
- link scanners (mail security gateways, previewers) that follow the links of a message on
  arrival: known by their user agent (crawlerdetect, a kept list of bots), by following every
  link of the email within seconds, and by following the trap link, which the mailer hides in
  every tracked HTML email where no person sees or reaches it. A scanner that trips the trap
  takes the clicks it made around it along.

Every browser and mail client sends a user agent; a fetch without one is a script's.
Only human engagement is ever to teach the learning loop; the stats show human and all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crawlerdetect import CrawlerDetect

MachineReason = Literal[
    "apple_privacy_proxy", "proxy_prefetch", "bot_user_agent", "no_user_agent", "link_burst",
    "trap_link",
]

# An image proxy's open this soon after delivery is a prefetch: no one has read it yet.
PREFETCH_WITHIN = timedelta(seconds=60)
# A person takes longer than this to click every link of one email (each opens a page).
BURST_WITHIN = timedelta(seconds=10)
# The clicks a scanner makes in the same pass as its trap-link hit.
TRAP_WITHIN = timedelta(seconds=60)
# Longer user agents are cut before matching: the bot patterns are regular expressions, and
# whatever a client sends must not make the pixel or the redirect slow.
MAX_USER_AGENT = 512

# Apple's proxy sends exactly this, with nothing after it.
_APPLE_PROXY = "Mozilla/5.0"
# Proxies that fetch on the reader's open (their user agent names them).
_READER_PROXIES = ("GoogleImageProxy", "ggpht.com", "YahooMailProxy")
# Desktop mail clients that load images as the reader opens the message, which the bot list
# has because their link checks use the same user agent: their opens are a person's.
_MAIL_CLIENTS = ("Microsoft Office", "Microsoft Outlook", "Thunderbird")

# Made once: its patterns compile on first use (tens of milliseconds), not per request.
_BOTS = CrawlerDetect()
_BOTS.isCrawler("warm-up")


@dataclass(frozen=True)
class Verdict:
    human: bool
    reason: MachineReason | None = None


HUMAN = Verdict(human=True)


def machine(reason: MachineReason) -> Verdict:
    return Verdict(human=False, reason=reason)


@dataclass(frozen=True)
class EarlierClick:
    """One of the recipient's earlier clicks of the same email; `url` None for the trap."""

    id: int
    url: str | None
    at: datetime
    human: bool | None


@dataclass(frozen=True)
class ClickVerdict:
    verdict: Verdict
    # Earlier clicks the same machine made, taken to `verdict` with this one.
    relabel: tuple[int, ...] = ()


def user_agent(header: str | None) -> str:
    """The user agent as the rules read it: printable, trimmed, bounded; "" when absent."""
    if not header:
        return ""
    cut = header[:MAX_USER_AGENT]
    return "".join(c for c in cut if c.isprintable()).strip()


def is_bot(agent: str) -> bool:
    return bool(agent) and bool(_BOTS.isCrawler(agent))


def classify_open(agent: str, *, since_delivery: timedelta | None) -> Verdict:
    """`agent` as `user_agent` made it; `since_delivery` None when the delivery is not known
    (yet) to campaign-api."""
    if not agent:
        return machine("no_user_agent")
    if agent == _APPLE_PROXY:
        return machine("apple_privacy_proxy")
    if any(name in agent for name in _READER_PROXIES):
        if since_delivery is not None and since_delivery <= PREFETCH_WITHIN:
            return machine("proxy_prefetch")
        return HUMAN
    if any(name in agent for name in _MAIL_CLIENTS):
        return HUMAN
    if is_bot(agent):
        return machine("bot_user_agent")
    return HUMAN


def classify_click(
    agent: str, *, url: str | None, at: datetime, earlier: Sequence[EarlierClick],
    links: int | None,
) -> ClickVerdict:
    """A click on `url` of an email (None: its trap link) at `at`. `earlier`: the recipient's
    earlier clicks of the same email; `links`: how many distinct links the email has (None
    when not known)."""
    if url is None:
        return ClickVerdict(machine("trap_link"), _human_within(earlier, at, TRAP_WITHIN))
    if not agent:
        return ClickVerdict(machine("no_user_agent"))
    if is_bot(agent):
        return ClickVerdict(machine("bot_user_agent"))
    if any(c.url is None and abs(at - c.at) <= TRAP_WITHIN for c in earlier):
        return ClickVerdict(machine("trap_link"))
    # One link is no burst: a person clicks the only link soon enough.
    if links is not None and links >= 2:
        burst = [c for c in earlier if c.url is not None and at - c.at <= BURST_WITHIN]
        if len({c.url for c in burst} | {url}) >= links:
            return ClickVerdict(machine("link_burst"),
                                tuple(c.id for c in burst if c.human is not False))
    return ClickVerdict(HUMAN)


def _human_within(earlier: Sequence[EarlierClick], at: datetime,
                  window: timedelta) -> tuple[int, ...]:
    return tuple(c.id for c in earlier
                 if c.url is not None and c.human is not False and at - c.at <= window)
