"""The rules that tell a person's open or click from a machine's (campaign_api.engagement_rules),
one test per rule: each name says the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from campaign_api.engagement_rules import (
    BURST_WITHIN,
    HUMAN,
    MAX_USER_AGENT,
    PREFETCH_WITHIN,
    TRAP_WITHIN,
    EarlierClick,
    classify_click,
    classify_open,
    machine,
    user_agent,
)

IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
APPLE_MAIL_PROXY = "Mozilla/5.0"
GMAIL_PROXY = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
               "(via ggpht.com GoogleImageProxy)")
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK = ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)")
SCANNER = "python-requests/2.31.0"
AT = datetime(2030, 5, 6, 9, 30, tzinfo=UTC)


def _click(id_: int, url: str | None, seconds_before: float, human: bool | None = True
           ) -> EarlierClick:
    return EarlierClick(id=id_, url=url, at=AT - timedelta(seconds=seconds_before), human=human)


# Opens


def test_an_open_from_a_mail_client_or_browser_is_a_persons() -> None:
    for agent in (IPHONE_SAFARI, CHROME):
        assert classify_open(agent, since_delivery=timedelta(seconds=5)) == HUMAN


def test_an_open_through_apple_mail_privacy_protection_is_a_prefetch_whenever_it_comes() -> None:
    for since in (timedelta(seconds=1), timedelta(days=3), None):
        assert classify_open(APPLE_MAIL_PROXY, since_delivery=since) == machine(
            "apple_privacy_proxy")


def test_an_image_proxy_open_within_seconds_of_delivery_is_a_prefetch() -> None:
    for agent in (GMAIL_PROXY, YAHOO_PROXY):
        for since in (timedelta(0), timedelta(seconds=3), PREFETCH_WITHIN):
            assert classify_open(agent, since_delivery=since) == machine("proxy_prefetch")


def test_an_image_proxy_open_later_is_the_reader_opening_the_message() -> None:
    later = PREFETCH_WITHIN + timedelta(seconds=1)
    for agent in (GMAIL_PROXY, YAHOO_PROXY):
        assert classify_open(agent, since_delivery=later) == HUMAN
        assert classify_open(agent, since_delivery=timedelta(hours=5)) == HUMAN


def test_an_image_proxy_open_of_a_delivery_not_known_yet_is_taken_as_the_readers() -> None:
    assert classify_open(GMAIL_PROXY, since_delivery=None) == HUMAN


def test_a_desktop_mail_client_the_bot_list_knows_opens_as_a_person() -> None:
    assert classify_open(OUTLOOK, since_delivery=timedelta(seconds=2)) == HUMAN


def test_an_open_by_a_known_bot_is_a_machines() -> None:
    for agent in (SCANNER, "curl/8.5.0", "Barracuda Sentinel (EE)"):
        assert classify_open(agent, since_delivery=timedelta(hours=1)) == machine(
            "bot_user_agent")


def test_an_open_without_a_user_agent_is_a_machines() -> None:
    assert classify_open("", since_delivery=timedelta(hours=1)) == machine("no_user_agent")


# Clicks


def test_a_click_from_a_browser_is_a_persons() -> None:
    verdict = classify_click(CHROME, url="https://shop.example/a", at=AT, earlier=[], links=3)
    assert (verdict.verdict, verdict.relabel) == (HUMAN, ())


def test_a_click_by_a_known_bot_is_a_scanners() -> None:
    verdict = classify_click(SCANNER, url="https://shop.example/a", at=AT, earlier=[], links=3)
    assert verdict.verdict == machine("bot_user_agent")


def test_a_click_without_a_user_agent_is_a_machines() -> None:
    verdict = classify_click("", url="https://shop.example/a", at=AT, earlier=[], links=3)
    assert verdict.verdict == machine("no_user_agent")


def test_every_link_of_an_email_clicked_within_seconds_is_a_scanner_and_takes_the_burst_along(
) -> None:
    earlier = [_click(1, "https://shop.example/a", 2.0), _click(2, "https://shop.example/b", 1.0)]
    verdict = classify_click(CHROME, url="https://shop.example/c", at=AT, earlier=earlier, links=3)
    assert verdict.verdict == machine("link_burst")
    assert verdict.relabel == (1, 2)


def test_a_burst_leaves_clicks_already_labelled_a_machines_with_their_own_reason() -> None:
    earlier = [_click(1, "https://shop.example/a", 2.0, human=False),
               _click(2, "https://shop.example/b", 1.0)]
    verdict = classify_click(CHROME, url="https://shop.example/c", at=AT, earlier=earlier, links=3)
    assert verdict.relabel == (2,)


def test_some_links_of_an_email_clicked_quickly_is_a_person() -> None:
    earlier = [_click(1, "https://shop.example/a", 2.0), _click(2, "https://shop.example/a", 1.0)]
    verdict = classify_click(CHROME, url="https://shop.example/b", at=AT, earlier=earlier, links=3)
    assert (verdict.verdict, verdict.relabel) == (HUMAN, ())


def test_every_link_clicked_over_more_than_the_burst_is_a_person_reading_on() -> None:
    slow = BURST_WITHIN.total_seconds() + 1
    earlier = [_click(1, "https://shop.example/a", slow), _click(2, "https://shop.example/b", 1)]
    verdict = classify_click(CHROME, url="https://shop.example/c", at=AT, earlier=earlier, links=3)
    assert verdict.verdict == HUMAN


def test_the_only_link_of_an_email_clicked_is_no_burst() -> None:
    verdict = classify_click(CHROME, url="https://shop.example/a", at=AT, earlier=[], links=1)
    assert verdict.verdict == HUMAN


def test_an_email_whose_links_are_not_known_has_no_burst_rule() -> None:
    earlier = [_click(1, "https://shop.example/a", 1.0)]
    verdict = classify_click(CHROME, url="https://shop.example/b", at=AT, earlier=earlier,
                             links=None)
    assert verdict.verdict == HUMAN


def test_the_trap_link_is_only_ever_followed_by_a_scanner_which_takes_its_pass_along() -> None:
    earlier = [_click(1, "https://shop.example/a", TRAP_WITHIN.total_seconds() + 5),
               _click(2, "https://shop.example/b", 3.0)]
    verdict = classify_click(CHROME, url=None, at=AT, earlier=earlier, links=5)
    assert verdict.verdict == machine("trap_link")
    assert verdict.relabel == (2,)  # not the click long before


def test_a_click_soon_after_a_trap_link_hit_is_the_same_scanners() -> None:
    earlier = [_click(1, None, 2.0, human=False)]
    verdict = classify_click(CHROME, url="https://shop.example/a", at=AT, earlier=earlier,
                             links=5)
    assert verdict.verdict == machine("trap_link")


def test_a_click_long_after_a_trap_link_hit_is_judged_on_its_own() -> None:
    earlier = [_click(1, None, TRAP_WITHIN.total_seconds() + 1, human=False)]
    verdict = classify_click(CHROME, url="https://shop.example/a", at=AT, earlier=earlier,
                             links=5)
    assert verdict.verdict == HUMAN


# The user agent as read


def test_a_missing_user_agent_reads_as_none() -> None:
    assert user_agent(None) == ""
    assert user_agent("   ") == ""


def test_a_user_agent_is_cut_to_a_bound_and_stripped_of_control_characters() -> None:
    assert user_agent("Mozilla/5.0\x00\x1b[31m (X11)\r\n") == "Mozilla/5.0[31m (X11)"
    assert len(user_agent("A" * 100_000)) == MAX_USER_AGENT


@given(st.text(max_size=2_000))
def test_any_user_agent_at_all_gets_a_verdict(header: str) -> None:
    agent = user_agent(header)
    assert classify_open(agent, since_delivery=timedelta(seconds=1)).human in (True, False)
    verdict = classify_click(agent, url="https://shop.example/", at=AT, earlier=[], links=2)
    assert verdict.verdict.human == (verdict.verdict.reason is None)
