/**
 * The console's one script, served as a file from ADMIN_PATH/console.js (script-src 'self'; nothing inline): copy
 * buttons beside one-time links and secrets. Without it the pages work the same; the buttons just stay hidden.
 */
export const CONSOLE_SCRIPT = `"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      input.select();
      var done = function () { button.textContent = "\\u2713 " + label; setTimeout(function () { button.textContent = label; }, 2000); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
  });
});
`;
