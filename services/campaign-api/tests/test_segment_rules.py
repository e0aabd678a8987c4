"""Segment rules, pure: malformed rules are refused naming the path inside the rule, and the
evaluator's meaning of each condition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaign_api.segment_rules import (
    MAX_DEPTH,
    MAX_NODES,
    ContactFacts,
    Engagement,
    InvalidRule,
    matches,
    rule_json,
    validate_rule,
)

DECLARED = {"age": "number", "city": "text", "joined": "date", "vip": "boolean"}
LIST = uuid.uuid4()
NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def refusal(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRule) as caught:
        validate_rule(raw, DECLARED, [LIST])
    return caught.value.errors


def test_a_value_of_the_wrong_type_is_refused_at_its_path_naming_the_field() -> None:
    rule = {"all": [{"tag": "vip"}, {"status": ["subscribed"]},
                    {"any": [{"field": "age", "op": "greater", "value": "thirty"}]}]}
    assert refusal(rule) == [("rule.all[2].any[0].value",
                              'a number is required for field "age"')]


def test_an_undeclared_field_and_an_operator_its_type_lacks_are_named() -> None:
    errors = dict(refusal({"any": [{"field": "shoe", "op": "equals", "value": 1},
                                   {"field": "vip", "op": "greater", "value": True}]}))
    assert "not a declared field" in errors["rule.any[0].field"]
    assert "equals, is_set, is_not_set" in errors["rule.any[1].op"]


def test_an_unknown_condition_and_an_extra_key_are_refused_at_their_paths() -> None:
    errors = dict(refusal({"all": [{"colour": "red"}, {"tag": "x", "op": "has", "why": 1}]}))
    assert "a group (all, any) or a condition" in errors["rule.all[0]"]
    assert "rule.all[1].why" in errors


def test_a_list_of_another_workspace_and_a_bad_zone_or_language_are_refused() -> None:
    errors = dict(refusal({"all": [{"list": str(uuid.uuid4())},
                                   {"timezone": ["Europe/Berlin", "Mars/Olympus"]},
                                   {"language": ["en", "??"]}]}))
    assert "no list" in errors["rule.all[0].list"]
    assert "IANA" in errors["rule.all[1].timezone[1]"]
    assert "BCP 47" in errors["rule.all[2].language[1]"]
    assert "rule.any[0].status[1]" in dict(refusal({"any": [{"status": ["subscribed",
                                                                     "asleep"]}]}))


def test_dates_and_day_counts_are_checked() -> None:
    errors = dict(refusal({"all": [{"field": "joined", "op": "before", "value": "yesterday"},
                                   {"field": "joined", "op": "within_last_days", "value": -1},
                                   {"field": "city", "op": "in", "value": []},
                                   {"field": "city", "op": "is_set", "value": "x"}]}))
    assert errors["rule.all[0].value"] == 'a date as YYYY-MM-DD is required for field "joined"'
    assert "number of days" in errors["rule.all[1].value"]
    assert "a list of 1 to" in errors["rule.all[2].value"]
    assert "takes no value" in errors["rule.all[3].value"]


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"tag": "a"}
    for _ in range(MAX_DEPTH + 1):
        deep = {"all": [deep]}
    path, message = refusal(deep)[0]
    assert path.startswith("rule.all[0]")
    assert "nest at most" in message
    wide = {"any": [{"tag": "a"}] * (MAX_NODES + 1)}
    assert "at most" in refusal(wide)[0][1]
    # As deep as allowed is accepted.
    ok: dict[str, Any] = {"tag": "a"}
    for _ in range(MAX_DEPTH):
        ok = {"all": [ok]}
    validate_rule(ok, DECLARED)


def test_a_valid_rule_is_normalised_and_stored_as_given() -> None:
    rule = validate_rule({"all": [{"tag": " VIP "}, {"language": ["PT-br"]},
                                  {"list": str(LIST), "op": "not_in"}]}, DECLARED, [LIST])
    assert rule_json(rule) == {"all": [{"tag": "vip", "op": "has"}, {"language": ["pt-BR"]},
                                       {"list": str(LIST), "op": "not_in"}]}


def test_engagement_counts_opens_within_the_days_and_never_opened_means_no_open() -> None:
    campaign = uuid.uuid4()
    recent = ContactFacts(engagements=[Engagement("open", campaign, NOW - timedelta(days=2))])
    old = ContactFacts(engagements=[Engagement("open", campaign, NOW - timedelta(days=40))])
    nobody = ContactFacts(engagements=[Engagement("click", campaign, NOW)])
    opened = validate_rule({"engagement": "opened", "within_days": 30}, DECLARED)
    never = validate_rule({"engagement": "never_opened"}, DECLARED)
    other = validate_rule({"engagement": "opened", "campaign_id": str(uuid.uuid4())}, DECLARED)
    assert [matches(opened, c, NOW) for c in (recent, old, nobody)] == [True, False, False]
    assert [matches(never, c, NOW) for c in (recent, old, nobody)] == [False, False, True]
    assert not matches(other, recent, NOW)


def test_a_missing_field_or_one_of_another_type_matches_no_comparison() -> None:
    less = validate_rule({"field": "age", "op": "less", "value": 100}, DECLARED)
    unset = validate_rule({"field": "age", "op": "is_not_set"}, DECLARED)
    assert matches(less, ContactFacts(fields={"age": 30}), NOW)
    assert not matches(less, ContactFacts(), NOW)
    assert not matches(less, ContactFacts(fields={"age": "30"}), NOW)
    assert matches(unset, ContactFacts(), NOW)


def test_a_language_matches_its_regional_variants_and_an_empty_any_matches_nobody() -> None:
    en = validate_rule({"language": ["en"]}, DECLARED)
    assert matches(en, ContactFacts(language="en-GB"), NOW)
    assert not matches(en, ContactFacts(language="eng"), NOW)
    assert not matches(validate_rule({"any": []}, DECLARED), ContactFacts(), NOW)
    assert matches(validate_rule({"all": []}, DECLARED), ContactFacts(), NOW)
