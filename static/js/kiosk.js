// Kiosk behaviour that only a browser can do: the idle reset.
//
// After data-idle-seconds without a touch, a "Still there?" card counts down
// data-idle-countdown seconds; any touch or key cancels it. At zero the page is
// replaced by data-idle-home (location.replace: no history entry to go Back to), which
// throws away every half-filled form of the visitor who walked away and returns to the
// opener in the event's default language.
(function () {
  "use strict";

  const body = document.body;
  const idleSeconds = Number(body.dataset.idleSeconds || 0);
  if (!idleSeconds) return; // volunteer and lead pages do not reset themselves

  const countdownSeconds = Math.min(Number(body.dataset.idleCountdown || 10), idleSeconds);
  const home = body.dataset.idleHome || "/";
  const homePath = body.dataset.homePath || "/";
  const defaultLang = body.dataset.defaultLang || document.documentElement.lang;
  const overlay = document.getElementById("idle_overlay");
  const counter = document.getElementById("idle_count");
  let idleTimer = null;
  let tickTimer = null;
  let remaining = 0;

  function isPristineHome() {
    // Nothing to clear: the untouched opener, in the default language, needs no reset.
    return (
      location.pathname === homePath &&
      document.documentElement.lang === defaultLang &&
      !document.querySelector("[data-dirty], .reframe")
    );
  }

  function startOver() {
    location.replace(home);
  }

  function tick() {
    remaining -= 1;
    if (counter) counter.textContent = String(remaining);
    if (remaining <= 0) {
      startOver();
    }
  }

  function showCountdown() {
    if (isPristineHome()) {
      schedule();
      return;
    }
    remaining = countdownSeconds;
    if (counter) counter.textContent = String(remaining);
    if (overlay) overlay.hidden = false;
    const stay = document.getElementById("idle_stay");
    if (stay) stay.focus({ preventScroll: true });
    tickTimer = window.setInterval(tick, 1000);
  }

  function schedule() {
    window.clearTimeout(idleTimer);
    idleTimer = window.setTimeout(showCountdown, (idleSeconds - countdownSeconds) * 1000);
  }

  function activity() {
    if (tickTimer !== null) {
      window.clearInterval(tickTimer);
      tickTimer = null;
      if (overlay) overlay.hidden = true;
    }
    schedule();
  }

  ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, activity, { capture: true, passive: true });
  });
  // A page restored from the back-forward cache must start its timer afresh.
  window.addEventListener("pageshow", activity);
  schedule();
})();

// A thank-you block (data-return-after="8") goes back to the opener by itself. It may
// arrive with the page or be swapped in by htmx, so both are watched. location.replace
// takes the thank-you (and the form under it) out of the history: Back finds no entry.
(function () {
  "use strict";

  let pending = null;

  function armReturn() {
    const target = document.querySelector("[data-return-after]");
    if (!target) return;
    const seconds = Number(target.dataset.returnAfter || 0);
    const home = target.dataset.returnHome || "/";
    if (!(seconds > 0)) return;
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      location.replace(home);
    }, seconds * 1000);
  }

  // "Done" goes home without leaving the thank-you in the history either.
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[data-return-now]");
    if (!link) return;
    event.preventDefault();
    location.replace(link.href);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    armReturn();
    // After a 422, bring the first field at fault into view and focus.
    const invalid = document.querySelector("[aria-invalid='true']");
    if (invalid && event.detail.xhr && event.detail.xhr.status === 422) {
      invalid.focus({ preventScroll: false });
    }
  });
  armReturn();
})();
