/* The chatcamp-web widget loader: one <script> tag on any site mounts a ChatCamp session widget.

   <script src="http://CHAT-SERVER/static/widget.js" data-app-id="…" data-user-id="…" async></script>

   This file only bootstraps. It renders the widget's skeleton in a shadow root at once, loads
   the SDK, PyScript and the interpreter from the server it came from, and hands the widget to
   Python (static/chatcamp_widget.py), which runs chatcamp_web. Every attribute is documented in
   the README ("Embedding the widget"). */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;  // only reachable if someone runs this file as a module or by eval
  const base = new URL(script.src, location.href);
  const origin = base.origin;
  const INTERPRETERS = {
    micropython: {type: "mpy", url: "/vendor/micropython/micropython.mjs", files: {},
                  fetches: ["/vendor/micropython/micropython.wasm"]},
    pyodide: {type: "py", url: "/vendor/pyodide/pyodide.mjs", fetches: [],
              files: {"/vendor/wheels/pyodide_http-0.2.2-py3-none-any.whl": "./*"}},
  };
  // PyScript's optional plugins (editor, terminal, game, …) would load before the interpreter.
  const PLUGINS_OFF = ["error", "deprecations-manager", "donkey", "py-editor", "py-game",
                       "py-terminal", "codemirror"].map((name) => "!" + name);
  const SDK = "/vendor/chatcamp/ChatCamp.scoped.js";
  // chatcamp_web's modules one by one: the server fills this list in from the package as it
  // serves this file. The archive (/chatcamp_web.zip) is the same files, but PyScript's
  // MicroPython unzips with a library of its own that it loads first, which cost the widget's
  // start 5.0x plain JS against 3.2x (BENCHMARKS.md).
  const MODULES = [/* chatcamp_web */];
  // The limits chatcamp_web checks (its limits module), filled in by the server as it serves
  // this file.
  const LIMITS = {/* chatcamp_web.limits */};
  // data-channel="inbox" asks for the user's group channels rather than an open channel.
  const INBOX = "inbox";
  // One registry per page, shared by every copy of this script: the SDK, PyScript and the
  // interpreter are loaded once, and the widgets share the SDK's single session.
  const registry = window.chatcampWidget || (window.chatcampWidget = {count: 0, interpreter: ""});

  const attr = (name) => (script.getAttribute("data-" + name) || "").trim();
  const options = {
    appId: attr("app-id"),
    userId: attr("user-id"),
    tokenUrl: attr("token-url"),
    interpreter: (attr("interpreter") || "micropython").toLowerCase(),
    host: attr("host") || base.hostname,
    port: attr("port") || base.port || (base.protocol === "https:" ? "443" : "80"),
    autoConnect: !/^(false|no|0|off)$/i.test(attr("auto-connect")),
    target: attr("target"),
    channel: attr("channel"),
  };

  function problem() {
    const appIdMax = LIMITS.MAX_APP_ID_CHARS;
    if (!/^[A-Za-z0-9_]+$/.test(options.appId) || options.appId.length > appIdMax)
      return options.appId ? `data-app-id must be letters, digits or _ (at most ${appIdMax})`
                           : "data-app-id is missing";
    if (!Object.hasOwn(INTERPRETERS, options.interpreter))
      return 'data-interpreter must be "micropython" or "pyodide"';
    if (!/^[1-9][0-9]{0,4}$/.test(options.port) || Number(options.port) > 65535)
      return "data-port must be a TCP port number";
    if (!/^[A-Za-z0-9.:\[\]-]{1,253}$/.test(options.host))
      return "data-host must be a host name or address";
    if (options.userId.length > LIMITS.MAX_USER_ID_CHARS)
      return `data-user-id is longer than ${LIMITS.MAX_USER_ID_CHARS} characters`;
    if (/[\u0000-\u001f\u007f]/.test(options.channel))
      return "data-channel must not contain control characters";
    if (!registry.pyscript && (customElements.get("py-script") || customElements.get("mpy-script")))
      return "this page runs its own PyScript; the widget needs a page without it";
    if (registry.interpreter && registry.interpreter !== options.interpreter)
      return "another ChatCamp widget on this page runs on " + registry.interpreter +
             "; every widget on one page must use the same data-interpreter";
    return "";
  }

  const STYLE = `
    :host { all: initial !important; display: block !important; contain: content; }
    .ccw { font: 14px/1.4 system-ui, sans-serif; color: #1b1b1b; background: #fff;
           border: 1px solid #8a8a8a; border-radius: 8px; padding: 10px 12px;
           max-width: 24rem; box-sizing: border-box; text-align: left; }
    .ccw p { margin: 0 0 8px; padding: 0; }
    .title { font-weight: 600; }
    .status { color: #1b1b1b; }
    .status[data-state="connected"] { color: #0a6b2b; }
    .status[data-state="failed"] { color: #a30000; }
    .error { color: #a30000; }
    .error[hidden] { display: none; }
    button { font: inherit; color: #fff; background: #2457c5; border: 1px solid #1c449b;
             border-radius: 5px; padding: 4px 12px; margin: 0 6px 0 0; cursor: pointer; }
    button:focus-visible { outline: 2px solid #1c449b; outline-offset: 2px; }
    button:disabled { background: #9aa7c4; border-color: #9aa7c4; cursor: default; }
    .chat { border-top: 1px solid #c4c4c4; margin: 4px 0 0; padding: 8px 0 0; }
    .chat[hidden], .chat-error[hidden] { display: none; }
    .messages { list-style: none; margin: 0 0 8px; padding: 0; max-height: 16rem;
                overflow-y: auto; overflow-wrap: anywhere; }
    .messages li { margin: 0 0 4px; padding: 0; }
    .from { font-weight: 600; margin: 0 6px 0 0; }
    .text { white-space: pre-wrap; }
    .edited { color: #595959; font-size: 12px; margin: 0 0 0 6px; }
    .chat-error { color: #a30000; }
    .send { display: flex; gap: 6px; align-items: center; margin: 0; }
    .send label { position: absolute; width: 1px; height: 1px; overflow: hidden;
                  clip-path: inset(50%); white-space: nowrap; }
    .send input { font: inherit; color: #1b1b1b; background: #fff; flex: 1; min-width: 0;
                  border: 1px solid #8a8a8a; border-radius: 5px; padding: 4px 6px; margin: 0; }
    .send input:focus-visible { outline: 2px solid #1c449b; outline-offset: 1px; }
    .send input:disabled { background: #f0f0f0; }
    .send[hidden], .log[hidden], .back[hidden], .empty[hidden], .unread[hidden],
    .conversations[hidden] { display: none; }
    .conversations { list-style: none; margin: 0 0 8px; padding: 0; max-height: 16rem;
                     overflow-y: auto; }
    .conversations li { margin: 0 0 4px; padding: 0; }
    .conversation { display: grid; grid-template-columns: 1fr auto; gap: 0 6px; width: 100%;
                    margin: 0; text-align: left; color: #1b1b1b; background: #f4f6fb;
                    border-color: #c4c4c4; }
    .conversation .name { font-weight: 600; overflow-wrap: anywhere; }
    .conversation .last { grid-column: 1 / -1; color: #595959; white-space: nowrap;
                          overflow: hidden; text-overflow: ellipsis; }
    .unread { align-self: start; color: #fff; background: #2457c5; border-radius: 9px;
              padding: 0 7px; font-size: 12px; font-weight: 600; }
    .back { color: #1c449b; background: #fff; margin: 0 0 8px; }
  `;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function render(host) {
    const shadow = host.attachShadow({mode: "open"});
    const style = element("style");
    style.textContent = STYLE;
    const box = element("section", "ccw");
    box.setAttribute("aria-label", "ChatCamp session");
    const who = element("p", "who", options.userId ? "Signed in as " + options.userId
                                                   : "Not signed in on this site");
    const status = element("p", "status", "Starting…");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.dataset.state = "loading";
    const error = element("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    const buttons = element("p", "buttons");
    for (const name of ["Connect", "Disconnect"]) {
      const button = element("button", name.toLowerCase(), name);
      button.type = "button";
      button.disabled = true;
      buttons.append(button);
    }
    box.append(element("p", "title", "ChatCamp"), who, status, error, buttons);
    if (options.channel) box.append(options.channel === INBOX ? inbox() : chat());
    shadow.append(style, box);
    return {status, error};
  }

  // The chat panel of data-channel, drawn with the rest so it shows at once; Python fills the
  // list and enables the form once the channel is joined.
  function chat() {
    const panel = element("section", "chat");
    panel.setAttribute("aria-label", "Chat");
    const title = element("p", "chat-title", "Channel: " + options.channel);
    panel.append(title, messages(), chatError(), sendForm());
    return panel;
  }

  // The inbox of data-channel="inbox": Python lists the user's conversations, and shows the
  // chosen one in the same list of messages and form as the chat panel's, hidden till then.
  function inbox() {
    const panel = element("section", "chat inbox");
    panel.setAttribute("aria-label", "Chat");
    const title = element("p", "chat-title", "Conversations");
    const back = element("button", "back", "Back to conversations");
    back.type = "button";
    back.hidden = true;
    const list = element("ul", "conversations");
    list.setAttribute("aria-label", "Conversations");
    list.setAttribute("aria-busy", "true");
    const empty = element("p", "empty", "No conversations yet");
    empty.hidden = true;
    const log = messages();
    log.hidden = true;
    const form = sendForm();
    form.hidden = true;
    panel.append(title, back, list, empty, log, chatError(), form);
    return panel;
  }

  // The log holds the list rather than being it, so that its items stay a list's.
  function messages() {
    const log = element("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-label", "Messages");
    log.append(element("ol", "messages"));
    return log;
  }

  function chatError() {
    const box = element("p", "chat-error");
    box.setAttribute("role", "alert");
    box.hidden = true;
    return box;
  }

  function sendForm() {
    const form = element("form", "send");
    const label = element("label", "", "Message");
    label.htmlFor = "ccw-message";
    const input = element("input");
    Object.assign(input, {id: "ccw-message", type: "text", autocomplete: "off", disabled: true});
    const send = element("button", "send-button", "Send");
    send.type = "submit";
    send.disabled = true;
    form.append(label, input, send);
    // Never a navigation of the host page, even before Python is listening.
    form.addEventListener("submit", (event) => event.preventDefault());
    return form;
  }

  function fail(view, message) {
    view.status.textContent = "State: failed · " + message;
    view.status.dataset.state = "failed";
    view.error.hidden = false;
    view.error.textContent = "ChatCamp widget: " + message;
    console.error("ChatCamp widget: " + message);
  }

  // Resolves to "" once window.ChatCamp exists, or to the reason it cannot; never rejects,
  // because MicroPython cannot catch a rejected promise it awaits.
  function loadSdk(after) {
    if (!registry.sdk) {
      registry.sdk = typeof window.ChatCamp === "function" ? Promise.resolve("") :
        after.then(() => new Promise((resolve) => {
          const tag = document.createElement("script");
          tag.src = origin + SDK;
          tag.crossOrigin = "anonymous";
          tag.onload = () => resolve("");
          tag.onerror = () => resolve("could not load the ChatCamp SDK from " + origin);
          document.head.append(tag);
        }));
    }
    return registry.sdk;
  }

  // PyScript reads its configuration from the scripts present when it is imported, so it is
  // imported only after the first widget's script is in the page.
  function loadPyScript() {
    if (!registry.pyscript) {
      registry.pyscript = import(origin + "/vendor/pyscript/core.js").then(() => "", () =>
        "could not load PyScript from " + origin);
    }
    return registry.pyscript;
  }

  // chatcamp_web.channels only when a widget on the page chats, and group_channels only when
  // one shows an inbox: PyScript fetches its files one after another, and that one more file
  // cost the start of a widget without data-channel about 0.3x plain JS
  // (bench/browser_start.py). PyScript takes the first widget's files for the page, so every
  // widget tag present by then counts.
  function asked() {
    return registry.asked ?? (registry.asked = [options.channel, ...[
      ...document.querySelectorAll("script[data-channel]")].filter(
        (tag) => tag.src === script.src).map((tag) => tag.dataset.channel.trim())]
      .filter(Boolean));
  }
  const NEEDS = {channels: (channels) => channels.length > 0,
                 group_channels: (channels) => channels.includes(INBOX)};

  function files(interpreter) {
    const files = {};
    for (const name of MODULES) {
      if (Object.hasOwn(NEEDS, name) && !NEEDS[name](asked())) continue;
      files[origin + "/chatcamp_web/" + name + ".py"] = "./chatcamp_web/" + name + ".py";
    }
    files[origin + "/static/chatcamp_widget.py"] = "./chatcamp_widget.py";
    for (const [url, to] of Object.entries(interpreter.files)) files[origin + url] = to;
    return files;
  }

  function config(interpreter) {
    // "!error" also keeps PyScript from printing Python errors into the host page's body.
    return JSON.stringify({interpreter: origin + interpreter.url, files: files(interpreter),
                           plugins: PLUGINS_OFF});
  }

  // PyScript fetches the interpreter, then its binary, then our files, one after another;
  // telling the browser about all of them at once takes those round trips off the start.
  function preload(interpreter) {
    if (registry.preloaded) return;
    registry.preloaded = true;
    const link = (rel, href, as) => {
      const tag = document.createElement("link");
      tag.rel = rel;
      tag.href = href;
      tag.crossOrigin = "anonymous";
      if (as) tag.as = as;
      document.head.append(tag);
    };
    link("modulepreload", origin + interpreter.url);
    link("preload", origin + SDK, "script");
    for (const url of interpreter.fetches) link("preload", origin + url, "fetch");
    for (const url of Object.keys(files(interpreter))) link("preload", url, "fetch");
  }

  function mount(put, reason) {
    const host = document.createElement("chatcamp-widget");
    host.id = "chatcamp-widget-" + (++registry.count);
    put(host);
    const view = render(host);
    reason = reason || problem();
    if (reason) return fail(view, reason);
    registry.interpreter = options.interpreter;
    for (const [key, value] of Object.entries(options)) host.dataset[key] = String(value);
    const interpreter = INTERPRETERS[options.interpreter];
    preload(interpreter);
    const code = document.createElement("script");
    code.type = interpreter.type;
    code.setAttribute("config", config(interpreter));
    code.textContent = "import chatcamp_widget\nawait chatcamp_widget.mount(" +
                       JSON.stringify(host.id) + ")\n";
    host.append(code);
    const started = loadPyScript();
    started.then((reason) => reason && fail(view, reason));
    loadSdk(started);
  }

  function place() {
    let target = null;
    let reason = "";
    if (options.target) {
      try {
        target = document.querySelector(options.target);
      } catch (e) {
        reason = "data-target is not a valid CSS selector";
      }
      if (!target && !reason) {
        if (document.readyState === "loading")
          return document.addEventListener("DOMContentLoaded", place, {once: true});
        reason = "data-target " + JSON.stringify(options.target) + " matches no element";
      }
    }
    mount(target ? (host) => target.append(host) : (host) => script.after(host), reason);
  }

  try {
    place();
  } catch (e) {
    console.error("ChatCamp widget: " + (e && e.message || e));
  }
})();
