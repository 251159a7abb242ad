"""The demo pages in real headless Chromium (Debian's, driven by Playwright) against a real node."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from kasagi.testing.node import NodeProcess
from tests.browser.pages import ARTIFACTS, DEMO_READY, base_url, open_page, start_web_node

pytestmark = [pytest.mark.browser, pytest.mark.node]

LATENCY_SAMPLES = 20


@pytest.fixture(scope="module")
def web_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node with the default tick (20 ms) serving web/ -- what `make run` gives a person."""
    proc = start_web_node(tmp_path_factory.mktemp("web"))
    yield proc
    proc.stop()


def _view(page: Any) -> dict[str, Any]:
    """What the page's room holds: member, seq, state (as JSON), connection status."""
    raw = page.evaluate(
        "JSON.stringify({member: kasagiDemo.room.member, seq: kasagiDemo.room.seq, epoch: kasagiDemo.room.epoch,"
        " state: kasagiDemo.room.state, status: kasagiDemo.client.status, stats: kasagiDemo.room.stats,"
        " canonical: kasagiDemo.room.replica && JSON.stringify(kasagiDemo.room.state)})"
    )
    view: dict[str, Any] = json.loads(raw)
    return view


def _same_state(a: Any, b: Any, timeout_ms: int = 15_000) -> None:
    """Wait until pages a and b are at the same seq, then check they hold the same state."""
    for _ in range(10):  # events may still be arriving; each round waits for the one behind
        va, vb = _view(a), _view(b)
        if va["seq"] == vb["seq"]:
            assert va["state"] == vb["state"]
            return
        behind, ahead = (a, vb) if va["seq"] < vb["seq"] else (b, va)
        behind.wait_for_function(f"kasagiDemo.room && kasagiDemo.room.seq >= {ahead['seq']}", timeout=timeout_ms)
    raise AssertionError("the two tabs did not settle on one seq")


def test_two_tabs_play_the_arena_and_a_reload_catches_up(web_node: NodeProcess, browser: Any) -> None:
    """A move in tab 1 shows in tab 2; tab 2 reloaded is the same member and catches up; a dropped
    connection re-joins from its last position; a screenshot and the key-press-to-other-tab
    latency (median of 20) are saved in test-artifacts/."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    url = base_url(web_node) + "?room=browser_arena"
    one = open_page(context, url)
    two = open_page(context, url)
    me1, me2 = _view(one)["member"], _view(two)["member"]
    assert me1 != me2, "each tab is its own member"
    two.wait_for_function(f"(kasagiDemo.room.state.players || {{}})[{json.dumps(me1)}] !== undefined", timeout=10_000)

    # A move in tab 1 reaches tab 2.
    x0 = _view(one)["state"]["players"][me1]["x"]
    one.keyboard.press("ArrowLeft" if x0 > 500 else "ArrowRight")
    one.wait_for_function(f"kasagiDemo.room.state.players[{json.dumps(me1)}].x !== {x0}", timeout=10_000)
    _same_state(one, two)
    assert _view(two)["state"]["players"][me1]["x"] != x0

    # Key press in tab 1 -> the change applied in tab 2, 20 times.
    latencies = []
    for i in range(LATENCY_SAMPLES):
        sent_before = one.evaluate("kasagiDemo.sent.length")
        one.keyboard.press("ArrowUp" if i % 2 else "ArrowDown")
        t_press = one.evaluate(f"kasagiDemo.sent[{sent_before}]")
        two.wait_for_function(f"(kasagiDemo.seen[{json.dumps(me1)}] || {{t: 0}}).t >= {t_press}", timeout=10_000)
        latencies.append(two.evaluate(f"kasagiDemo.seen[{json.dumps(me1)}].at") - t_press)
    median = statistics.median(latencies)

    # Reload tab 2 while tab 1 keeps moving: same member, same state afterwards.
    members_before = set(_view(one)["state"]["members"])
    two.reload()
    for key in ("ArrowRight", "ArrowDown", "ArrowLeft"):
        one.keyboard.press(key)
    two.wait_for_function(DEMO_READY, timeout=20_000)
    assert _view(two)["member"] == me2, "a reload keeps the tab's member (sessionStorage)"
    _same_state(one, two)
    assert set(_view(two)["state"]["members"]) == members_before, "no new member appeared"
    two.wait_for_function(f"kasagiDemo.room.state.members[{json.dumps(me2)}].online === true", timeout=10_000)

    # A dropped connection: tab 2 re-joins from its position and gets the missed events.
    catchups = _view(two)["stats"]["catchups"]
    two.evaluate("kasagiDemo.client.dropConnection()")
    for key in ("ArrowUp", "ArrowRight"):
        one.keyboard.press(key)
    two.wait_for_function(
        f"kasagiDemo.client.status === 'open' && kasagiDemo.room.stats.catchups > {catchups}", timeout=20_000
    )
    _same_state(one, two)

    shown = f"document.getElementById('seq').textContent === '{_view(one)['seq']}'"
    online = "document.querySelectorAll('#members li[data-online=true]').length === 2"
    one.wait_for_function(f"{shown} && {online}", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    one.screenshot(path=str(ARTIFACTS / "demo.png"))
    figures = {"samples": latencies, "median_ms": median, "min_ms": min(latencies), "max_ms": max(latencies)}
    (ARTIFACTS / "latency.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"\nkey press in tab 1 -> change in tab 2: median {median:.1f} ms over {LATENCY_SAMPLES}", figures)
    assert one.kasagi_errors == [] and two.kasagi_errors == [], "no uncaught error in either page"
    assert one.evaluate("kasagiDemo.errors") == [] and two.evaluate("kasagiDemo.errors") == []
    context.close()


def test_two_tabs_edit_the_shared_doc(web_node: NodeProcess, browser: Any) -> None:
    """Typing and list edits in one doc tab appear in the other; an edit the schema forbids is
    refused with kasagi.error.rejected and changes nothing."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    url = base_url(web_node) + "doc.html?room=browser_doc"
    one = open_page(context, url)
    two = open_page(context, url)
    one.fill("#title", "Hello from tab 1")
    for text in ("first", "second", "third"):
        one.fill("#new-item", text)
        one.click("#add")
    two.wait_for_function(
        "document.querySelector('#title').value === 'Hello from tab 1'"
        " && document.querySelectorAll('#items li').length === 3",
        timeout=10_000,
    )
    two.click("#items li:first-child button")  # delete item 0: the others shift down
    one.wait_for_function("document.querySelectorAll('#items li').length === 2", timeout=10_000)
    assert [i["text"] for i in _view(one)["state"]["items"]] == ["second", "third"]
    _same_state(one, two)  # both tabs have applied every event so far
    seq = _view(two)["seq"]
    two.fill("#title", "x" * 201)
    two.dispatch_event("#title", "change")
    two.wait_for_function("kasagiDemo.errors.length > 0", timeout=10_000)
    assert two.evaluate("kasagiDemo.errors") == ["kasagi.error.rejected"]
    assert "schema" in two.inner_text("#error")
    _same_state(one, two)
    assert _view(one)["state"]["title"] == "Hello from tab 1"
    assert _view(one)["seq"] == seq, "the refused edit made no event"
    assert one.kasagi_errors == [] and two.kasagi_errors == []
    context.close()


def _member_row(member: str, online: bool) -> str:
    """A condition: the members list shows `member` with that presence."""
    selector = f"#members li[data-member={json.dumps(member)}][data-online={str(online).lower()}]"
    return f"document.querySelector({json.dumps(selector)}) !== null"


def test_a_name_set_in_one_tab_shows_in_the_other_and_is_remembered(web_node: NodeProcess, browser: Any) -> None:
    """A name refused by the member id rule says the rule and changes nothing; a valid name set in
    tab 1 shows in tab 2 as a present member (the old id greyed as away), and a new tab opens as
    that name."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    url = base_url(web_node) + "?room=browser_names"
    one = open_page(context, url)
    two = open_page(context, url)
    before = _view(one)["member"]

    one.fill("#name", "not a name!")
    one.press("#name", "Enter")
    one.wait_for_function("document.querySelector('#name-form .name-message').classList.contains('error')")
    assert "letters, digits or _ . @ -" in one.inner_text("#name-form .name-message")
    assert _view(one)["member"] == before, "a refused name changes nothing"

    one.fill("#name", "ada_lovelace")
    one.click("#name-form button[type=submit]")
    one.wait_for_function(f"{DEMO_READY} && kasagiDemo.room.member === 'ada_lovelace'", timeout=20_000)
    assert one.input_value("#name") == "ada_lovelace"
    assert one.inner_text("#me") == "ada_lovelace"
    two.wait_for_function(_member_row("ada_lovelace", True), timeout=10_000)
    two.wait_for_function(_member_row(before, False), timeout=10_000)  # the old id is away, not gone yet
    assert "ada_lovelace" in two.inner_text("#members")

    three = open_page(context, url)
    assert _view(three)["member"] == "ada_lovelace", "the chosen name is remembered for the next tab"
    assert one.kasagi_errors == [] and two.kasagi_errors == [] and three.kasagi_errors == []
    context.close()


def test_the_invite_link_opens_the_same_room(web_node: NodeProcess, browser: Any) -> None:
    """The invite button copies a link to this room without this tab's name; opened by someone
    else it joins the same room, and both see each other."""
    clipboard = ["clipboard-read", "clipboard-write"]
    host = browser.new_context(viewport={"width": 1040, "height": 680}, permissions=clipboard)
    page = open_page(host, base_url(web_node) + "doc.html?room=browser_invite&name=host_tab")
    page.click("#invite")
    page.wait_for_function("kasagiDemo.inviteCopied === true", timeout=10_000)
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.evaluate("kasagiDemo.invite")
    assert "room=browser_invite" in link and "name=" not in link and link.startswith(base_url(web_node) + "doc.html")

    guest_context = browser.new_context(viewport={"width": 1040, "height": 680})
    guest = open_page(guest_context, link)
    view = _view(guest)
    assert view["member"] != "host_tab"
    assert guest.inner_text("#room") == "browser_invite"
    assert "host_tab" in view["state"]["members"]
    page.wait_for_function(_member_row(view["member"], True), timeout=10_000)
    assert page.kasagi_errors == [] and guest.kasagi_errors == []
    guest_context.close()
    host.close()


def test_an_offline_player_is_not_counted_and_shown_greyed(web_node: NodeProcess, browser: Any) -> None:
    """A player whose tab closed keeps its seat for the grace period but is not counted as
    present, and its row is greyed."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    url = base_url(web_node) + "?room=browser_presence"
    one = open_page(context, url + "&name=stays_a")
    open_page(context, url + "&name=stays_b")
    leaver = open_page(browser.new_context(), url + "&name=leaves")
    one.wait_for_function("document.getElementById('players').dataset.present === '3'", timeout=10_000)

    leaver.context.close()
    one.wait_for_function(_member_row("leaves", False), timeout=15_000)
    one.wait_for_function("document.getElementById('players').dataset.present === '2'", timeout=10_000)
    assert "leaves" in _view(one)["state"]["players"], "the player is still in its grace period"
    assert one.inner_text("#players") == "2 (1 away)"
    row = one.locator("#members li[data-member=leaves]")
    assert "away" in row.inner_text()
    assert float(row.evaluate("li => getComputedStyle(li).opacity")) < 1
    assert one.locator("#members li").first.get_attribute("data-online") == "true", "present members first"
    assert "epoch" not in one.inner_text("aside").lower(), "no raw epoch on the page"
    assert one.inner_text("#sync") == "in sync"
    context.close()


def test_the_status_says_reconnecting_while_the_node_is_unreachable_and_recovers(
    web_node: NodeProcess, browser: Any
) -> None:
    """Cut off from the node, the page says it is reconnecting (the pill, its own row, the sync
    line); once the node is reachable again it says connected and in sync, and a move goes through."""
    from tests.browser.relay import Relay

    context = browser.new_context(viewport={"width": 1040, "height": 680})
    with Relay(web_node.options.port) as relay:
        url = base_url(web_node) + f"?room=browser_reconnect&name=cut_off&url=ws://127.0.0.1:{relay.port}/ws"
        page = open_page(context, url)
        page.wait_for_function("document.getElementById('status').textContent === 'connected'", timeout=10_000)
        page.wait_for_function("document.getElementById('sync').textContent === 'in sync'", timeout=10_000)

        relay.cut()
        reconnecting = "document.getElementById('status').textContent.startsWith('reconnecting')"
        page.wait_for_function(reconnecting, timeout=10_000)
        assert "reconnecting" in (page.get_attribute("#status", "class") or "")
        assert page.inner_text("#sync") == "waiting for the connection"
        assert "reconnecting" in page.inner_text("#members li[data-member=cut_off]")
        page.wait_for_function("document.body.dataset.connection === 'reconnecting'")

        relay.restore()
        page.wait_for_function("document.getElementById('status').textContent === 'connected'", timeout=20_000)
        page.wait_for_function("document.getElementById('sync').textContent === 'in sync'", timeout=20_000)
        page.wait_for_function(_member_row("cut_off", True), timeout=10_000)
        x0 = _view(page)["state"]["players"]["cut_off"]["x"]
        page.focus("#world")
        page.keyboard.press("ArrowLeft" if x0 > 500 else "ArrowRight")
        page.wait_for_function(f"kasagiDemo.room.state.players.cut_off.x !== {x0}", timeout=10_000)
        assert page.kasagi_errors == []
    context.close()


def test_a_refused_room_name_shows_the_room_id_rule(web_node: NodeProcess, browser: Any) -> None:
    """A room name that is not a room id, in the address or typed in the room field, is refused
    with the rule stated and a link to a name that would do."""
    context = browser.new_context(viewport={"width": 1040, "height": 680})
    page = context.new_page()
    page.goto(base_url(web_node) + "?room=" + "My%20Room!")
    page.wait_for_function("window.kasagiDemo && kasagiDemo.failed === true", timeout=20_000)
    text = page.inner_text("#room-form .room-message")
    assert page.inner_text("#status") == "room name refused"
    assert '"My Room!" cannot be a room name' in text
    assert "lowercase letters, digits or _" in text and "^[a-z0-9_]{1,64}$" in text
    assert page.evaluate("kasagiDemo.errors") == ["kasagi.error.invalid_argument"]
    assert "room=my_room" in (page.get_attribute("#room-form .room-message a", "href") or "")

    doc = open_page(context, base_url(web_node) + "doc.html?room=browser_rule")
    doc.fill("#room-name", "Notes 2")
    doc.press("#room-name", "Enter")
    doc.wait_for_function("document.querySelector('#room-form .room-message').dataset.rule === 'room'", timeout=10_000)
    assert "lowercase letters, digits or _" in doc.inner_text("#room-form .room-message")
    assert "room=browser_rule" in doc.url, "a refused name goes nowhere"
    context.close()


def test_the_pages_fit_a_phone(web_node: NodeProcess, browser: Any) -> None:
    """On a 390 x 844 phone screen neither demo page scrolls sideways, and a tap on the board
    moves the player towards it; a screenshot is saved in test-artifacts/."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    doc = open_page(context, base_url(web_node) + "doc.html?room=browser_phone_doc&name=phone")
    assert doc.evaluate(fits), "the doc page scrolls sideways"
    page = open_page(context, base_url(web_node) + "?room=browser_phone&name=phone")
    assert page.evaluate(fits), "the arena page scrolls sideways"
    box = page.locator("#world").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390

    x0 = _view(page)["state"]["players"]["phone"]["x"]
    target = box["x"] + (box["width"] * (0.05 if x0 > 500 else 0.95))
    page.touchscreen.tap(target, box["y"] + box["height"] / 2)
    page.wait_for_function(f"kasagiDemo.room.state.players.phone.x !== {x0}", timeout=10_000)
    page.wait_for_function("document.getElementById('sync').textContent === 'in sync'", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-phone.png"))
    assert page.kasagi_errors == [] and doc.kasagi_errors == []
    context.close()
