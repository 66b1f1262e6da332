"""The limits a page checks before it asks, written once for both sides: the server's
``settings.Limits`` takes its defaults from this file, and the widget loader is served with
them filled in, so the browser refuses at once what the server would refuse a round trip
later, with the same number in the message.  Plain constants, no import: the server reads
this file without importing the package, which needs a browser."""

MAX_APP_ID_CHARS = 64
MAX_USER_ID_CHARS = 128
MAX_MESSAGE_CHARS = 4000
"""Characters (code points) in one message's text, as Discord's and Slack's 4,000."""
MAX_GROUP_CHANNEL_PARTICIPANTS = 100
"""Members and invitees of one group channel, Sendbird's default."""
