"""Emails written from templates, with no network and no API key: what runs when
OPENROUTER_API_KEY is unset. Every email says it is an offline draft; the structure, the
template (subject, opening, sections, call to action) and the points taken from the brief all
change with the position in the sequence, so a sequence still reads like one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from content_generator.domain import STRUCTURES, Structure, local_weekday
from content_generator.output import InvalidOutputError, validate_email
from content_generator.providers.base import (
    Completion,
    EmailRequest,
    LlmCall,
    ProviderError,
    Usage,
)

MODEL = "offline/template"


@dataclass(frozen=True)
class _Template:
    subject: str
    preheader: str
    opening: str
    call_to_action: str


_TEMPLATES: Mapping[Structure, tuple[_Template, ...]] = {
    "educational": (
        _Template("{name}: one idea worth trying this {weekday}",
                  "A practical idea you can use today, in two minutes of reading.",
                  "Here is one idea we keep coming back to, and how to put it to work.",
                  "Try it this week, then hit reply and tell us how it went."),
        _Template("What most people miss about {name}",
                  "The detail that is easy to overlook, explained simply.",
                  "There is one detail that is easy to overlook, and it changes a lot.",
                  "Keep this email for later, and send us your questions: we read them all."),
        _Template("{name}, step by step",
                  "Three small steps, in the order that works.",
                  "Big changes are easier in small steps, so let us take them one at a time.",
                  "Pick the first step and start today; the rest will follow."),
    ),
    "promotional": (
        _Template("Why {name} deserves a look this {weekday}",
                  "What it is, who it is for, and why now.",
                  "We would like to show you, briefly, what {name} can do for you.",
                  "Have a look today and see whether it fits."),
        _Template("{name}: made for people like you",
                  "Built around what you told us matters.",
                  "We built {name} around a few things that matter to people like you.",
                  "Reply to this email and we will help you get started."),
        _Template("Ready when you are: {name}",
                  "Everything is in place; here is what is waiting for you.",
                  "Everything is in place, and here is what is waiting for you.",
                  "When you are ready, we are one reply away."),
    ),
    "personal_story": (
        _Template("How {name} began",
                  "A short story about where this all started.",
                  "Let us tell you how this started, because it explains a lot.",
                  "If this story sounds familiar, write back: we would love to hear yours."),
        _Template("A story from the {name} team",
                  "Something that happened to us, and what it taught us.",
                  "Something happened recently that we keep thinking about.",
                  "Tell us about a moment like this of your own; just hit reply."),
        _Template("What we learned while building {name}",
                  "Lessons from the people behind it.",
                  "Building {name} taught us a few things we did not expect.",
                  "We are still learning, so tell us what you would add."),
    ),
    "professional_direct": (
        _Template("{name}: the short version",
                  "The essentials, in under a minute.",
                  "Straight to the point: here is what you need to know.",
                  "If this is relevant to you, reply with a good time to talk."),
        _Template("Three points on {name}, in two minutes",
                  "Three points, no filler.",
                  "Three points, no filler.",
                  "Which of these matters most to you? A one-word reply is enough."),
        _Template("A quick question about {name}",
                  "One question, and why we are asking.",
                  "One quick question, and then we will let you get on with your {weekday}.",
                  "Would it help to see how this works for you? Just reply yes."),
    ),
}

_SIGN_OFFS = (
    "Have a good {weekday},",
    "Enjoy the rest of your {weekday},",
    "Talk soon,",
    "Thanks for reading,",
    "All the best,",
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Campaign names may be 200 characters; subjects may not be much longer than 150.
_MAX_NAME_IN_SUBJECT = 80


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-") + "…"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 3]


def _points(brief_text: str, fallback: str, sequence: int, count: int = 3) -> list[str]:
    """`count` sentences of the brief, starting further in for each email, so they differ."""
    sentences = _sentences(brief_text) or [fallback]
    start = (sequence - 1) % len(sentences)
    return [sentences[(start + i) % len(sentences)] for i in range(min(count, len(sentences)))]


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _items(tag: str, points: Sequence[str]) -> str:
    return f"<{tag}>" + "".join(f"<li>{escape(p)}</li>" for p in points) + f"</{tag}>"


def _educational(points: Sequence[str]) -> str:
    idea = f"<h2>The idea</h2>{_p(points[0])}"
    if len(points) == 1:
        return idea
    return f"{idea}<h3>How to put it to work</h3>{_items('ol', points[1:])}"


def _promotional(points: Sequence[str]) -> str:
    return f"{_p(points[0])}<h3>What is in it for you</h3>{_items('ul', points[1:] or points)}"


def _personal_story(points: Sequence[str]) -> str:
    story = _p("It started with one simple thought:")
    story += f"<blockquote>{escape(points[0])}</blockquote>"
    if len(points) > 1:
        story += _p(points[1])
    return story + _p("That moment shaped what we do today, and it is why we are writing to you.")


def _professional_direct(points: Sequence[str]) -> str:
    return _items("ul", points)


_SECTIONS: Mapping[Structure, Callable[[Sequence[str]], str]] = {
    "educational": _educational,
    "promotional": _promotional,
    "personal_story": _personal_story,
    "professional_direct": _professional_direct,
}


class OfflineProvider:
    name = "offline"

    async def write(self, request: EmailRequest) -> Completion:
        started = time.monotonic()
        try:
            email = validate_email(self.draft(request))
        except InvalidOutputError as exc:  # the same brief would fail the same way again
            error = ProviderError(f"offline draft: {exc}", reason="invalid_output",
                                  retryable=False, model=MODEL)
            error.calls = (LlmCall(self.name, MODEL, "error", Usage(), _ms(started),
                                   error=f"invalid_output: {exc}"),)
            raise error from exc
        call = LlmCall(self.name, MODEL, "ok", Usage(), _ms(started))
        return Completion(email, self.name, MODEL, (call,), _ms(started))

    def draft(self, request: EmailRequest) -> dict[str, str]:
        brief, k = request.brief, request.sequence
        templates = _TEMPLATES[request.structure]
        # Structures rotate every email, so each template of a structure comes round once
        # every len(STRUCTURES) emails; `cycle` tells apart the rounds of all templates.
        turn = (k - 1) // len(STRUCTURES)
        template = templates[turn % len(templates)]
        cycle = turn // len(templates)
        weekday = local_weekday(request.send_at, brief.timezone)
        name = brief.name or "our campaign"
        fill = {"name": _shorten(name, _MAX_NAME_IN_SUBJECT), "weekday": weekday}

        subject = template.subject.format(**fill)
        if cycle:
            subject += f" (part {cycle + 1})"
        points = _points(brief.description, f"{name} is what this campaign is about.", k)
        of_total = f" of {request.total}" if request.total else ""
        sign_off = _SIGN_OFFS[(k - 1) % len(_SIGN_OFFS)].format(**fill)
        body_html = (
            "<p>Hi {{first_name}},</p>"
            + _p(template.opening.format(**fill))
            + _SECTIONS[request.structure](points)
            + f"<p><strong>{escape(template.call_to_action)}</strong></p>"
            + f"<p>{escape(sign_off)}<br>The {escape(fill['name'])} team</p>"
            + "<hr><p><em>Offline draft "
            + f"{k}{of_total} ({request.structure.replace('_', ' ')}): written from a template, "
            + "not by a language model. Set OPENROUTER_API_KEY to have every email written by "
            + "the campaign's model.</em></p>"
        )
        return {"subject": subject, "preheader": template.preheader, "body_html": body_html,
                "body_text": ""}
