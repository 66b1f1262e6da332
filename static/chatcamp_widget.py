# The embeddable widget's behaviour, run by static/widget.js under PyScript (MicroPython by
# default). widget.js has already drawn the widget in a shadow root and copied the snippet's
# data-* attributes onto the host element; this module wires the buttons to chatcamp_web and
# keeps the status line true, and with data-channel runs the chat panel (an open channel),
# or with data-channel="inbox" the user's conversations (group channels). Every text is set
# as text, never as HTML.
import asyncio

from pyscript import document, window
from pyscript.ffi import create_proxy

from chatcamp_web import ChatCamp, ChatCampError, fetch_access_token

HISTORY_SHOWN = 50
"""Messages of the channel's history shown when the panel opens."""
MESSAGES_KEPT = 200
"""Messages the panel keeps; the oldest go as new ones come."""
INBOX = "inbox"
"""The data-channel that asks for the inbox rather than an open channel."""
INBOX_SHOWN = 50
"""Conversations the inbox lists, the newest activity first."""

CHAT_FRIENDLY = {
    "RATE_LIMITED": "you are sending messages too fast; wait a moment and send again",
    "MESSAGE_TOO_LONG": "a message can be at most %d characters",
    "NOT_A_PARTICIPANT": "you are not in this channel (any more)",
    "NOT_FOUND": "there is no such channel on the chat server",
    "TOO_MANY_CHANNELS": "you are in as many channels as the server allows; leave one first",
    "CHANNEL_FULL": "this conversation has as many members as the server allows",
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
        panel = root.querySelector(".chat")
        self.chat = None
        if channel_id == INBOX:
            self.chat = Inbox(self, panel)
        elif channel_id:
            self.chat = Chat(self, panel, channel_id)

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
        self.button = panel.querySelector(".send-button")
        self.sending = False
        self.opening = 0
        """Counts the openings: one that a later one overtook shows nothing."""
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
        self.opening += 1
        opening = self.opening
        try:
            channel = await self.fetch()
            history = await channel.history(limit=HISTORY_SHOWN)
        except ChatCampError as error:
            if opening == self.opening:
                self.show_error(_chat_message(error))
            return False
        if opening != self.opening:
            return False
        self.listen(channel)
        self.clear()
        for message in reversed(history):
            self.add(message)
        self.show_error(None)
        self.enable(True)
        return True

    async def fetch(self):
        """The channel, ready to read and write in."""
        try:
            channel = await self.widget.cc.open_channel(self.channel_id)
        except ImportError:  # PyScript took the files of a first widget without a channel
            raise _not_loaded()
        await channel.join()
        return channel

    def listen(self, channel):
        if self.channel is None:
            channel.add_listener(self)
            self.channel = channel

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
            self.sent(message)
            if _text(self.input.value) == text:
                self.input.value = ""
        self.sending = False
        self.enable(self.widget.cc.state == "connected")
        self.input.focus()

    def sent(self, message):
        self.add(message)


def _not_loaded():
    return ChatCampError("put the widget with data-channel first on this page, so that the "
                         "page loads the chat", "CHAT_NOT_LOADED")


class Conversation(Chat):
    """The inbox's open conversation: a group channel in the chat panel's list and form, read
    as it is shown (marked read when opened, and again as others' messages come while it is
    open).  Its messages come through the inbox, which hears every group channel."""

    def __init__(self, widget, panel, inbox):
        super().__init__(widget, panel, None)
        self.inbox = inbox
        self.reading = False
        self.read_again = False

    def show(self, channel_id):
        self.channel_id, self.channel = channel_id, None
        self.clear()
        self.show_error(None)
        self.enable(False)
        asyncio.create_task(self.enter())

    async def enter(self):
        if await self.open():
            self.input.focus()

    def hide(self):
        self.opening += 1
        self.channel_id, self.channel = None, None
        self.clear()
        self.show_error(None)
        self.enable(False)

    async def open(self):
        opened = await super().open()
        if opened:
            asyncio.create_task(self.read())
        return opened

    async def fetch(self):
        return await self.widget.cc.group_channel(self.channel_id)

    def listen(self, channel):
        self.channel = channel

    def on_message_received(self, channel_id, message):
        self.add(message)
        user = self.widget.cc.user
        if user is None or message.user_id != user.id:
            asyncio.create_task(self.read())

    async def read(self):
        """Mark the conversation read: one request at a time, and one more when messages came
        while it was under way."""
        if self.reading:
            self.read_again = True
            return
        self.reading = True
        try:
            while self.channel is not None:
                channel, self.read_again = self.channel, False
                await channel.mark_read()
                self.inbox.read(channel.id)
                if not self.read_again:
                    break
        except ChatCampError as error:
            self.show_error(_chat_message(error))
        finally:
            self.reading = False

    def sent(self, message):
        self.add(message)
        self.inbox.bump(message.channel_id or self.channel_id, message)


def _row_id(node):
    """The channel ID of the inbox's list item ``node`` (None for no item)."""
    return None if node is None else _text(node.firstChild.getAttribute("data-id"))


class Row:
    """One conversation of the inbox: its list item, and what it shows."""

    def __init__(self, channel, node, button):
        self.channel = channel
        self.node = node
        self.button = button
        self.last = channel.last_message
        self.unread = channel.unread_count
        self.activity = self.last.inserted_at if self.last is not None else channel.inserted_at


class Inbox:
    """The inbox of data-channel="inbox": the user's group channels, the newest activity at
    the top, each with its name (or its other members'), last message and unread count, kept
    live by a listener on every group channel; choosing one shows it in the chat panel, and
    "Back to conversations" returns.  The list is read afresh on each connect, since pushes
    sent while away are lost."""

    def __init__(self, widget, panel):
        self.widget = widget
        self.panel = panel
        self.title = panel.querySelector(".chat-title")
        self.back_button = panel.querySelector(".back")
        self.list = panel.querySelector(".conversations")
        self.empty = panel.querySelector(".empty")
        self.log = panel.querySelector(".log")
        self.form = panel.querySelector("form")
        self.conversation = Conversation(widget, panel, self)
        self.rows = {}
        self.order = []
        """Channel IDs as listed, top first."""
        self.listening = False
        self.loading = 0
        self._proxies = [create_proxy(self._on_choose), create_proxy(self._on_back)]
        self.list.addEventListener("click", self._proxies[0])
        self.back_button.addEventListener("click", self._proxies[1])

    def on_state(self, change):
        if change.current == "connected":
            asyncio.create_task(self.open())
        else:
            self.conversation.enable(False)

    async def open(self):
        self.loading += 1
        loading = self.loading
        self.list.setAttribute("aria-busy", "true")
        try:
            if not self.listening:
                self.widget.cc.add_group_channel_listener(self)
                self.listening = True
            channels = await self.widget.cc.my_group_channels(limit=INBOX_SHOWN,
                                                              status="ACCEPTED")
        except ImportError:  # PyScript took the files of a first widget without the inbox
            channels, problem = None, _not_loaded()
        except ChatCampError as error:
            channels, problem = None, error
        if loading != self.loading:
            return
        self.list.setAttribute("aria-busy", "false")
        if channels is None:
            self.conversation.show_error(_chat_message(problem))
            return
        self.list.replaceChildren()
        self.rows, self.order = {}, []
        for channel in channels:
            self.add(channel, False)
        self.empty.hidden = bool(self.rows) or not self.log.hidden
        if self.conversation.channel_id is not None:
            await self.conversation.open()
        else:
            self.conversation.show_error(None)

    # the list

    def add(self, channel, live):
        node = document.createElement("li")
        button = document.createElement("button")
        button.type = "button"
        button.className = "conversation"
        button.setAttribute("data-id", channel.id)
        for name in ("name", "unread", "last"):
            part = document.createElement("span")
            part.className = name
            button.append(part)
        count = document.createElement("span")
        count.className = "count"
        button.querySelector(".unread").append(count)
        for part in (".name", ".last"):
            button.querySelector(part).setAttribute("dir", "auto")
        node.append(button)
        row = Row(channel, node, button)
        self.rows[channel.id] = row
        self.paint(row)
        self.place(row, live)
        self.empty.hidden = True
        return row

    def paint(self, row):
        title = row.channel.title()
        row.button.querySelector(".name").textContent = title
        last = row.last
        text = ""
        if last is not None and last.user_id:
            text = "%s: %s" % (last.display_name or last.user_id, last.text)
        elif last is not None:
            text = last.text
        row.button.querySelector(".last").textContent = text
        unread = 0 if self.conversation.channel_id == row.channel.id else row.unread
        badge = row.button.querySelector(".unread")
        badge.hidden = not unread
        badge.querySelector(".count").textContent = str(unread)
        # one sentence for a screen reader, where the parts would run into each other
        said = [title] + (["%d unread" % unread] if unread else []) + ([text] if text else [])
        row.button.setAttribute("aria-label", ", ".join(said))

    def place(self, row, live):
        """Put the row where its activity belongs (a ``live`` one ahead of any as recent),
        keeping the focus on it if it had it."""
        if row.channel.id in self.order:
            self.order.remove(row.channel.id)
        at = 0
        while at < len(self.order) and (self.rows[self.order[at]].activity > row.activity or (
                not live and self.rows[self.order[at]].activity == row.activity)):
            at += 1
        self.order.insert(at, row.channel.id)
        after = self.order[at + 1] if at + 1 < len(self.order) else None
        if row.node.parentNode is not None and _row_id(row.node.nextElementSibling) == after:
            return  # where it belongs already
        active = self.panel.getRootNode().activeElement
        focused = active is not None and _text(active.getAttribute("data-id")) == row.channel.id
        self.list.insertBefore(row.node, self.rows[after].node if after is not None else None)
        if focused:  # moving an element takes the focus off it
            row.button.focus()

    def read(self, channel_id):
        row = self.rows.get(channel_id)
        if row is not None:
            row.unread = 0
            self.paint(row)

    def bump(self, channel_id, message):
        row = self.rows.get(channel_id)
        if row is not None:
            row.last, row.activity = message, message.inserted_at
            self.paint(row)
            self.place(row, True)

    # what every group channel tells (chatcamp_web.group_channels.GroupChannelListener)

    def on_message_received(self, channel_id, message):
        self.bump(channel_id, message)
        if self.conversation.channel_id == channel_id:
            self.conversation.on_message_received(channel_id, message)

    def on_message_updated(self, channel_id, message):
        if self.conversation.channel_id == channel_id:
            self.conversation.on_message_updated(channel_id, message)

    def on_message_deleted(self, channel_id, message):
        if self.conversation.channel_id == channel_id:
            self.conversation.on_message_deleted(channel_id, message)

    def on_channel_updated(self, channel_id, channel):
        if channel.my_status == "INVITED":
            return
        row = self.rows.get(channel_id)
        if row is None:
            self.add(channel, True)  # a conversation begun since the list was read
            return
        row.channel, row.unread = channel, channel.unread_count
        last = channel.last_message
        newer = last is not None and (row.last is None or last.inserted_at > row.activity)
        if last is not None and (row.last is None or last.inserted_at >= row.last.inserted_at):
            row.last = last
        self.paint(row)
        if newer:
            row.activity = last.inserted_at
            self.place(row, True)

    # choosing a conversation and coming back

    def _on_choose(self, event):
        button = event.target.closest(".conversation")
        if button is not None:
            self.choose(_text(button.getAttribute("data-id")))

    def _on_back(self, event):
        self.back()

    def choose(self, channel_id):
        row = self.rows.get(channel_id)
        if row is None:
            return
        self.title.textContent = "Conversation: %s" % row.channel.title()
        self.show_list(False)
        self.conversation.show(channel_id)
        self.paint(row)

    def back(self):
        channel_id = self.conversation.channel_id
        self.conversation.hide()
        self.title.textContent = "Conversations"
        self.show_list(True)
        row = self.rows.get(channel_id)
        if row is not None:
            self.paint(row)
            row.button.focus()

    def show_list(self, on):
        self.list.hidden = not on
        self.empty.hidden = not on or bool(self.rows)
        self.back_button.hidden = on
        self.log.hidden = on
        self.form.hidden = on


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
