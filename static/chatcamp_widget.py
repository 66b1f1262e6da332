# The embeddable widget's behaviour, run by static/widget.js under PyScript (MicroPython by
# default). widget.js has already drawn the widget in a shadow root and copied the snippet's
# data-* attributes onto the host element; this module wires the buttons to chatcamp_web and
# keeps the status line true, and with data-channel runs the chat panel. Every text is set
# as text, never as HTML.
import asyncio

from pyscript import document, window
from pyscript.ffi import create_proxy

from chatcamp_web import ChatCamp, ChatCampError, fetch_access_token

HISTORY_SHOWN = 50
"""Messages of the channel's history shown when the panel opens."""
MESSAGES_KEPT = 200
"""Messages the panel keeps; the oldest go as new ones come."""

CHAT_FRIENDLY = {
    "RATE_LIMITED": "you are sending messages too fast; wait a moment and send again",
    "MESSAGE_TOO_LONG": "a message can be at most %d characters",
    "NOT_A_PARTICIPANT": "you are not in this channel (any more)",
    "NOT_FOUND": "there is no such channel on the chat server",
    "TOO_MANY_CHANNELS": "you are in as many channels as the server allows; leave one first",
    "TIMEOUT": "the chat server did not answer in time; try again",
    "NOT_CONNECTED": "not connected to the chat server; the message was not sent",
}
"""What the chat panel says for the errors its user can meet."""

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
        channel_id = _text(data.channel)
        self.chat = Chat(self, root.querySelector(".chat"), channel_id) if channel_id else None

    def start(self):
        try:
            self.cc = ChatCamp(self.app_id, host=self.server[0], port=self.server[1],
                               token_provider=self.token if self.token_url else None)
        except ChatCampError as error:
            self.render_failure(_message(error))
            return
        self.cc.add_listener(self.render)
        if self.chat is not None:
            self.cc.add_listener(self.chat.on_state)
            if self.cc.state == "connected":  # another widget's session, already up
                asyncio.create_task(self.chat.open())
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


def _chat_message(error):
    text = CHAT_FRIENDLY.get(error.code, error.message)
    if error.code == "MESSAGE_TOO_LONG":
        from chatcamp_web.limits import MAX_MESSAGE_CHARS
        text = text % MAX_MESSAGE_CHARS
    return text + " (%s)" % error.code


class Chat:
    """The chat panel of one widget: the channel joined once connected (and again after each
    reconnect, with its recent history read afresh, since pushes sent while away are lost),
    its messages oldest at the top, and a send box.  It is the channel's listener too (the
    methods of chatcamp_web.channels.ChannelListener that it needs)."""

    def __init__(self, widget, panel, channel_id):
        self.widget = widget
        self.channel_id = channel_id
        self.channel = None
        self.list = panel.querySelector(".messages")
        self.error_box = panel.querySelector(".chat-error")
        self.input = panel.querySelector("input")
        self.button = panel.querySelector("button")
        self.sending = False
        self.opening = False
        self.nodes = {}
        """Message ID → its list item, oldest first in ``order``."""
        self.order = []
        self._proxy = create_proxy(self._on_submit)
        panel.querySelector("form").addEventListener("submit", self._proxy)

    def on_state(self, change):
        if change.current == "connected":
            asyncio.create_task(self.open())
        else:
            self.enable(False)

    async def open(self):
        if self.opening:
            return
        self.opening = True
        try:
            channel = await self.open_channel()
            await channel.join()
            history = await channel.history(limit=HISTORY_SHOWN)
        except ChatCampError as error:
            self.show_error(_chat_message(error))
            return
        finally:
            self.opening = False
        if self.channel is None:
            channel.add_listener(self)
            self.channel = channel
        self.clear()
        for message in reversed(history):
            self.add(message)
        self.show_error(None)
        self.enable(True)

    async def open_channel(self):
        try:
            return await self.widget.cc.open_channel(self.channel_id)
        except ImportError:  # PyScript took the files of a first widget without a channel
            raise ChatCampError("put the widget with data-channel first on this page, so "
                                "that the page loads the chat", "CHAT_NOT_LOADED")

    def enable(self, on):
        self.input.disabled = not on
        self.button.disabled = not on or self.sending

    def show_error(self, text):
        self.error_box.hidden = not text
        self.error_box.textContent = "Error: %s" % text if text else ""

    # the list of messages

    def item(self, message_id):
        return self.nodes.get(message_id)

    def clear(self):
        self.list.replaceChildren()
        self.nodes, self.order = {}, []

    def drop(self, message_id):
        node = self.nodes.pop(message_id, None)
        if node is not None:
            self.order.remove(message_id)
            node.remove()

    def add(self, message):
        if message.id in self.nodes:
            return  # one's own message comes twice: as the send's answer and as a push
        node = document.createElement("li")
        node.dataset.id = message.id
        sender = document.createElement("span")
        sender.className = "from"
        sender.setAttribute("dir", "auto")
        sender.textContent = message.display_name or message.user_id or "announcement"
        text = document.createElement("span")
        text.className = "text"
        text.setAttribute("dir", "auto")
        node.append(sender, text)
        self.fill(node, message)
        near_bottom = self.list.scrollHeight - self.list.scrollTop - self.list.clientHeight < 40
        self.list.append(node)
        self.nodes[message.id] = node
        self.order.append(message.id)
        while len(self.order) > MESSAGES_KEPT:
            self.drop(self.order[0])
        if near_bottom:
            self.list.scrollTop = self.list.scrollHeight

    def fill(self, node, message, edited=False):
        node.querySelector(".text").textContent = message.text
        mark = node.querySelector(".edited")
        # an edit within the second it was sent can carry updated_at == inserted_at
        if (edited or message.edited) and mark is None:
            mark = document.createElement("span")
            mark.className = "edited"
            mark.textContent = "(edited)"
            node.append(mark)

    def on_message_received(self, channel_id, message):
        self.add(message)

    def on_message_updated(self, channel_id, message):
        node = self.item(message.id)
        if node is not None:
            self.fill(node, message, True)

    def on_message_deleted(self, channel_id, message):
        self.drop(message.id)

    # sending

    def _on_submit(self, event):
        asyncio.create_task(self.send())

    async def send(self):
        text = _text(self.input.value)
        if self.sending or self.channel is None or not text.strip():
            return
        self.sending = True
        self.enable(True)
        try:
            message = await self.channel.send(text)
        except ChatCampError as error:
            self.show_error(_chat_message(error))
        except Exception as error:  # a bug must show in the widget, not kill the page's Python
            self.show_error("unexpected error: %s" % error)
        else:
            self.show_error(None)
            self.add(message)
            if _text(self.input.value) == text:
                self.input.value = ""
        self.sending = False
        self.enable(self.widget.cc.state == "connected")
        self.input.focus()


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
