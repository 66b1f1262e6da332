# The session page: signs in to the demo backend, gets tokens through a token provider, and
# shows the ChatCamp session state live, token renewals included. Everything shown is set as
# text, never as HTML. ?token_ttl=60 asks the demo backend for tokens that expire in 60 s.
# urllib (with pyodide-http) is imported on first use, not at start: importing it costs
# Pyodide a noticeable part of the page's start-up (BENCHMARKS.md).
import json
import time

from pyscript import document, fetch, when, window

from chatcamp_web import ChatCamp, ChatCampError, fetch_access_token


def element(id_):
    return document.getElementById(id_)


def get_json(url, body=None):
    import urllib.request

    import pyodide_http

    pyodide_http.patch_all()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(window.location.origin + url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def token_ttl():
    query = str(window.location.search)
    for pair in query.lstrip("?").split("&"):
        name, _, value = pair.partition("=")
        if name == "token_ttl" and value.isdigit():
            return int(value)
    return None


def note(text):
    item = document.createElement("li")
    now = time.time()
    item.textContent = "%s.%03d %s" % (time.strftime("%H:%M:%S", time.localtime(now)),
                                       int(now * 1000) % 1000, text)
    element("timeline").appendChild(item)


async def demo_token(user_id):
    """The token provider: the demo backend's token for the signed-in user, short-lived when
    the page was opened with ?token_ttl=N; called again whenever one expires."""
    ttl = token_ttl()
    token = await fetch_access_token("/demo/token" + ("?ttl=%d" % ttl if ttl else ""))
    note("token fetched" + (" (expires in %d s)" % ttl if ttl else ""))
    return token


def show_error(error):
    box = element("error")
    if error is None:
        box.hidden = True
        box.textContent = ""
    else:
        box.hidden = False
        box.textContent = "Error: %s (%s)" % (error.message, error.code)


def render(change=None):
    element("state").textContent = cc.state
    user = cc.user
    element("user").textContent = ("%s (%s)" % (user.id, user.display_name or "no display name")
                                   if user else "none")
    element("token-used").textContent = "used" if user and user.access_token else "not used"
    element("connect").disabled = cc.state in ("connecting", "closing")
    element("disconnect").disabled = cc.state in ("initialized", "closed")
    if change is not None:
        item = document.createElement("li")
        stamp = time.strftime("%H:%M:%S", time.localtime(change.at))
        reason = " — %s (%s)" % (change.reason.message, change.reason.code) if change.reason else ""
        item.textContent = "%s.%03d %s → %s%s" % (stamp, int(change.at * 1000) % 1000,
                                                 change.previous, change.current, reason)
        element("timeline").appendChild(item)
        show_error(change.reason if change.current == "failed" else None)


@when("submit", "#session-form")
async def on_connect(event):
    user_id = element("user-id").value.strip()
    try:
        cc.token_provider = None
        if element("use-token").checked:
            get_json("/demo/signin", {"username": user_id})
            cc.token_provider = demo_token
        await cc.connect(user_id)
    except ChatCampError as error:
        show_error(error)
    except Exception as error:  # e.g. the demo backend refusing the sign-in
        show_error(ChatCampError(str(error), "PAGE_ERROR"))
    render()


@when("click", "#disconnect")
async def on_disconnect(event):
    try:
        await cc.disconnect()
    except ChatCampError as error:
        show_error(error)
    render()


config = await fetch("/demo/config")
element("loading").remove()
if config.ok:
    cc = ChatCamp((await config.json())["app_id"])
    cc.add_listener(render)
    render()
    element("user-id").focus()
else:
    element("connect").disabled = element("disconnect").disabled = True
    show_error(ChatCampError("this page runs on the demo backend, which is off: start the "
                             "server with --demo (make run does)", "DEMO_OFF"))
