// The console's only script: conveniences on top of pages that work
// without it. Loaded from the console itself (the Content-Security-Policy
// allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: shown only where the clipboard can be written.
  document.querySelectorAll("button.copy[data-copy]").forEach(function (btn) {
    if (!navigator.clipboard) {
      return;
    }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var src = document.getElementById(btn.getAttribute("data-copy"));
      if (!src) {
        return;
      }
      navigator.clipboard.writeText(src.value || src.textContent).then(function () {
        btn.textContent = "Copied";
      }, function () {
        src.select();
        btn.textContent = "Select and copy";
      });
    });
  });
  // The policy editor's size as STS counts it, while typing.
  var policy = document.getElementById("f-policy");
  var count = document.getElementById("policy-count");
  if (policy && count) {
    var max = parseInt(policy.getAttribute("data-maxsize"), 10);
    var update = function () {
      var n;
      try {
        n = JSON.stringify(JSON.parse(policy.value)).length;
      } catch (e) {
        n = policy.value.length;
      }
      count.textContent = String(n);
      count.classList.toggle("bad", n > max);
    };
    policy.addEventListener("input", update);
  }
});
