"""The admin monitor (/monitor) in real headless Chromium against a real node: an admin sees the
rooms live and inspects one; a client ticket and a forged admin ticket are refused."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kasagi.auth import mint_token
from kasagi.node import NodeOptions
from kasagi.testing import free_port
from kasagi.testing.node import NodeProcess
from tests.browser.pages import ROOT, base_url, check_vendor, open_page, page_url

pytestmark = [pytest.mark.browser, pytest.mark.node]

ADMIN_SECRET = "kasagi-admin-" + secrets.token_urlsafe(24)
OTHER_SECRET = "kasagi-other-" + secrets.token_urlsafe(24)
SCREENSHOT = ROOT / "docs" / "monitor.png"


@pytest.fixture(scope="module")
def admin_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A dev-mode node (any client authid) whose admins sign their tickets with KASAGI_ADMIN_SECRET."""
    check_vendor()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KASAGI_SECRET", "KASAGI_BACKEND_SECRET")}
    env["KASAGI_ADMIN_SECRET"] = ADMIN_SECRET
    tmp = tmp_path_factory.mktemp("monitor")
    options = NodeOptions(port=port, data_dir=tmp / "node", loglevel="info", service={"store": "memory"})
    proc = NodeProcess(options, env=env).start()
    yield proc
    proc.stop()


def _admin_ticket(authid: str, secret: str = ADMIN_SECRET) -> str:
    return mint_token(authid, secret.encode(), time.time(), 600, role="admin")


def _sign_in(context: Any, node: NodeProcess, name: str, ticket: str) -> Any:
    page = context.new_page()
    page.goto(base_url(node) + "monitor")
    page.fill("#login-name", name)
    page.fill("#login-ticket", ticket)
    page.click("#login button[type=submit]")
    return page


def _play(context: Any, node: NodeProcess, room: str, name: str) -> Any:
    return open_page(context, page_url(node, room=room, name=name))


def test_an_admin_sees_the_rooms_live_and_inspects_one(admin_node: NodeProcess, browser: Any) -> None:
    """Signed in with an admin ticket, the monitor lists the node and a room two players are in, with their
    presence; clicking it shows its state as a tree, its last events and its members; a move shows up in the
    inspector without a reload; the page is saved as docs/monitor.png."""
    players = browser.new_context(viewport={"width": 900, "height": 700})
    alice = _play(players, admin_node, "monitor_arena", "alice")
    bob = _play(players, admin_node, "monitor_arena", "bob")
    _play(players, admin_node, "monitor_doc_like", "carol")
    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    page = _sign_in(admin, admin_node, "ops", _admin_ticket("ops"))
    page.wait_for_function("kasagiMonitor.ready && kasagiMonitor.status === 'open'", timeout=20_000)
    page.wait_for_selector("#processes tr[data-process=node]", timeout=10_000)
    row = page.wait_for_selector("#rooms tr[data-room=monitor_arena]", timeout=10_000)
    page.wait_for_function(
        "[...document.querySelectorAll('#rooms tr[data-room=monitor_arena] td')][2].textContent === '2'",
        timeout=10_000,
    )
    assert "node" in page.inner_text("#processes")
    row.click()
    page.wait_for_selector("#inspect-members tr[data-member=alice]", timeout=10_000)
    page.wait_for_selector("#inspect-members tr[data-member=bob]", timeout=10_000)
    assert "online" in page.inner_text("#inspect-members tr[data-member=alice]")
    assert page.query_selector("#state details[data-path='$.players']") is not None
    assert page.eval_on_selector_all("#events li", "els => els.length") >= 1

    # Live: alice moves; the inspector follows the summary to the new seq, no reload.
    seq = page.evaluate("kasagiMonitor.inspected.seq")
    alice.focus("#world")
    alice.keyboard.press("ArrowRight")
    page.wait_for_function(f"kasagiMonitor.inspected && kasagiMonitor.inspected.seq > {seq}", timeout=10_000)
    page.click("#state details[data-path='$.players'] > summary")
    page.wait_for_selector("#state details[data-path='$.players.alice']", timeout=5_000)
    page.click("#state details[data-path='$.players.alice'] > summary")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert bob.evaluate("kasagiDemo.client.status") == "open"
    admin.close()
    players.close()


def test_an_admin_removes_a_member_and_closes_a_room(admin_node: NodeProcess, browser: Any) -> None:
    """Removing a member ends its presence in an event the inspector lists as a notice; closing the room ends
    it with a final closed event that the players' pages report."""
    players = browser.new_context(viewport={"width": 900, "height": 700})
    dave = _play(players, admin_node, "monitor_close", "dave")
    erin = _play(players, admin_node, "monitor_close", "erin")
    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    page = _sign_in(admin, admin_node, "ops", _admin_ticket("ops"))
    page.wait_for_selector("#rooms tr[data-room=monitor_close]", timeout=20_000).click()
    page.wait_for_selector("#inspect-members tr[data-member=erin] button", timeout=10_000).click()
    page.wait_for_function("document.querySelector('#inspect-error').textContent.includes('erin removed')")
    page.wait_for_function(
        "kasagiMonitor.inspected.events.some(e => (e.notices || []).some(n => n.kind === 'removed'))", timeout=10_000
    )
    erin.wait_for_function("kasagiDemo.ended === 'removed'", timeout=10_000)
    page.click("#close-room")
    page.click("#close-room")  # confirm
    page.wait_for_function("document.querySelector('#inspect-error').textContent.includes('room closed')")
    dave.wait_for_function("kasagiDemo.ended === 'closed'", timeout=10_000)
    assert "closed" in dave.inner_text("#status").lower()
    page.wait_for_function("!document.querySelector('#rooms tr[data-room=monitor_close]')", timeout=10_000)
    admin.close()
    players.close()


@pytest.mark.parametrize(
    ("case", "ticket"),
    [
        ("a client ticket", "dev"),
        ("an admin ticket signed with another secret", "forged"),
    ],
)
def test_the_monitor_refuses_anyone_but_an_admin(admin_node: NodeProcess, browser: Any, case: str, ticket: str) -> None:
    """A client ticket logs in as a client but may not subscribe to the summary, and an admin ticket with a
    bad signature is refused at login: either way the page says refused and shows no room."""
    if ticket == "forged":
        ticket = _admin_ticket("mallory", secret=OTHER_SECRET)
    context = browser.new_context()
    page = _sign_in(context, admin_node, "mallory", ticket)
    page.wait_for_function("kasagiMonitor.status === 'refused'", timeout=20_000)
    assert "refused" in page.inner_text("#login-error"), case
    assert page.is_hidden("#board")
    assert page.evaluate("kasagiMonitor.processes.size") == 0
    assert json.loads(page.evaluate("JSON.stringify(kasagiMonitor.ready)")) is False
    context.close()
