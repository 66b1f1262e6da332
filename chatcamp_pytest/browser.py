"""Waiting, in Playwright, for the widget or the session page to reach a connection state.

Both show the state of their ChatCamp session: the widget as ``data-state`` on its status
line (``role="status"``) inside the open shadow root of each ``<chatcamp-widget>``, the
session page as the text of ``#state``.  Each shows the reason of a failure in words (the
widget in its ``role="alert"`` line, the page in ``#error``), and that reason is what a failed
wait reports, instead of a bare timeout.

Playwright is imported by the waits, not by this module, so the plugin loads without it.
"""

from __future__ import annotations

from typing import Any, Collection
from urllib.parse import urlsplit

STATES = ("initialized", "connecting", "connected", "disconnected", "closing", "closed",
          "failed")
"""The ``chatcamp_web`` session's states (``ConnectionState.ALL``)."""
WIDGET_STATES = ("loading", *STATES)
"""The widget says ``loading`` until its Python has started."""
SESSION_PAGE_STATES = WIDGET_STATES
"""The session page, too, says ``loading`` until its Python has started."""
FAIL_ON = ("failed",)
"""Terminal until someone presses Connect: waiting on for another state would only time out."""
DEFAULT_TIMEOUT = 60.0
"""Seconds: a cold browser cache and a busy machine start Python in tens of seconds."""


def _checked(state: str, fail_on: Collection[str], known: Collection[str]) -> None:
    for name in (state, *fail_on):
        if name not in known:
            raise ValueError(f"{name!r} is not a state the page shows; it shows one of "
                             f"{', '.join(known)}")


def wait_for_widget_state(page: Any, state: str, *, timeout: float = DEFAULT_TIMEOUT,
                          widget: int = 0, fail_on: Collection[str] = FAIL_ON) -> None:
    """Wait until the ``widget``-th ChatCamp widget of ``page`` (a Playwright sync ``Page``
    or ``Frame``) shows ``state``; ``timeout`` is in seconds.

    Fails with an ``AssertionError`` that quotes the widget's status line and error: at once
    when it shows a state of ``fail_on`` instead (by default ``failed``: after pressing
    Connect on a failed widget, pass ``fail_on=()``), or at the timeout.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    _checked(state, fail_on, WIDGET_STATES)
    host = page.locator("chatcamp-widget").nth(widget)
    status = host.locator("[role=status]")
    awaited = ", ".join(f'[role=status][data-state="{name}"]' for name in (state, *fail_on))
    try:
        host.locator(awaited).wait_for(timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(f"the ChatCamp widget did not reach {state!r} within "
                             f"{timeout:g} s: {_widget_shows(host)}") from None
    shown = status.get_attribute("data-state")
    if shown != state:
        raise AssertionError(f"the ChatCamp widget is {shown!r}, not {state!r}: "
                             f"{_widget_shows(host)}")


def _widget_shows(host: Any) -> str:
    if host.count() == 0:
        return "the page has no such <chatcamp-widget> element"
    status = host.locator("[role=status]").inner_text()
    error = host.locator("[role=alert]")
    reason = error.inner_text() if error.is_visible() else "no error shown"
    return f"it shows {status!r} ({reason})"


def wait_for_session_page_state(page: Any, state: str, *, timeout: float = DEFAULT_TIMEOUT,
                                fail_on: Collection[str] = FAIL_ON) -> None:
    """Wait until the chatcamp-web session page (the server's ``/``) shows ``state``; the
    rest as ``wait_for_widget_state``, quoting the page's state and error."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    _checked(state, fail_on, SESSION_PAGE_STATES)
    try:
        page.wait_for_function(
            "([names]) => names.includes(document.getElementById('state')?.textContent)",
            arg=[[state, *fail_on]], timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(f"the session page did not reach {state!r} within "
                             f"{timeout:g} s: {_session_page_shows(page)}") from None
    shown = page.locator("#state").inner_text()
    if shown != state:
        raise AssertionError(f"the session page is {shown!r}, not {state!r}: "
                             f"{_session_page_shows(page)}")


def _session_page_shows(page: Any) -> str:
    shown = page.evaluate("""() => {
        const text = (id) => document.getElementById(id)?.textContent ?? null;
        const error = document.getElementById('error');
        return [text('state'), error && !error.hidden ? error.textContent : null,
                text('loading-text')];
    }""")
    state, error, loading = shown
    if state is None:
        return "it is not the session page (no #state element)"
    described = f"it shows state {state!r} ({error or 'no error shown'})"
    return described + (f", still starting: {loading!r}" if loading else "")


def block_other_origins(target: Any, *origins: str) -> list[str]:
    """Abort every request of ``target`` (a Playwright ``Page`` or ``BrowserContext``) that
    leaves ``origins``, and return the list their URLs are added to: a test asserts it empty,
    so a page that starts loading something from a CDN fails instead of passing online only.
    Routes added later win, so a test may still answer some of these URLs itself."""
    allowed = {origin.rstrip("/") for origin in origins}
    blocked: list[str] = []

    def route(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" in allowed:
            route.fallback()
        else:
            blocked.append(route.request.url)
            route.abort()

    target.route("**/*", route)
    return blocked
