// The volunteer's side of a pinned tablet.
//
// 1. Visitor screens: holding the team's name ([data-volunteer-hold]) for HOLD_MS opens the
//    volunteer's PIN screen. A pinned tablet has no address bar, and visitors never see it.
//    The header also has a link for keyboards, shown only while it has focus.
// 2. Volunteer screens: a page the browser brings back from its back-forward cache asks the
//    server again (the unlock may have ended); an Undo button leaves when its minute is up;
//    a Print button prints.
(function () {
  "use strict";

  const HOLD_MS = 2000;
  const MOVE_PX = 12; // a finger that slides is scrolling, not holding

  let timer = null;
  let start = null;
  let opened = false;

  function cancel() {
    window.clearTimeout(timer);
    timer = null;
    start = null;
  }

  document.addEventListener("pointerdown", function (event) {
    const target = event.target.closest && event.target.closest("[data-volunteer-hold]");
    if (!target || (event.pointerType === "mouse" && event.button !== 0)) return;
    cancel();
    start = { x: event.clientX, y: event.clientY };
    timer = window.setTimeout(function () {
      opened = true;
      location.assign(target.dataset.volunteerHold);
    }, HOLD_MS);
  });
  document.addEventListener("pointermove", function (event) {
    if (start && Math.hypot(event.clientX - start.x, event.clientY - start.y) > MOVE_PX) cancel();
  });
  ["pointerup", "pointercancel"].forEach(function (name) {
    document.addEventListener(name, cancel);
  });
  // The press ends on the team name's link: it must not also go to the opener.
  document.addEventListener(
    "click",
    function (event) {
      if (opened && event.target.closest && event.target.closest("[data-volunteer-hold]")) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true
  );
  // A long touch on a link opens the browser's own menu; not on the team name.
  document.addEventListener("contextmenu", function (event) {
    if (event.target.closest && event.target.closest("[data-volunteer-hold]")) {
      event.preventDefault();
    }
  });

  // A volunteer page restored by Back or Forward was not asked for: ask the server, which
  // answers with the PIN screen once the unlock has ended.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.body.classList.contains("volunteer")) {
      location.reload();
    }
    if (event.persisted) opened = false;
  });

  function expireLater() {
    document.querySelectorAll("[data-expires-after]:not([data-expiring])").forEach(function (el) {
      el.dataset.expiring = "";
      window.setTimeout(function () {
        el.remove();
      }, Number(el.dataset.expiresAfter || 0) * 1000);
    });
  }
  document.addEventListener("htmx:afterSwap", expireLater);
  expireLater();

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });
})();
