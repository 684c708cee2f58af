// The team lead's pages: a Print button (no inline scripts under the CSP).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-print]");
    if (button) window.print();
  });
})();
