// The dashboard's one script: copy buttons, confirmation of changes that cannot be undone,
// the browser's time zone for "revoke tokens issued before", and the live view's refresh.
// Every page works without it except the copy buttons and the live refresh.
"use strict";

function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "sr-only";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await copyText(source.textContent.trim());
    button.textContent = "Copied";
    announce("Copied to the clipboard");
  } catch (error) {
    announce("Could not copy: select the text and copy it by hand");
  }
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // a second click would post the change again: a second new key, say, the first one dead
  if (event.target.method !== "post") return;
  for (const button of event.target.querySelectorAll("button[type=submit]")) {
    setTimeout(() => { button.disabled = true; }, 0);
  }
});

for (const field of document.querySelectorAll("[data-utc-offset]")) {
  field.value = String(-new Date().getTimezoneOffset());
}

function drawChart(svg, minutes) {
  const peak = Math.max(1, ...minutes.map((m) => Math.max(m.logins, m.failed)));
  const bars = svg.querySelectorAll("g");
  minutes.forEach((m, i) => {
    const group = bars[i];
    if (!group) return;
    const [ok, bad] = group.querySelectorAll("rect");
    const okHeight = 110 * m.logins / peak;
    const badHeight = 110 * m.failed / peak;
    ok.setAttribute("y", String(120 - okHeight));
    ok.setAttribute("height", String(okHeight));
    bad.setAttribute("y", String(120 - badHeight));
    bad.setAttribute("height", String(badHeight));
    group.querySelector("title").textContent =
      `${new Date(m.minute * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC: ` +
      `${m.logins} logins, ${m.failed} failed`;
  });
}

function showLive(numbers) {
  const latest = numbers.minutes[numbers.minutes.length - 1];
  const values = {
    live_sessions: numbers.live_sessions,
    logins: latest.logins,
    failed: latest.failed,
    lockouts: numbers.lockouts === null ? "n/a"
      : Object.values(numbers.lockouts).reduce((a, b) => a + b, 0),
    lockouts_started: numbers.lockouts_started,
    nodes: numbers.nodes,
  };
  for (const element of document.querySelectorAll("[data-live]")) {
    element.textContent = String(values[element.dataset.live]);
  }
  for (const element of document.querySelectorAll("[data-live-app]")) {
    const app = element.dataset.liveApp;
    element.textContent = String(Object.hasOwn(numbers.apps, app) ? numbers.apps[app] : 0);
  }
  const chart = document.querySelector("[data-live-chart]");
  if (chart) drawChart(chart, numbers.minutes);
}

const live = document.querySelector("[data-live-url]");
if (live) {
  const refresh = async () => {
    try {
      const response = await fetch(live.dataset.liveUrl, { credentials: "same-origin" });
      if (response.redirected || response.status !== 200) {
        window.location.reload();
        return;
      }
      showLive(await response.json());
    } catch (error) {
      // the server is restarting or the network dropped: the next tick tries again
    }
  };
  setInterval(refresh, 2000);
}
