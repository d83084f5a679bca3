// Priority (and status) dots take Kore's own colour, set from script so no inline style is needed
// (the Content Security Policy allows none); again after htmx swaps in a part of the page.
(function () {
  function paintDots(root) {
    root.querySelectorAll(".dot[data-color]").forEach(function (dot) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(dot.dataset.color)) dot.style.backgroundColor = dot.dataset.color;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paintDots(document); });
  document.addEventListener("htmx:afterSwap", function (event) { paintDots(event.target.parentNode || document); });
})();
