"""chatcamp_web: the ChatCamp SDK from Python in the browser (Pyodide or MicroPython).

    from chatcamp_web import ChatCamp, ConnectionState, fetch_access_token
    cc = ChatCamp(app_id)                          # host and port default to the page's origin
    user = await cc.connect("alice")               # ID login; the user is created if unknown
    user = await cc.connect("bob", access_token=await fetch_access_token("/demo/token"))
    await cc.disconnect()

    channel = await cc.open_channel("lobby")       # open channels: chatcamp_web.channels
    await channel.join()
    message = await channel.send("hello")
    chat = await cc.create_group_channel("", ["bob"], distinct=True)   # group_channels
    inbox = await cc.my_group_channels()           # unread_count, last_message, title()

    # tokens that renew themselves: called for the first token and whenever one expires
    cc = ChatCamp(app_id, token_provider=lambda user_id: fetch_access_token("/token"))
"""

from . import renewal, state
from .client import ChatCamp, User
from .errors import (AppNotFoundError, ChannelNotFoundError, ChatCampError, ConnectTimeoutError,
                     ForbiddenError, InvalidArgumentError, InvalidStateError, LimitReachedError,
                     MessageNotFoundError, NetworkError, NotAParticipantError,
                     NotAuthorizedError, RateLimitedError, TokenFetchError)
from .state import ConnectionState, StateChange
from .tokens import fetch_access_token

__all__ = ["ChatCamp", "User", "ConnectionState", "StateChange", "fetch_access_token",
           "ChatCampError", "NotAuthorizedError", "AppNotFoundError", "ConnectTimeoutError",
           "InvalidArgumentError", "InvalidStateError", "NetworkError", "TokenFetchError",
           "RateLimitedError", "ChannelNotFoundError", "MessageNotFoundError",
           "NotAParticipantError", "ForbiddenError", "LimitReachedError",
           "renewal", "state"]

# chatcamp_web.channels (OpenChannel, Message, ChannelListener) is imported by the first
# open_channel() or open_channels(), and chatcamp_web.group_channels (GroupChannel,
# GroupChannelListener) by the first group-channel call, not here: a page that never chats
# does not compile them, which the widget's start (bench/browser_start.py) can measure.
