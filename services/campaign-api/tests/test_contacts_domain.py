"""The pure rules of contacts: addresses, names, typed custom fields, tags, zones, languages."""

from __future__ import annotations

import pytest

from campaign_api.contacts_domain import (
    InvalidContact,
    contact,
    field_declaration,
    field_value,
    language_of,
    merged_fields,
    render_field,
    tags_of,
    timezone_of,
)

DECLARED = {"age": "number", "born": "date", "vip": "boolean", "company": "text"}


def test_a_contact_is_normalised_as_recipients_always_were() -> None:
    c = contact(" Ada@Example.COM ", DECLARED, name="  Ada Lovelace ",
                fields={"age": "36", "born": "1815-12-10", "vip": "yes", "company": "Analytical"},
                tags=[" VIP ", "vip", "Early   Adopter"], timezone="Europe/London",
                language="en-gb")
    assert c.email == "ada@example.com"
    assert c.name == "Ada Lovelace"
    assert c.fields == {"age": 36, "born": "1815-12-10", "vip": True, "company": "Analytical"}
    assert c.tags == ["early adopter", "vip"]
    assert c.timezone == "Europe/London"
    assert c.language == "en-GB"
    assert c.status == "subscribed"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"email": "not-an-address"}, "email"),
    ({"email": ""}, "email"),
    ({"name": "two\nlines"}, "name"),
    ({"fields": {"age": "old"}}, "fields.age"),
    ({"fields": {"age": True}}, "fields.age"),
    ({"fields": {"born": "10/12/1815"}}, "fields.born"),
    ({"fields": {"vip": "perhaps"}}, "fields.vip"),
    ({"fields": {"company": ["a"]}}, "fields.company"),
    ({"fields": {"shoe_size": "42"}}, "fields.shoe_size"),
    ({"tags": ["ok", ""]}, "tags[1]"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"language": "english please"}, "language"),
    ({"status": "happy"}, "status"),
])
def test_bad_input_is_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"email": "ada@example.com", **kwargs}
    email = args.pop("email")
    with pytest.raises(InvalidContact) as caught:
        contact(str(email), DECLARED, path="contacts[2].", **args)  # type: ignore[arg-type]
    assert caught.value.field == f"contacts[2].{field}"
    assert str(caught.value).startswith(f"contacts[2].{field}: ")


def test_numbers_keep_their_kind_and_read_as_plain_text() -> None:
    assert field_value("f", "number", "42") == 42
    assert field_value("f", "number", 2.5) == 2.5
    assert render_field(field_value("f", "number", "3.0")) == "3"
    assert render_field(True) == "true"
    with pytest.raises(InvalidContact):
        field_value("f", "number", "nan")


def test_an_empty_zone_or_language_is_none_and_casing_follows_bcp47() -> None:
    assert timezone_of("  ") is None
    assert language_of(None) is None
    assert language_of("zh-hant-tw") == "zh-Hant-TW"


def test_tags_are_bounded() -> None:
    with pytest.raises(InvalidContact) as caught:
        tags_of([f"t{i}" for i in range(101)])
    assert caught.value.field == "tags"


def test_a_declaration_names_what_is_wrong() -> None:
    assert field_declaration("plan", "", "text") == ("plan", "plan", "text")
    for args, field in [(("1st", "x", "text"), "key"), (("email", "x", "text"), "key"),
                        (("plan", "x", "money"), "type"), (("plan", "a\nb", "text"), "label")]:
        with pytest.raises(InvalidContact) as caught:
            field_declaration(*args)
        assert caught.value.field == field


def test_a_null_in_an_update_removes_the_field() -> None:
    assert merged_fields({"a": 1, "b": 2}, {"a": None, "c": 3}) == {"b": 2, "c": 3}
