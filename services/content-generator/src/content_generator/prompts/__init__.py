"""The prompt for one email: rules in the system message, the campaign's text in the user
message inside clearly marked blocks. The wording lives in versioned template files next to
this module (`v2/system.txt`, `v2/user.txt`, ...); this module only fills them in.

Everything inside a block was written by the campaign's author (or, for previous emails, by a
model), so it is data: the system prompt says so, and no block's text can close its own block.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any

from content_generator.domain import (
    CampaignBrief,
    PreviousEmail,
    SimilarEmail,
    Structure,
    local_weekday,
)
from content_generator.journey import JourneyEmail
from content_generator.learning import PastEmail, Results
from content_generator.output import MAX_PREHEADER, MAX_SUBJECT, MERGE_FIELDS

# Stored with every email: which wording of the prompt wrote it. Each version is a folder of
# templates next to this module; a change of wording is a new folder, so stored emails keep
# pointing at the words that wrote them.
PROMPT_VERSION = "v4"

BLOCKS = ("campaign_brief", "brand_voice", "audience", "previous_emails", "similar_emails",
          "resonated_emails", "weak_emails", "journey_step")
# The blocks each version's system prompt declares as data (v2 had no examples, v3 no
# journeys).
VERSION_BLOCKS: Mapping[str, tuple[str, ...]] = {"v2": BLOCKS[:5], "v3": BLOCKS[:7],
                                                 "v4": BLOCKS}

STRUCTURE_GUIDANCE: Mapping[Structure, str] = {
    "educational": "Educational: teach one useful idea connected to the brief, with a concrete "
    "example or a few practical steps; the product or offer stays in the background.",
    "promotional": "Promotional: make the case for what the brief offers, built around one "
    "clear benefit for the reader, and end with a single clear call to action.",
    "personal_story": "Personal story: tell a short first-person story (a customer, the team, "
    "how something came about) that leads naturally to the point of the brief.",
    "professional_direct": "Professional and direct: a short, businesslike note; get to the "
    "point in the first sentence, use a few bullet points, and ask for one specific action.",
}


@functools.cache
def template(name: str, version: str = PROMPT_VERSION) -> Template:
    """Template `name` (e.g. "system") of a prompt version, from the package's files."""
    text = resources.files(__package__).joinpath(version, f"{name}.txt").read_text("utf-8")
    return Template(text)


def system_prompt(version: str = PROMPT_VERSION) -> str:
    return template("system", version).substitute(
        max_subject=MAX_SUBJECT,
        max_preheader=MAX_PREHEADER,
        merge_fields=", ".join(f"{{{{{name}}}}}" for name in sorted(MERGE_FIELDS)),
        blocks=", ".join(f"<{name}>" for name in VERSION_BLOCKS[version]),
    )


SYSTEM_PROMPT = system_prompt()

# Answer schema for models with structured outputs; the parser accepts the same fields from
# models that answer in prose.
EMAIL_SCHEMA: Mapping[str, Any] = {
    "name": "email",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "subject": {"type": "string", "description": "One line, the email's subject"},
            "preheader": {"type": "string", "description": "Inbox preview text"},
            "body_html": {"type": "string", "description": "The email body as simple HTML"},
            "body_text": {"type": "string", "description": "The email body as plain text"},
        },
        "required": ["subject", "preheader", "body_html", "body_text"],
        "additionalProperties": False,
    },
}

# A block's own tags, however spelt, inside data would let data escape its block.
_BLOCK_TAG = re.compile(r"<\s*/?\s*(?:" + "|".join(BLOCKS) + r")\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    version: str = PROMPT_VERSION

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user},
        ]


def block(name: str, text: str) -> str:
    """`text` between the opening and closing tags of block `name`, unable to close it."""
    assert name in BLOCKS
    body = _BLOCK_TAG.sub("[tag removed]", text).strip() or "(none given)"
    return f"<{name}>\n{body}\n</{name}>"


def _position(sequence: int, total: int | None) -> str:
    if total is None:
        return f"This is email {sequence} of an ongoing sequence."
    where = f"This is email {sequence} of {total} in the sequence."
    if sequence == 1:
        return f"{where} It is the first one: introduce the campaign and set expectations."
    if sequence >= total:
        return f"{where} It is the last one: bring the sequence to a satisfying close."
    return f"{where} Build on the earlier emails without repeating them."


def _previous(previous: Sequence[PreviousEmail]) -> str:
    return "\n".join(
        f'Email {p.sequence}: subject "{p.subject}"; opens with "{p.first_line}"'
        for p in previous
    )


def _similar(similar: Sequence[SimilarEmail]) -> str:
    return "\n".join(
        f'Email {s.sequence} (closeness {s.similarity:.2f}): subject "{s.subject}"; opens with '
        f'"{s.first_line}"'
        for s in similar
    )


def _memory(
    previous: Sequence[PreviousEmail],
    similar: Sequence[SimilarEmail],
    rejected: SimilarEmail | None,
) -> str:
    parts: list[str] = []
    if previous:
        parts.append(template("previous").substitute(
            previous_emails=block("previous_emails", _previous(previous))))
    listed = {p.sequence for p in previous} | ({rejected.sequence} if rejected else set())
    similar = [s for s in similar if s.sequence not in listed]
    if rejected is not None:
        # Always listed, so the note about the rejected draft can refer to it.
        similar = [rejected, *similar]
    if similar:
        parts.append(template("similar").substitute(
            similar_emails=block("similar_emails", _similar(similar))))
    if parts:
        parts.append(template("build_on").substitute())
    if rejected is not None:
        parts.append(template("too_similar").substitute(
            similarity=f"{rejected.similarity:.2f}", sequence=rejected.sequence))
    return "".join(parts)


def _examples(emails: Sequence[PastEmail]) -> str:
    return "\n".join(
        f'Email {e.sequence} ({e.click_rate:.1%} of {e.delivered} readers clicked): subject '
        f'"{e.subject}"; opens with "{e.first_line}"'
        for e in emails
    )


def _results(results: Results) -> str:
    """What worked and what did not, apart from the memory: that says what not to repeat,
    this what to build on."""
    parts: list[str] = []
    if results.worked:
        parts.append(template("resonated").substitute(
            resonated_emails=block("resonated_emails", _examples(results.worked))))
    if results.weakest:
        parts.append(template("weak").substitute(
            weak_emails=block("weak_emails", _examples(results.weakest))))
    if parts:
        parts.append(template("learn_from").substitute())
    return "".join(parts)


def _journey_position(step: JourneyEmail | None) -> str:
    if step is None:
        return "This is an email of a journey each reader goes through on their own."
    if step.first:
        return ("This is the journey's first email: a reader gets it on entering the journey, "
                "so welcome them and set expectations.")
    earlier = "one earlier email" if step.emails_before == 1 else \
        f"{step.emails_before} earlier emails"
    return (f"This is a follow-up in the journey: a reader has had {earlier} of it by now. "
            "Build on them without repeating them.")


def _journey_step(step: JourneyEmail | None) -> str:
    if step is None:
        return ""
    lines = [f"Goal: {step.goal}"]
    if step.subject_hint:
        lines.append(f"Subject hint: {step.subject_hint}")
    lines.append("On the way here: " + ("; then ".join(step.path) if step.path
                                        else "nothing yet, they have just entered"))
    return template("journey").substitute(
        journey_step=block("journey_step", "\n".join(lines)),
        subject_note=" Let the subject follow the hint, in your own words."
        if step.subject_hint else "")


def build_prompt(
    brief: CampaignBrief,
    *,
    sequence: int,
    total: int | None,
    send_at: datetime,
    structure: Structure,
    previous: Sequence[PreviousEmail] = (),
    similar: Sequence[SimilarEmail] = (),
    rejected: SimilarEmail | None = None,
    results: Results | None = None,
) -> Prompt:
    """`similar`: earlier emails close to this one's topic; `rejected`: the earlier email a
    first draft came too close to, when this is a second try; `results`: the earlier emails
    readers clicked most and least. A journey's email (`brief.journey`) gets its step's goal,
    subject hint and place in the journey instead of a place in a sequence."""
    journey = brief.journey is not None
    step = brief.journey_email(sequence)
    user = template("user").substitute(
        task="Write one email of this journey." if journey
        else "Write the next email of this campaign.",
        position=_journey_position(step) if journey else _position(sequence, total),
        journey=_journey_step(step),
        weekday=local_weekday(send_at, brief.timezone),
        timezone=brief.timezone,
        structure=STRUCTURE_GUIDANCE[structure],
        campaign_brief=block("campaign_brief",
                             f"Campaign name: {brief.name}\n\n{brief.description}"),
        brand_voice=block("brand_voice", brief.brand_voice),
        audience=block("audience", brief.audience_description),
        memory=_memory(previous, similar, rejected),
        results=_results(results or Results()),
    )
    return Prompt(system=SYSTEM_PROMPT, user=user)


def memory_query(brief: CampaignBrief, structure: Structure, sequence: int | None = None) -> str:
    """What the email about to be written is expected to be about: the text whose neighbours
    are recalled as "similar emails" before writing (a journey step's, its goal too)."""
    step = brief.journey_email(sequence) if sequence is not None else None
    goal = f"\n{step.goal}" if step is not None else ""
    return f"{brief.name}\n{brief.description}{goal}\n{STRUCTURE_GUIDANCE[structure]}"
