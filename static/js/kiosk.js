// Kiosk behaviour that only a browser can do: the idle reset.
//
// After data-idle-seconds without a touch, a "Still there?" card counts down
// data-idle-countdown seconds; any touch or key cancels it. At zero the page is
// replaced by the opener (location.replace: no history entry to go Back to), which
// throws away every half-filled form of the visitor who walked away.
(function () {
  "use strict";

  const body = document.body;
  const idleSeconds = Number(body.dataset.idleSeconds || 0);
  if (!idleSeconds) return; // volunteer and lead pages do not reset themselves

  const countdownSeconds = Math.min(Number(body.dataset.idleCountdown || 10), idleSeconds);
  const home = body.dataset.idleHome || "/";
  const overlay = document.getElementById("idle_overlay");
  const counter = document.getElementById("idle_count");
  let idleTimer = null;
  let tickTimer = null;
  let remaining = 0;

  function isPristineHome() {
    // Nothing to clear: the untouched opener needs no reset.
    return location.pathname === home && !document.querySelector("[data-dirty], .reframe");
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
