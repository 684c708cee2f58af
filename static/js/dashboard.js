// The team lead's live dashboard, left open all day.
//
// 1. The session never ends silently. Each refresh carries how long the session has left
//    ([data-session-ends-in]); the polling itself does not extend it. From WARN seconds before
//    the end, a prompt counts down with a "Stay signed in" button; left alone, the session
//    ends and the next refresh goes to the login page (a reload here would count as the lead
//    at work and keep the session alive: the refresh asks without touching it).
// 2. Keyboard focus stays where it was across the 5-second refreshes: htmx puts it back on the
//    element with the same id; when that element is gone, on the dashboard's heading.
// 3. What changed is announced politely: each [data-announce] line whose value changed is read
//    out through the page's aria-live region (#announcer).
(function () {
  "use strict";

  const prompt = document.getElementById("session_prompt");
  if (!prompt || !document.getElementById("dashboard")) return;

  const warnSeconds = Number(prompt.dataset.warnSeconds || 120);
  const left = prompt.querySelector("[data-session-left]");
  let endsAt = null;

  function readSession() {
    const status = document.querySelector("[data-session-ends-in]");
    if (!status) return;
    endsAt = Date.now() + Number(status.dataset.sessionEndsIn) * 1000;
    prompt.classList.toggle("is-final", status.dataset.sessionRenewable !== "true");
    update();
  }

  function update() {
    if (endsAt === null) return;
    const seconds = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    const showing = seconds <= warnSeconds;
    if (showing && prompt.hidden) prompt.hidden = false;
    if (!showing && !prompt.hidden) prompt.hidden = true;
    if (left) {
      left.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    }
  }

  // Values of the announced lines before a refresh, by their key.
  function announced() {
    const values = {};
    document.querySelectorAll("#dashboard [data-announce]").forEach(function (element) {
      values[element.dataset.announce] = element.dataset.value;
    });
    return values;
  }

  let before = announced();
  let focusWasInside = false;

  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (target && target.id === "dashboard") {
      focusWasInside = target.contains(document.activeElement);
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    readSession();
    const now = announced();
    const changed = [];
    document.querySelectorAll("#dashboard [data-announce]").forEach(function (element) {
      const key = element.dataset.announce;
      if (key in before && before[key] !== now[key]) {
        const parts = Array.from(element.children).map(function (part) {
          return part.textContent.trim();
        });
        changed.push(parts.join(" "));
      }
    });
    before = now;
    const announcer = document.getElementById("announcer");
    if (changed.length && announcer) announcer.textContent = changed.join(". ");
  });

  document.addEventListener("htmx:afterSettle", function () {
    // htmx has restored focus by id if it could; a removed element leaves it on the body.
    if (focusWasInside && (document.activeElement === document.body || !document.activeElement)) {
      const heading = document.querySelector("#dashboard h1");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
    focusWasInside = false;
  });

  window.setInterval(update, 1000);
  readSession();
})();
