"""The variants of an email under an A/B test: variant A is the email as written; each further
one is asked of the model as a distinct angle on the same email, told the subjects written so
far, and redrafted (a bounded number of times) while it comes too close to one of them by the
similarity check of the no-repeat memory. Stores nothing itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from content_generator.domain import CampaignBrief, EmailContent
from content_generator.embeddings import Embedder, email_text
from content_generator.prompts import Prompt, build_prompt
from content_generator.providers.base import EmailProvider, EmailRequest, LlmCall, ProviderError
from content_generator.writer import Draft, MemoryPolicy
from contracts import AbTest, EmailVariant
from contracts.ab_tests import VARIANT_KEYS, VariantKey

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Variants:
    variants: tuple[EmailVariant, ...]
    calls: tuple[LlmCall, ...]  # every billed call made for them


def compared_text(email: EmailContent, test: AbTest) -> str:
    """What two variants are compared on: in a subject test only what differs."""
    return f"{email.subject}\n{email.preheader}" if test.kind == "subject" else email_text(email)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def variant_prompt(base: Prompt, test: AbTest, key: VariantKey, subjects: Sequence[str]) -> Prompt:
    """The email's prompt, asking for variant `key` with an angle of its own."""
    written = "\n".join(f'- "{s}"' for s in subjects)
    what = ("Only the subject line and preheader of this variant will be used; make them take "
            "a clearly different angle (benefit, curiosity, urgency, social proof, a question)."
            if test.kind == "subject" else
            "Write the whole email again from a clearly different angle: another opening, "
            "another main argument, another call to action.")
    note = (f"\n\nThis email is A/B tested in {test.variants} variants; write variant {key}. "
            f"The variants written so far have these subjects:\n{written}\n{what} "
            "Do not reuse their wording.")
    return Prompt(system=base.system, user=base.user + note, version=base.version)


def _variant(key: VariantKey, email: EmailContent, test: AbTest) -> EmailVariant:
    if test.kind == "subject":
        return EmailVariant(key=key, subject=email.subject, preheader=email.preheader)
    return EmailVariant(key=key, subject=email.subject, preheader=email.preheader,
                        body_html=email.body_html, body_text=email.body_text)


async def write_variants(
    brief: CampaignBrief,
    draft: Draft,
    test: AbTest,
    *,
    sequence: int,
    total: int | None,
    send_at: datetime,
    provider: EmailProvider,
    embedder: Embedder,
    memory: MemoryPolicy,
) -> Variants:
    """Variant A (the draft) and `test.variants - 1` more, each the least close to the ones
    before it of at most `memory.drafts` drafts. A ProviderError carries every call made."""
    calls: list[LlmCall] = []
    base = build_prompt(brief, sequence=sequence, total=total, send_at=send_at,
                        structure=draft.structure)
    try:
        first = await embedder.embed(compared_text(draft.email, test))
        calls += first.calls
        written: list[tuple[EmailContent, tuple[float, ...]]] = [(draft.email, first.vector)]
        for key in VARIANT_KEYS[1:test.variants]:
            best: tuple[float, EmailContent, tuple[float, ...]] | None = None
            for attempt in range(1, memory.drafts + 1):
                prompt = variant_prompt(base, test, key, [e.subject for e, _ in written])
                if best is not None:
                    prompt = Prompt(prompt.system, prompt.user + (
                        f"\nA draft of this variant (\"{best[1].subject}\") came too close to "
                        f"another variant (closeness {best[0]:.2f}): go further."), prompt.version)
                completion = await provider.write(
                    EmailRequest(brief, sequence, total, send_at, draft.structure, prompt))
                calls += completion.calls
                embedded = await embedder.embed(compared_text(completion.email, test))
                calls += embedded.calls
                closeness = max(cosine(embedded.vector, v) for _, v in written)
                if best is None or closeness < best[0]:
                    best = (closeness, completion.email, embedded.vector)
                if closeness < memory.threshold:
                    break
                log.info("content.variant_too_close", campaign_id=str(brief.campaign_id),
                         sequence=sequence, variant=key, draft=attempt,
                         similarity=round(closeness, 3))
            assert best is not None
            written.append((best[1], best[2]))
    except ProviderError as exc:
        exc.calls = (*calls, *exc.calls)
        raise
    variants = tuple(_variant(key, email, test)
                     for key, (email, _) in zip(VARIANT_KEYS, written, strict=False))
    return Variants(variants, tuple(calls))
