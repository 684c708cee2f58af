// Kiosk behaviour that only a browser can do, in five parts:
//   1. Connection trouble: a calm banner, retries of the same request, recovery without a touch.
//   2. Nothing typed survives the visitor: a page left behind is emptied, and comes back fresh.
//   3. The idle reset and the thank-you's return: never to a browser error page.
//   4. Focus and announcements after every in-page swap.
//   5. The language switch keeps the visitor's screen: what they typed, the answer they opened.
// What a visitor typed lives in the page; only the language switch hands it to the next page,
// through sessionStorage, which every page empties as it loads (part 5).
(function () {
  "use strict";

  const body = document.body;
  // Visitor and volunteer screens reset themselves when idle; the lead's pages do not.
  const kioskScreen = body.hasAttribute("data-idle-seconds");
  const home = body.dataset.idleHome || "/";
  // Where the opener lives and the event's language: a screen already at both is as the next
  // visitor should find it (the idle home may be a route that sets the language first).
  const homePath = body.dataset.homePath || home;
  const defaultLang = body.dataset.defaultLang || document.documentElement.lang;
  const announcer = document.getElementById("announcer");
  const banner = document.getElementById("offline_banner");
  // Fields a person types into or picks; hidden tokens and buttons are not theirs.
  const TYPED =
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image]), textarea, select";
  const PROBE_TIMEOUT_MS = 2500;
  // sessionStorage key of what the language switch hands to the next page (part 5).
  const CARRIED = "kiosk-carried";
  const RETRY_EVERY_MS = 2000;

  function noop() {}

  function csrfHeaders() {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}");
    } catch (error) {
      return {};
    }
  }

  // Polite news for screen readers, through the page's one live region. Emptied first so
  // the same words said twice are read twice.
  function announce(text) {
    if (!announcer || !text) return;
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = text.replace(/\s+/g, " ").trim();
    }, 50);
  }

  // ---- 1. Connection trouble -------------------------------------------------------------
  //
  // A request that cannot reach the server (htmx:sendError, htmx:timeout, or a gateway's
  // 5xx) shows the banner and is kept, with what was sent, in `pending`. A light probe (a
  // small static file, data-probe-url) runs every few seconds; once it answers, each kept
  // request is sent again (the same fields, so the same idempotency key) and its answer
  // swapped in as usual.

  let offline = false;
  let probeTimer = null;
  const pending = new Map(); // element that sent it -> {verb, path, values, target, submitter}
  let afterReconnect = null; // the one navigation that waits for the server

  function reachable() {
    if (navigator.onLine === false) return Promise.resolve(false);
    const controller = new AbortController();
    const timer = window.setTimeout(function () {
      controller.abort();
    }, PROBE_TIMEOUT_MS);
    return fetch(body.dataset.probeUrl, {
      cache: "no-store",
      credentials: "same-origin",
      signal: controller.signal,
    })
      .then(
        function () {
          return true; // any answer, even a 503, means the kiosk is there
        },
        function () {
          return false;
        }
      )
      .finally(function () {
        window.clearTimeout(timer);
      });
  }

  function probeLater(delay) {
    if (probeTimer !== null) return;
    probeTimer = window.setTimeout(function () {
      probeTimer = null;
      reachable().then(function (ok) {
        if (ok) reconnected();
        else if (offline) probeLater(RETRY_EVERY_MS);
      });
    }, delay);
  }

  function wentOffline() {
    if (!kioskScreen) return;
    if (!offline) {
      offline = true;
      if (banner) {
        banner.hidden = false;
        announce(banner.textContent);
      }
    }
    probeLater(RETRY_EVERY_MS);
  }

  function reconnected() {
    if (offline) {
      offline = false;
      if (banner) {
        banner.hidden = true;
        announce(banner.dataset.backText);
      }
    }
    window.clearTimeout(probeTimer);
    probeTimer = null;
    sendPending().then(function () {
      if (offline) return; // a request failed again: keep waiting
      const next = afterReconnect;
      afterReconnect = null;
      if (next) next();
    });
  }

  // Run `action` once the server answers; until then show the banner (and `meanwhile`).
  function whenReachable(action, meanwhile) {
    afterReconnect = action;
    reachable().then(function (ok) {
      if (ok) {
        reconnected();
      } else {
        if (meanwhile) meanwhile();
        wentOffline();
      }
    });
  }

  function polled(elt) {
    return Boolean(elt && elt.closest && elt.closest("[hx-trigger*='every']"));
  }

  function keepForLater(event) {
    const detail = event.detail || {};
    const config = detail.requestConfig;
    wentOffline();
    if (!config || !detail.elt || polled(detail.elt)) return; // a poll simply polls again
    const values = new FormData();
    config.formData.forEach(function (value, key) {
      values.append(key, value);
    });
    const trigger = config.triggeringEvent;
    pending.set(detail.elt, {
      verb: config.verb,
      path: config.path,
      values: values,
      target: detail.target,
      submitter: trigger && trigger.submitter ? trigger.submitter.name : null,
    });
  }

  // What to send again: the form as it is now (the visitor may have corrected it), plus
  // the button that sent it (an opener choice); any other source sends what it sent.
  function valuesToResend(elt, request) {
    if (!(elt instanceof HTMLFormElement)) return request.values;
    const values = new FormData(elt);
    if (request.submitter && request.values.has(request.submitter)) {
      values.set(request.submitter, request.values.get(request.submitter));
    }
    return values;
  }

  // A request whose element left the page meanwhile (an opener tap when the idle reset put the
  // opener back in place) is still delivered, out of sight. A form the idle reset cleared is
  // not: its visitor walked away (clearInPlace drops it, and the banner's promise with it).
  function deliverOutOfSight(request) {
    return fetch(request.path, {
      method: request.verb.toUpperCase(),
      body: new URLSearchParams(request.values),
      headers: Object.assign({ "HX-Request": "true" }, csrfHeaders()),
      credentials: "same-origin",
    }).then(noop, function () {
      pending.set({}, request); // no element: sent out of sight again next time
      wentOffline();
    });
  }

  function sendPending() {
    const sending = [];
    pending.forEach(function (request, elt) {
      pending.delete(elt);
      if (elt instanceof Element && elt.isConnected) {
        const target = request.target && request.target.isConnected ? request.target : undefined;
        sending.push(
          htmx
            .ajax(request.verb, request.path, {
              source: elt,
              target: target,
              values: valuesToResend(elt, request),
            })
            .catch(noop)
        );
      } else if (request.verb !== "get") {
        sending.push(deliverOutOfSight(request));
      }
    });
    return Promise.all(sending);
  }

  if (kioskScreen) {
    document.addEventListener("htmx:sendError", keepForLater);
    document.addEventListener("htmx:timeout", keepForLater);
    document.addEventListener("htmx:responseError", function (event) {
      const status = event.detail.xhr ? event.detail.xhr.status : 0;
      if (status >= 500) keepForLater(event); // a gateway between us and the kiosk
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      const xhr = event.detail.xhr;
      if (!xhr || xhr.status === 0) return;
      pending.delete(event.detail.elt);
      if (offline) reconnected();
    });
    window.addEventListener("offline", wentOffline);
    window.addEventListener("online", function () {
      if (offline) {
        window.clearTimeout(probeTimer);
        probeTimer = null;
        probeLater(0);
      }
    });
    const timeout = Number(body.dataset.requestTimeout || 0);
    if (timeout > 0 && window.htmx) htmx.config.timeout = timeout * 1000;
  }

  // ---- 2. Nothing typed survives the visitor ---------------------------------------------
  //
  // Chromium keeps a page it leaves in its back-forward cache, fields and all, even with
  // Cache-Control: no-store. So a page with fields is emptied as it is left (pagehide),
  // tells the server the visit ended (a fresh HttpOnly cookie: Chromium then drops no-store
  // pages from that cache), and if it is shown again from the cache it reloads fresh.
  // Links that leave such a page replace it in the history: Back cannot find it.

  function hasFields() {
    return document.querySelector(TYPED) !== null;
  }

  // A page holding one visitor's visit: fields, or a thank-you (it may show a pledge).
  function holdsAVisit() {
    return hasFields() || document.querySelector("[data-return-after]") !== null;
  }

  function scrub(root) {
    (root || document).querySelectorAll(TYPED).forEach(function (field) {
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = false;
        field.defaultChecked = false;
      } else if (field.tagName === "SELECT") {
        Array.prototype.forEach.call(field.options, function (option) {
          option.selected = false;
          option.defaultSelected = false;
        });
      } else {
        field.value = "";
        field.defaultValue = "";
      }
    });
  }

  function endVisit() {
    if (!body.dataset.endVisit) return;
    fetch(body.dataset.endVisit, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: csrfHeaders(),
    }).catch(noop);
  }

  function navigationType() {
    const entries = performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    return entries.length ? entries[0].type : "";
  }

  window.addEventListener("pagehide", function () {
    if (!hasFields()) return;
    scrub();
    if (kioskScreen) endVisit();
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) forgetCarried();
    if (event.persisted) {
      // Back or Forward brought a kept page back.
      if (!kioskScreen) {
        location.reload(); // the lead's pages: always as the server has them now
      } else if (holdsAVisit()) {
        scrub();
        const fresh = document.querySelector("[data-return-after]") ? home : location.href;
        whenReachable(function () {
          location.replace(fresh);
        }, clearInPlace);
      }
    } else if (navigationType() === "back_forward") {
      // Fetched again, but a browser may refill fields it remembers: back to the server's.
      document.querySelectorAll("form").forEach(function (form) {
        form.reset();
      });
    }
  });

  // ---- 3. Leaving a screen, the idle reset and the thank-you's return ---------------------
  //
  // On kiosk screens every link and plain form first checks that the kiosk answers, so a
  // visitor never lands on the browser's own "no connection" page: without an answer the
  // banner shows and the page opens by itself once the kiosk is back.

  function go(url, replace) {
    if (replace) location.replace(url);
    else location.assign(url);
  }

  document.addEventListener("click", function (event) {
    if (!kioskScreen || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    event.preventDefault();
    if (link.closest(".language-switch")) carryAcross(url);
    const replace = holdsAVisit() || link.hasAttribute("data-return-now");
    whenReachable(function () {
      go(url.href, replace);
    });
  });

  const resubmitting = new WeakSet();
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (resubmitting.has(form)) {
      resubmitting.delete(form);
      return;
    }
    if (!kioskScreen || event.defaultPrevented) return; // htmx's own forms say so
    event.preventDefault();
    const submitter = event.submitter && event.submitter.form === form ? event.submitter : null;
    whenReachable(function () {
      if (!form.isConnected) return;
      resubmitting.add(form);
      if (submitter) form.requestSubmit(submitter);
      else form.requestSubmit();
    });
  });

  // The opener as first shown, kept in memory: an idle reset without the server goes back
  // to it in place.
  const openerPanel = document.getElementById("opener_panel");
  const pristineOpener =
    openerPanel && !openerPanel.querySelector(".reframe") ? openerPanel.cloneNode(true) : null;
  let cleared = false;

  // The idle reset without a server: every field emptied, and the opener shown again (it is
  // this page: nothing more to do) or a calm welcome until the opener can be loaded. Kept
  // requests are still delivered once the kiosk answers. True when back at the opener.
  function clearInPlace() {
    pending.forEach(function (request, elt) {
      if (elt instanceof HTMLFormElement && elt.querySelector(TYPED)) pending.delete(elt);
    });
    const promise = document.getElementById("offline_promise");
    if (promise) promise.hidden = true;
    forgetCarried();
    scrub();
    const panel = document.getElementById("opener_panel");
    const main = document.getElementById("main");
    let atOpener = false;
    if (pristineOpener && panel) {
      const fresh = pristineOpener.cloneNode(true);
      panel.replaceWith(fresh);
      if (window.htmx) htmx.process(fresh);
      atOpener = true;
    } else if (main) {
      const template = document.getElementById("cleared_screen");
      main.replaceChildren();
      if (template) main.appendChild(template.content.cloneNode(true));
      cleared = true;
    }
    const heading = main && main.querySelector("h1");
    if (heading) focusHeading(heading);
    window.scrollTo(0, 0);
    return atOpener;
  }

  function returnHome() {
    forgetCarried();
    whenReachable(
      function () {
        location.replace(home);
      },
      function () {
        const atOpener = clearInPlace();
        if (atOpener && document.documentElement.lang === defaultLang) afterReconnect = null;
      }
    );
  }

  // After data-idle-seconds without a touch, a "Still there?" card counts down
  // data-idle-countdown seconds; any touch or key cancels it. At zero the opener replaces
  // the page (location.replace: no history entry to go Back to), throwing away every
  // half-filled form of the visitor who walked away.
  (function idleReset() {
    const idleSeconds = Number(body.dataset.idleSeconds || 0);
    if (!idleSeconds) return;

    const countdownSeconds = Math.min(Number(body.dataset.idleCountdown || 10), idleSeconds);
    const overlay = document.getElementById("idle_overlay");
    const counter = document.getElementById("idle_count");
    let idleTimer = null;
    let tickTimer = null;
    let remaining = 0;

    function isPristine() {
      // Nothing to clear: the untouched opener (or a screen already cleared) needs no reset.
      if (cleared) return true;
      return (
        location.pathname === homePath &&
        document.documentElement.lang === defaultLang &&
        !document.querySelector("[data-dirty], .reframe")
      );
    }

    function hideCountdown() {
      window.clearInterval(tickTimer);
      tickTimer = null;
      if (overlay) overlay.hidden = true;
    }

    function tick() {
      remaining -= 1;
      if (counter) counter.textContent = String(remaining);
      if (remaining <= 0) {
        hideCountdown();
        returnHome();
      }
    }

    function showCountdown() {
      if (isPristine()) {
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
      if (tickTimer !== null) hideCountdown();
      schedule();
    }

    ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, activity, { capture: true, passive: true });
    });
    // A page restored from the back-forward cache starts its timer afresh.
    window.addEventListener("pageshow", activity);
    schedule();
  })();

  // A thank-you block (data-return-after="8") goes back to the opener by itself. It may
  // arrive with the page or be swapped in by htmx, so both are watched.
  // The seconds left show in its [data-return-count], counted down once a second.
  let returnTimer = null;
  let returnTick = null;
  function armReturn() {
    const target = document.querySelector("[data-return-after]");
    if (!target) return;
    const seconds = Number(target.dataset.returnAfter || 0);
    if (!(seconds > 0)) return;
    window.clearTimeout(returnTimer);
    window.clearInterval(returnTick);
    returnTimer = window.setTimeout(returnHome, seconds * 1000);
    let left = seconds;
    const count = target.querySelector("[data-return-count]");
    if (count) count.textContent = String(left);
    returnTick = window.setInterval(function () {
      left = Math.max(0, left - 1);
      if (count && count.isConnected) count.textContent = String(left);
      if (left === 0) window.clearInterval(returnTick);
    }, 1000);
  }
  document.addEventListener("htmx:afterSwap", armReturn);
  armReturn();

  // ---- 4. Focus and announcements ----------------------------------------------------------
  //
  // After an in-page swap on a visitor screen (opener answer, FAQ, a form's errors, the
  // thank-you), focus moves to the new content's heading and #announcer says what changed:
  // the new content's data-announce, data-announce-errors for a form with errors, else the
  // heading. Focus already reads the heading, so the news adds to it rather than repeat it.
  // Polled regions (the live chart) never take focus.

  function focusHeading(heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    const box = heading.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      heading.scrollIntoView({ block: "start" });
    }
  }

  const answered = new WeakSet();
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!body.classList.contains("visitor")) return;
    const content = event.target;
    const xhr = event.detail && event.detail.xhr;
    if (!(content instanceof Element) || !content.isConnected || polled(content)) return;
    if (xhr && answered.has(xhr)) return;
    const heading = content.matches("h1, h2, h3")
      ? content
      : content.querySelector("h1, h2, h3");
    if (!heading) return;
    if (xhr) answered.add(xhr);
    focusHeading(heading);
    const news = content.closest("[data-announce]") || content.querySelector("[data-announce]");
    if (news) announce(news.dataset.announce);
    else if (content.querySelector("[aria-invalid=true]")) announce(body.dataset.announceErrors);
    else announce(heading.textContent);
  });

  // ---- 5. The language switch keeps the visitor's screen ----------------------------------
  //
  // Switching language loads the page again in the other language. An answer open in the FAQ
  // comes back open: the switch returns to that answer's own address. What the visitor typed
  // is handed over in sessionStorage under CARRIED, for this page's path only, and taken out
  // the moment the next page loads (restored only if it is that page, reached by the switch
  // itself, not by Back or a reload). The idle reset and a page shown again from the
  // back-forward cache empty it too, so nothing typed reaches the next visitor.

  function forgetCarried() {
    try {
      window.sessionStorage.removeItem(CARRIED);
    } catch (error) {
      /* no storage: nothing was kept */
    }
  }

  function typedValues() {
    const fields = [];
    document.querySelectorAll("#main form").forEach(function (form) {
      form.querySelectorAll(TYPED).forEach(function (field) {
        if (!field.name || field.type === "password" || field.type === "file") return;
        // An agreement was to the wording in the language it was read in: asked again.
        if (field.closest(".consent")) return;
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.checked) fields.push([field.name, field.value, true]);
        } else if (field.value) {
          fields.push([field.name, field.value, false]);
        }
      });
    });
    return fields;
  }

  function carryAcross(url) {
    const open = document.querySelectorAll(".faq-entry[data-open-href]");
    if (open.length) {
      const entry = open[open.length - 1];
      url.searchParams.set("next", entry.dataset.openHref + "#" + entry.id);
    }
    const fields = typedValues();
    if (!fields.length) return;
    try {
      window.sessionStorage.setItem(
        CARRIED,
        JSON.stringify({ path: location.pathname, fields: fields })
      );
    } catch (error) {
      /* no storage: the page comes back empty, as before */
    }
  }

  function restoreCarried() {
    let carried = null;
    try {
      carried = JSON.parse(window.sessionStorage.getItem(CARRIED) || "null");
    } catch (error) {
      carried = null;
    }
    forgetCarried();
    if (!carried || carried.path !== location.pathname || navigationType() !== "navigate") return;
    const fields = Array.isArray(carried.fields) ? carried.fields : [];
    document.querySelectorAll("#main form").forEach(function (form) {
      form.querySelectorAll(TYPED).forEach(function (field) {
        fields.forEach(function (entry) {
          if (field.name !== entry[0]) return;
          if (field.type === "checkbox" || field.type === "radio") {
            if (entry[2] && field.value === entry[1]) field.checked = true;
          } else {
            field.value = entry[1];
          }
        });
      });
    });
  }

  if (kioskScreen) restoreCarried();
  else forgetCarried();
})();
