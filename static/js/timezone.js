// Tell the server the browser's time zone so times render in it (read by UserTimezoneMiddleware).
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
    document.cookie = "tz=" + encodeURIComponent(zone) + ";path=/;max-age=31536000;samesite=lax";
  }
  // Priority dots take Kore's own colour; set from script so no inline style is needed (CSP).
  function paintDots(root) {
    root.querySelectorAll(".dot[data-color]").forEach(function (dot) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(dot.dataset.color)) dot.style.backgroundColor = dot.dataset.color;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paintDots(document); });
  document.addEventListener("htmx:afterSwap", function (event) { paintDots(event.target.parentNode || document); });
})();
