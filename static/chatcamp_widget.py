# The embeddable widget's behaviour, run by static/widget.js under PyScript (MicroPython by
# default). widget.js has already drawn the widget in a shadow root and copied the snippet's
# data-* attributes onto the host element; this module wires the buttons to chatcamp_web and
# keeps the status line true. Every text is set as text, never as HTML.
import asyncio

from pyscript import document, window
from pyscript.ffi import create_proxy

from chatcamp_web import ChatCamp, ChatCampError, fetch_access_token

FRIENDLY = {
    "APP_MISMATCH": "another ChatCamp widget on this page uses another app; the SDK holds "
                    "one app per page",
    "HOST_MISMATCH": "another ChatCamp widget on this page talks to another chat server; the "
                     "SDK holds one server per page",
    "ALREADY_CONNECTED": "this page is already connected to ChatCamp as another user; the SDK "
                         "holds one session per page, so Disconnect first",
}
"""Errors that only a page with two widgets can meet, said in the widget's own terms."""

_widgets = []
"""Every widget mounted on this page, kept so their button proxies live as long as they do."""


def _text(value):
    return "" if value is None else str(value)


def _message(error):
    return "%s (%s)" % (FRIENDLY.get(error.code, error.message), error.code)


class Widget:
    """One mounted widget; several share the page's single ChatCamp session."""

    def __init__(self, host):
        data = host.dataset
        self.app_id = _text(data.appId)
        self.user_id = _text(data.userId)
        self.token_url = _text(data.tokenUrl)
        self.server = (_text(data.host), _text(data.port))
        self.auto_connect = _text(data.autoConnect) == "true"
        root = host.shadowRoot
        self.status = root.querySelector(".status")
        self.error_box = root.querySelector(".error")
        self.connect_button = root.querySelector("button.connect")
        self.disconnect_button = root.querySelector("button.disconnect")
        self.cc = None
        self.busy = False
        self.error = None
        self._proxies = [create_proxy(self._on_connect), create_proxy(self._on_disconnect)]
        self.connect_button.addEventListener("click", self._proxies[0])
        self.disconnect_button.addEventListener("click", self._proxies[1])

    def start(self):
        try:
            self.cc = ChatCamp(self.app_id, host=self.server[0], port=self.server[1],
                               token_provider=self.token if self.token_url else None)
        except ChatCampError as error:
            self.render_failure(_message(error))
            return
        self.cc.add_listener(self.render)
        self.render()
        if self.auto_connect and self.user_id:
            asyncio.create_task(self.connect())

    async def connect(self):
        if not self.user_id:
            self.error = "no user is signed in on this site (data-user-id is empty)"
            self.render()
            return
        self.busy, self.error = True, None
        self.render()
        try:
            await self.cc.connect(self.user_id)
        except ChatCampError as error:
            self.error = _message(error)
        except Exception as error:  # a bug must show in the widget, not kill the page's Python
            self.error = "unexpected error: %s" % error
        self.busy = False
        self.render()

    async def token(self, user_id):
        """The token provider: the site's token endpoint, asked again whenever the token
        expires, so the widget stays connected on short-lived tokens."""
        return await fetch_access_token(self.token_url)

    async def disconnect(self):
        self.busy, self.error = True, None
        self.render()
        try:
            await self.cc.disconnect()
        except ChatCampError as error:
            self.error = _message(error)
        self.busy = False
        self.render()

    def _on_connect(self, event):
        asyncio.create_task(self.connect())

    def _on_disconnect(self, event):
        asyncio.create_task(self.disconnect())

    def render(self, change=None):
        state = self.cc.state
        user = self.cc.user
        shown = user.id if user is not None else (self.user_id or "none")
        text = "State: %s · User: %s" % (state, shown)
        if state == "disconnected":
            text += " · reconnecting"
        self.status.textContent = text
        self.status.dataset.state = state
        error = self.error
        if error is None and state == "failed" and self.cc.reason is not None:
            error = _message(self.cc.reason)
        self.error_box.hidden = error is None
        self.error_box.textContent = "Error: %s" % error if error else ""
        idle = state in ("initialized", "closed", "failed")
        self.connect_button.disabled = self.busy or not idle or not self.user_id
        self.disconnect_button.disabled = self.busy or idle or state == "closing"

    def render_failure(self, message):
        self.status.textContent = "State: failed · User: %s" % (self.user_id or "none")
        self.status.dataset.state = "failed"
        self.error_box.hidden = False
        self.error_box.textContent = "Error: %s" % message
        self.connect_button.disabled = True
        self.disconnect_button.disabled = True


async def mount(host_id):
    """Called by the snippet's generated script once per widget; never raises into PyScript."""
    host = document.getElementById(host_id)
    if host is None:
        print("chatcamp widget: no element #%s to mount on" % host_id)
        return
    widget = Widget(host)
    _widgets.append(widget)
    problem = await window.chatcampWidget.sdk
    if problem:
        widget.render_failure(str(problem))
    else:
        widget.start()
