// Follow the system light/dark setting with Bootstrap 5.3's data-bs-theme. Loaded without
// `defer` in <head> so the first paint already has the right colours (no white flash).
(function () {
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function apply() {
    document.documentElement.setAttribute("data-bs-theme", query && query.matches ? "dark" : "light");
  }
  apply();
  if (query && query.addEventListener) query.addEventListener("change", apply);
})();
