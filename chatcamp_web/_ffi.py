"""The one place where Python meets JavaScript.

Everything else in chatcamp_web imports from here and never touches ``js``, ``pyodide.ffi``
or ``pyscript.ffi``.  The SDK is driven through a small JavaScript helper built once below,
for two reasons:

* MicroPython cannot catch an exception thrown by JavaScript (it kills the script), so every
  SDK call goes through a ``try``/``catch`` on the JavaScript side and comes back as a value;
* the SDK reports through callbacks; the helper turns each call into a Promise, which both
  interpreters can ``await``, so no Python callable is handed to the SDK per call and
  nothing can leak per connect or disconnect.

The only Python callables JavaScript keeps are a ChatCamp instance's connection listener and,
while anyone listens to a channel, its channel listener, each created with ``create_proxy``
and destroyed when it is removed.
"""

import json
import sys

import js
from pyscript.ffi import create_proxy

RUNTIME = "micropython" if sys.implementation.name == "micropython" else "pyodide"

_HELPER_SOURCE = """
const fail = (e, code) => ({ok: false, code: (e && e.code) || code || "JS_ERROR",
                            message: String((e && e.message) || e)});
// Absent values come back as false or "", never null or undefined: the two interpreters
// convert those differently (MicroPython keeps undefined as a proxy), but agree on booleans.
const wireUser = (u) => u ? {id: u.id || "", displayName: u.displayName || "",
                             avatarUrl: u.avatarUrl || "", accessToken: u.accessToken || ""}
                          : false;
const notices = new Map();
// Channels and messages cross as JSON text: both interpreters parse it into plain lists and
// dicts, so no SDK object, and no undefined or null, ever reaches Python.
const wireMessage = (m) => ({
  id: String(m.id || ""), type: String(m.type || ""),
  text: typeof m.text === "string" ? m.text : "",
  channel_id: String(m.channelId || ""), channel_type: String(m.channelType || ""),
  user_id: m.user ? String(m.user.id || "") : "",
  display_name: m.user ? String(m.user.displayName || "") : "",
  inserted_at: Number(m.insertedAt) || 0, updated_at: Number(m.updatedAt) || 0});
const wireChannel = (c) => ({
  id: String(c.id || ""), name: String(c.name || ""), data: String(c.data || ""),
  avatar_url: String(c.avatarUrl || ""), participants_count: Number(c.participantsCount) || 0,
  inserted_at: Number(c.insertedAt) || 0, updated_at: Number(c.updatedAt) || 0,
  is_active: !!c.isActive, is_read_only: !!c.isReadOnly, is_view_only: !!c.isViewOnly});
const wirePerson = (u) => ({id: String(u.id || ""), display_name: String(u.displayName || ""),
                            avatar_url: String(u.avatarUrl || ""), is_online: !!u.isOnline,
                            last_seen: Number(u.lastSeen) || 0, status: String(u.status || "")});
const list = (convert) => (items) => Array.from(items || [], convert);
const receipt = (r) => Object.fromEntries(Object.entries(r || {}).map(
  ([user, at]) => [String(user), Number(at) || 0]));
const wireGroup = (c) => ({
  ...wireChannel(c), participants: list(wirePerson)(c.participants),
  unread_count: Number(c.unreadMessageCount) || 0,
  last_message: c.lastMessage ? wireMessage(c.lastMessage) : false,
  my_status: String(c.myStatus || ""), is_distinct: !!c.isDistinct, is_public: !!c.isPublic,
  read_receipt: receipt(c.readReceipt)});
const query = (q, a) => { q.setLimit(a.limit); if (a.reference) q.setReference(a.reference);
                          return q; };
// The acknowledgement of the request the SDK has just sent, read off its transport, which
// hands every frame to its listeners in turn: for the acks the SDK keeps to itself.  With
// ``first``, seen before the SDK's own handler is.  Returns what stops the watching.
const onAck = (cc, type, fn, first) => {
  const tm = cc.transportManager, r = tm._r;
  const watch = (frame) => {
    if (frame && frame.t === type + ".ack" && Number(frame.to) === r) fn(frame.d || {}, r);
  };
  if (first) (tm.events.message || (tm.events.message = [])).unshift(watch);
  else tm.on("message", watch);
  return () => tm.off("message", watch);
};
// What works alike in both kinds of channel, on an SDK object that only carries the channel's
// ID, which is all these calls read (this.id, and getType() from its class): the SDK's get()
// would cost a round trip whenever its cache is empty, and it empties it on every reconnect.
const shared = (handle) => ({
  leave: (cc, a, done) => handle(cc, a.id).leave((e) => done(e, true)),
  history: (cc, a, done) => query(handle(cc, a.id).createPreviousMessageListQuery(), a)
    .load((e, ms) => done(e, ms && list(wireMessage)(ms))),
  send: (cc, a, done) => handle(cc, a.id).sendMessage(a.text,
    (e, m) => done(e, m && wireMessage(m))),
  message: (cc, a, done) => handle(cc, a.id).getMessage(a.message_id,
    (e, m) => done(e, m && wireMessage(m))),
  update: (cc, a, done) => {
    const params = new cc.MessageParams();
    params.setText(a.text);
    handle(cc, a.id).updateMessage(a.message_id, params, (e, m) => done(e, m && wireMessage(m)));
  },
  delete: (cc, a, done) => handle(cc, a.id).deleteMessage(a.message_id, (e) => done(e, true)),
  participants: (cc, a, done) => query(handle(cc, a.id).createParticipantListQuery(), a)
    .load((e, us) => done(e, us && list(wirePerson)(us))),
});
const openHandle = (cc, id) => new cc.OpenChannel({id});
const groupHandle = (cc, id) => new cc.GroupChannel({id});
// The SDK throttles typing per GroupChannel object (one start and one stop each 10 s): one
// object per channel, kept for the page, makes its throttle hold across calls.
const typists = new Map();
const typist = (cc, id) => typists.get(id) || typists.set(id, groupHandle(cc, id)).get(id);
const CHANNEL_CALLS = {
  open: {
    ...shared(openHandle),
    get: (cc, a, done) => cc.OpenChannel.get(a.id, (e, c) => done(e, c && wireChannel(c))),
    list: (cc, a, done) => query(cc.OpenChannel.createOpenChannelListQuery(), a)
      .load((e, cs) => done(e, cs && list(wireChannel)(cs))),
    join: (cc, a, done) => openHandle(cc, a.id).join((e) => done(e, true)),
  },
  group: {
    ...shared(groupHandle),
    create: (cc, a, done) => cc.GroupChannel.create(a.name, a.participant_ids, a.distinct,
      (e, c) => done(e, c && wireGroup(c))),
    // GroupChannel.get answers from a cache that lags behind the server (read state,
    // members); the server is asked every time, as get() does on a cache miss.
    get: (cc, a, done) => cc.GroupChannel._getFromServer(a.id,
      (e, c) => done(e, c && wireGroup(c))),
    my_list: (cc, a, done) => {
      const q = query(cc.GroupChannel.createGroupChannelListQuery(), a);
      q.setParticipantState(a.status);
      q.load((e, cs) => done(e, cs && list(wireGroup)(cs)));
    },
    invite: (cc, a, done) => {
      groupHandle(cc, a.id).inviteParticipants(a.participant_ids, (e) => done(e, true));
      // The SDK drops a failure ack of invite (spec §5.2); read off the transport, it is handed
      // to the SDK's own error listener, which then calls back and lets go of its listeners.
      return onAck(cc, "group_channels.invite",
                   (d, r) => d.ok || cc.emit("to." + r + ".error", d.error || {}));
    },
    accept: (cc, a, done) => groupHandle(cc, a.id).acceptInvitation((e) => done(e, true)),
    decline: (cc, a, done) => groupHandle(cc, a.id).declineInvitation((e) => done(e, true)),
    read: (cc, a, done) => {
      // markAsRead() sends nothing when its copy of the channel has no last message (a handle
      // never has one), and group_channels.read has no callback: _markAsRead() sends it, and
      // its ack ends the call.  The SDK's handler of that ack reads the last message of its
      // cached copy, and throws on a copy of an empty channel: such a copy goes just before.
      groupHandle(cc, a.id)._markAsRead();
      return onAck(cc, "group_channels.read", (d) => {
        const cached = cc.GroupChannel.cachedChannels[a.id];
        if (cached && !cached.lastMessage) delete cc.GroupChannel.cachedChannels[a.id];
        done(d.ok ? null : d.error || {},
             d.ok && receipt(d.group_channel && d.group_channel.read_receipt));
      }, true);
    },
    start_typing: (cc, a, done) => done(null, !!typist(cc, a.id).startTyping()),
    stop_typing: (cc, a, done) => done(null, !!typist(cc, a.id).stopTyping()),
    unread_count: (cc, a, done) => cc.getTotalUnreadMessageCount(
      (e, count) => done(e, Number(count) || 0)),
    read_all: (cc, a, done) => cc.markAsReadAll((e) => done(e, true)),
  },
};
const KINDS = {open_channel: "open", group_channel: "group"};
const kindOf = (channel) => channel && (channel.ifGroupChannel() ? "group" : "open");
const others = (cc, ids) => ids.filter((id) => !cc.user || id !== cc.user.id).sort();
// SDK listener method → how its arguments cross: a message's own channel type and ID (the
// SDK passes a null channel when it could not fetch one it did not hold, spec §5.3), or the
// channel's and one more field.
const CHANNEL_EVENTS = {
  onMessageReceived: ["message_received", "message"],
  onMessageUpdated: ["message_updated", "message"],
  onMessageDeleted: ["message_deleted", "message"],
  onParticipantJoined: ["joined", "user"], onParticipantLeft: ["left", "user"],
  onParticipantInvited: ["invited", "user"], onParticipantDeclined: ["declined", "user"],
  onReadStatusUpdated: ["read_receipt", "read_receipt"],
  onTypingStatusChanged: ["typing", "user_ids"],
  onChannelUpdated: ["channel_updated", "channel"],
};
const channelEvent = (cc, kind, field, channel, item) => {
  if (field === "message") {
    const type = KINDS[item && item.channelType];
    return type && {kind, channel_type: type, channel_id: String(item.channelId || ""),
                    message: wireMessage(item)};
  }
  const type = kindOf(channel);
  if (!type || (field !== "user" && type !== "group")) return null;
  const event = {kind, channel_type: type, channel_id: String(channel.id || "")};
  event[field] = field === "user" ? wirePerson(item)
               : field === "read_receipt" ? receipt(channel.readReceipt)
               : field === "user_ids" ? others(cc, Object.keys(
                   channel.cachedParticipantsTypingStatus || {}))
               : wireGroup(channel);
  return event;
};
return {
  available() { return typeof globalThis.ChatCamp === "function"; },
  instance() { return globalThis.ChatCamp && globalThis.ChatCamp.getInstance
               ? (globalThis.ChatCamp.getInstance() || false) : false; },
  create(appId) {
    try { return {ok: true, client: new globalThis.ChatCamp({appId})}; }
    catch (e) { return fail(e); }
  },
  appId(cc) { return cc && cc.app ? String(cc.app.id) : ""; },
  connect(cc, userId, token, host, port) {
    return new Promise((resolve) => {
      const done = (err, user) => resolve(err
        ? {ok: false, code: err.code || "UNKNOWN", message: err.message || String(err)}
        : {ok: true, user: wireUser(user)});
      try {
        if (token) cc.connect(userId, token, host, String(port), done);
        else cc.connect(userId, host, String(port), done);
      } catch (e) { resolve(fail(e)); }
    });
  },
  disconnect(cc) {
    return new Promise((resolve) => {
      try {
        // The SDK keeps the old user and reconnects as them if connect() comes soon after;
        // without it, its pending reconnect uses the new connect()'s user instead.
        cc.disconnect(() => { cc.user = null; resolve({ok: true, state: cc.getConnectionState()}); });
      } catch (e) { resolve(fail(e)); }
    });
  },
  state(cc) { try { return cc.getConnectionState(); } catch (e) { return 3; } },
  autoReconnect(cc) { try { return !!cc.isAutoReconnectEnabled(); } catch (e) { return false; } },
  enableAutoReconnect(cc) { try { cc.setAutoReconnectEnabled(true); } catch (e) {} },
  currentUser(cc) { try { return wireUser(cc.getCurrentUser()); } catch (e) { return false; } },
  listen(cc, id, fn, quick) {
    // The SDK's reconnect timer clears a closed socket only when it fires, 1 s after the close
    // (spec §2.6): until then a connect() is queued behind the dead socket.  When the SDK will
    // not reconnect by itself (the server ended the session, or disconnect() was called), its
    // delay is set to 0 here, in the listener it calls just before it schedules that timer,
    // and put back right after, so a new connect() need not wait the second out.
    const listener = new cc.ConnectionListener();
    listener.onConnectionChanged = (connected) => {
      const tm = cc.transportManager;
      if (quick && !connected && tm && typeof tm._reconnectDelay === "number"
          && (!cc.isAutoReconnectEnabled() || cc.hasUserForcedDisconnect())) {
        tm._reconnectDelay = 0;
        // runs before the SDK's own 0 ms timer, which doubles the delay: back to the SDK's 1 s
        setTimeout(() => { tm._reconnectDelay = 0.5; }, 0);
      }
      fn("connection", !!connected, "");
    };
    cc.addConnectionListener(id, listener);
    // The server's word on why it ends a session: a frame type the SDK does not know, which
    // it re-emits as an event on the client (spec §2.1).
    const ended = (d) => fn("ended", String((d && d.code) || ""), String((d && d.message) || ""));
    notices.set(id, ended);
    cc.on("session.ended", ended);
  },
  unlisten(cc, id) {
    try { cc.removeConnectionListener(id); } catch (e) {}
    const ended = notices.get(id);
    if (ended) { try { cc.off("session.ended", ended); } catch (e) {} notices.delete(id); }
  },
  socketReleased(cc, ms) {
    // Resolves true once the SDK holds no dead socket (its _connect() opens none while it
    // does), or false after ms.
    // An open socket, or one the SDK is opening by itself, is one connect() joins: no wait
    // for it.  With auto-reconnect off, an opening socket is a refused one the server is
    // about to close, behind which a connect() would be queued and never answered (§2.3).
    // After disconnect() every socket is on its way out, even one a late users.auth.ack
    // has just made open: a connect() answered by it would hold a session about to close.
    const released = () => {
      const tm = cc.transportManager, state = cc.getConnectionState();
      if (!tm || !tm._socket) return true;
      if (cc.hasUserForcedDisconnect()) return false;
      return state === 0 || (state === 1 && cc.isAutoReconnectEnabled());
    };
    return new Promise((resolve) => {
      const until = Date.now() + ms;
      const check = () => released() ? resolve(true)
                          : Date.now() >= until ? resolve(false) : setTimeout(check, 5);
      check();
    });
  },
  listenerCount(cc) { try { return cc.getConnectionListenersMap().size
                              ?? Object.keys(cc.getConnectionListenersMap()).length; }
                      catch (e) { return -1; } },
  channelCall(cc, kind, name, argsText, ms) {
    // The SDK's calls have no timeout, and one made while the socket is down is dropped with
    // its callback left pending: the timer here is the only end such a call gets.  A call
    // that watches the transport returns what stops it, run however the call ends.
    return new Promise((resolve) => {
      let settled = false, release = null;
      const finish = (outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(JSON.stringify(outcome));
        if (release) release();
      };
      const timer = setTimeout(() => finish({ok: false, code: "TIMEOUT",
        message: "no answer within " + (ms / 1000) + " s"}), ms);
      // The SDK hands some errors over as its ChatCampError, others as the raw {code, message}
      // of the ack (spec §9): both have the two fields.
      const done = (error, value) => {
        try { finish(error ? fail(error, "UNKNOWN") : {ok: true, value}); }
        catch (e) { finish(fail(e)); }
      };
      try {
        const watching = CHANNEL_CALLS[kind][name](cc, JSON.parse(argsText), done);
        release = typeof watching === "function" ? watching : null;
        if (settled && release) release();
      } catch (e) { finish(fail(e)); }
    });
  },
  channelListen(cc, id, fn) {
    // One SDK ChannelListener hears every channel's events, open and group: routed to one
    // channel in Python.  A throw would reach the SDK and keep its other listeners from
    // hearing, so none leaves here.
    const listener = new cc.ChannelListener();
    for (const [method, [kind, field]] of Object.entries(CHANNEL_EVENTS)) {
      listener[method] = (channel, item) => {
        try {
          const event = channelEvent(cc, kind, field, channel, item);
          if (event) fn(JSON.stringify(event));
        } catch (e) {}
      };
    }
    cc.addChannelListener(id, listener);
  },
  channelUnlisten(cc, id) { try { cc.removeChannelListener(id); } catch (e) {} },
  channelListenerCount(cc) { try { return Object.keys(cc.getChannelListenersMap()).length; }
                             catch (e) { return -1; } },
  deferred() { let resolve; const promise = new Promise((r) => { resolve = r; });
               return {promise, resolve}; },
  withTimeout(promise, ms) {
    let timer;
    const timeout = new Promise((r) => { timer = setTimeout(() => r({ok: false, code: "TIMEOUT",
      message: "no answer within " + (ms / 1000) + " s"}), ms); });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  },
  sleep(ms) { return new Promise((r) => setTimeout(r, ms)); },
  now() { return Date.now() / 1000; },
  random() { return Math.random(); },
  absolute(url) { return new URL(url, globalThis.location.href).href; },
  origin() { const l = globalThis.location;
             return {host: l.hostname, port: l.port || (l.protocol === "https:" ? "443" : "80")}; },
  async fetchText(url, credentials, ms) {
    // fetch() here rather than pyscript.fetch: a network failure then comes back as a value,
    // where under MicroPython a thrown JavaScript error would end the whole script.  It never
    // blocks the page, and the AbortController bounds the wait.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ms);
    try {
      const reply = await fetch(url, {credentials: credentials ? "include" : "same-origin",
                                      headers: {Accept: "application/json"},
                                      signal: abort.signal});
      return {ok: true, status: reply.status, text: await reply.text()};
    } catch (e) {
      return abort.signal.aborted
        ? {ok: false, code: "TIMEOUT", message: "no answer within " + (ms / 1000) + " s"}
        : fail(e, "NETWORK");
    } finally { clearTimeout(timer); }
  },
};
"""

_helper = js.Function.new(_HELPER_SOURCE)()
_proxies = []
QUICK_RELEASE = True
"""Release a closed socket the SDK will not reuse at once rather than after its 1 s timer
(see ``listen`` in the helper); False, set before ``ChatCamp(...)``, measures what that saves
(bench/renewal_gap.py)."""


def sdk_available():
    return bool(_helper.available())


def existing_client():
    """The page's SDK instance, or None before the first ``new ChatCamp``."""
    return _helper.instance() or None


def create_client(app_id):
    return _helper.create(app_id)


def client_app_id(client):
    return _helper.appId(client)


def connect(client, user_id, token, host, port, timeout):
    """A Promise of ``{ok, user}`` or ``{ok: false, code, message}``; never rejects."""
    return _helper.withTimeout(_helper.connect(client, user_id, token or "", host, port),
                               int(timeout * 1000))


def disconnect(client):
    return _helper.disconnect(client)


def sdk_state(client):
    return int(_helper.state(client))


def auto_reconnect(client):
    return bool(_helper.autoReconnect(client))


def enable_auto_reconnect(client):
    """The SDK turns reconnecting off for good after NOT_AUTHORIZED/NOT_FOUND; a later successful
    connect must turn it back on, or the next network blip would end the session."""
    _helper.enableAutoReconnect(client)


def current_user(client):
    """The SDK's current user as ``{id, displayName, avatarUrl, accessToken}``, or None."""
    return _helper.currentUser(client) or None


def listen(client, listener_id, fn):
    """Register ``fn(kind, value, message)`` with the SDK: ``("connection", connected, "")``
    for each of its connection changes, ``("ended", code, message)`` for the server's notice
    of why it ends a session.  One proxy, which lives until ``unlisten``."""
    proxy = create_proxy(fn)
    _proxies.append((listener_id, proxy))
    _helper.listen(client, listener_id, proxy, QUICK_RELEASE)


def unlisten(client, listener_id):
    _helper.unlisten(client, listener_id)
    _release(listener_id)


def _release(listener_id):
    for entry in [e for e in _proxies if e[0] == listener_id]:
        _proxies.remove(entry)
        destroy = getattr(entry[1], "destroy", None)
        if destroy is not None:
            destroy()


def live_proxies():
    """How many Python callables JavaScript currently holds through this module."""
    return len(_proxies)


def sdk_listener_count(client):
    return int(_helper.listenerCount(client))


def socket_released(client, timeout):
    """A Promise of True once the SDK holds no socket, so that a connect() opens a new one;
    of False if that takes longer than ``timeout`` seconds."""
    return _helper.socketReleased(client, int(timeout * 1000))


async def channel_call(client, kind, name, args, timeout):
    """One channel call of the SDK with ``args`` a dict.  ``kind`` ``"open"``: ``get``,
    ``list``, ``join``; ``"group"``: ``create``, ``get``, ``my_list``, ``invite``, ``accept``,
    ``decline``, ``read``, ``start_typing``, ``stop_typing``, ``unread_count``, ``read_all``;
    both: ``leave``, ``history``, ``send``, ``message``, ``update``, ``delete``,
    ``participants``.  ``{"ok": True, "value": ...}`` of plain lists and dicts, or ``{"ok":
    False, "code", "message"}``, code ``TIMEOUT`` after ``timeout`` seconds.  Never raises."""
    text = await _helper.channelCall(client, kind, name, json.dumps(args), int(timeout * 1000))
    return json.loads(str(text))


def channel_listen(client, listener_id, fn):
    """Register ``fn(event)`` with the SDK as a ChannelListener: ``event`` is a dict with
    ``kind``, ``channel_type`` (``open``, ``group``), ``channel_id`` and one more field:
    ``message`` (kinds ``message_received``, ``message_updated``, ``message_deleted``),
    ``user`` (``joined``, ``left``, and for group channels ``invited``, ``declined``), and for
    group channels only ``read_receipt`` (user ID → epoch seconds), ``user_ids`` (``typing``:
    the others typing) or ``channel`` (``channel_updated``).  One proxy, which lives until
    ``channel_unlisten``."""
    proxy = create_proxy(lambda text: fn(json.loads(str(text))))
    _proxies.append((listener_id, proxy))
    _helper.channelListen(client, listener_id, proxy)


def channel_unlisten(client, listener_id):
    _helper.channelUnlisten(client, listener_id)
    _release(listener_id)


def sdk_channel_listener_count(client):
    return int(_helper.channelListenerCount(client))


def deferred():
    return _helper.deferred()


def with_timeout(promise, seconds):
    return _helper.withTimeout(promise, int(seconds * 1000))


def sleep(seconds):
    return _helper.sleep(int(seconds * 1000))


def now():
    return float(_helper.now())


def random():
    """A float in [0, 1): Math.random, since MicroPython's random module varies by build."""
    return float(_helper.random())


def page_origin():
    origin = _helper.origin()
    return str(origin.host), str(origin.port)


def absolute_url(url):
    """``url`` resolved against the page's address, as the browser would."""
    return str(_helper.absolute(url))


def fetch_text(url, credentials, timeout):
    """A Promise of ``{ok, status, text}``, or of ``{ok: false, code, message}`` with code
    ``NETWORK`` or ``TIMEOUT`` (after ``timeout`` seconds)."""
    return _helper.fetchText(url, bool(credentials), int(timeout * 1000))

