// The case list's "select every case on this page" box, for bulk actions; again after htmx swaps
// in new results.
(function () {
  document.addEventListener("change", function (event) {
    if (event.target.id !== "select-all") return;
    document.querySelectorAll('input[name="case"][form="bulk-form"]').forEach(function (box) {
      box.checked = event.target.checked;
    });
  });
})();
