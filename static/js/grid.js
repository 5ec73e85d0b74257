// The owner's photo grid: a photoswipe lightbox (keyboard, swipe, caption), a select
// mode for bulk actions with a confirm before deleting, and infinite scroll by cursor
// (the grid works without script too: links to photo pages, and a page-number pager).
(function () {
  "use strict";

  var LONG_SIDE = 1280;  // a new upload's display size is not known yet: scale its thumbnail

  function tiles(grid) { return Array.prototype.slice.call(grid.querySelectorAll("li.tile")); }

  function slideOf(tile) {
    var image = tile.querySelector('[data-role="image"]');
    var width = Number(tile.getAttribute("data-display-width"));
    var height = Number(tile.getAttribute("data-display-height"));
    if (!width || !height) {
      var w = image.naturalWidth || 4, h = image.naturalHeight || 3;
      var scale = LONG_SIDE / Math.max(w, h);
      width = Math.round(w * scale);
      height = Math.round(h * scale);
    }
    var caption = tile.querySelector('[data-role="caption"]');
    return { src: tile.getAttribute("data-display-url"), msrc: image.currentSrc || image.src, width: width,
             height: height, alt: image.alt, caption: caption ? caption.textContent.trim() : "", element: image };
  }

  function openLightbox(grid, tile) {
    if (!window.PhotoSwipeLightbox || !window.PhotoSwipe) { return false; }
    var all = tiles(grid);
    var lightbox = new window.PhotoSwipeLightbox({
      dataSource: all.map(slideOf), pswpModule: window.PhotoSwipe, bgOpacity: 0.92,
      showHideAnimationType: "fade", closeTitle: "Close (Esc)", arrowPrevTitle: "Previous (←)",
      arrowNextTitle: "Next (→)", zoomTitle: "Zoom", returnFocus: true,
    });
    lightbox.on("uiRegister", function () {
      lightbox.pswp.ui.registerElement({
        name: "caption", order: 9, isButton: false, appendTo: "root",
        onInit: function (element, pswp) {
          element.setAttribute("aria-live", "polite");
          function update() {
            var data = pswp.currSlide ? pswp.currSlide.data : pswp.getItemData(pswp.currIndex);
            element.textContent = (data && data.caption) || "";
          }
          update();  // the first slide's "change" may come before this element exists
          pswp.on("change", update);
        },
      });
    });
    lightbox.on("destroy", function () {
      var zoom = tile.querySelector('[data-role="zoom"]');
      if (zoom) { zoom.focus(); }
    });
    lightbox.init();
    lightbox.loadAndOpen(all.indexOf(tile));
    return true;
  }

  function selectMode(grid) {
    var toggle = document.querySelector('[data-role="select-mode"]');
    var form = document.querySelector('[data-role="bulk-form"]');
    if (!toggle || !form) { return function () { return false; }; }
    var count = form.querySelector('[data-role="selected-count"]');
    var dialog = document.querySelector('[data-role="confirm-delete"]');
    var deleteButton = form.querySelector('[data-role="bulk-delete"]');
    var confirmed = false;
    toggle.hidden = false;

    function selected() { return grid.querySelectorAll('[data-role="select"]:checked'); }
    function refresh() {
      var n = selected().length;
      count.textContent = String(n);
      tiles(grid).forEach(function (tile) {
        tile.classList.toggle("is-selected", tile.querySelector('[data-role="select"]').checked);
      });
      form.querySelectorAll('button[type="submit"]').forEach(function (button) { button.disabled = n === 0; });
    }
    function setMode(on) {
      grid.classList.toggle("selecting", on);
      form.hidden = !on;
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      toggle.textContent = on ? "Done selecting" : "Select";
      if (!on) { selected().forEach(function (box) { box.checked = false; }); }
      refresh();
    }
    toggle.addEventListener("click", function () { setMode(!grid.classList.contains("selecting")); });
    grid.addEventListener("change", refresh);
    form.querySelector('[data-role="select-all"]').addEventListener("click", function () {
      grid.querySelectorAll('[data-role="select"]').forEach(function (box) { box.checked = true; });
      refresh();
    });
    form.addEventListener("submit", function (event) {
      if (event.submitter === deleteButton && !confirmed && dialog && dialog.showModal) {
        event.preventDefault();
        dialog.querySelector('[data-role="confirm-count"]').textContent = String(selected().length);
        dialog.showModal();
      }
    });
    if (dialog) {
      dialog.querySelector('[data-role="confirm-cancel"]').addEventListener("click", function () { dialog.close(); });
      dialog.querySelector('[data-role="confirm-ok"]').addEventListener("click", function () {
        confirmed = true;
        dialog.close();
        form.requestSubmit(deleteButton);
      });
    }
    refresh();
    // In select mode a click on a photo ticks it instead of opening its page.
    return function (tile) {
      if (!grid.classList.contains("selecting")) { return false; }
      var box = tile.querySelector('[data-role="select"]');
      box.checked = !box.checked;
      refresh();
      return true;
    };
  }

  // Older photos by cursor (GET /photos/grid?cursor=…, an HTML fragment) as the "Load older
  // photos" button comes into view; the page-number pager is then hidden (it is for no script).
  function infiniteScroll(grid) {
    var more = document.querySelector('[data-role="more"]');
    if (!more || !window.DOMParser) { return; }
    var button = more.querySelector('[data-role="more-button"]');
    var pager = document.querySelector("nav.pager");
    var loading = false;
    var observer = null;
    more.hidden = false;
    if (pager) { pager.hidden = true; }

    function load() {
      var url = button.getAttribute("data-url");
      if (loading || !url) { return; }
      loading = true;
      button.disabled = true;
      button.textContent = "Loading…";
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          page.querySelectorAll("li.tile").forEach(function (tile) {
            if (grid.querySelector('[data-photo-id="' + tile.getAttribute("data-photo-id") + '"]')) { return; }
            var adopted = document.importNode(tile, true);
            grid.appendChild(adopted);
            if (window.Photoshare && window.Photoshare.watchStatus) { window.Photoshare.watchStatus(adopted); }
          });
          var next = page.querySelector('[data-role="more-url"]');
          if (next) {
            button.setAttribute("data-url", next.getAttribute("href"));
            button.textContent = "Load older photos";
            if (observer) { observer.unobserve(more); observer.observe(more); }  // still in view: go on
          } else {
            more.remove();  // the end of the library
            if (observer) { observer.disconnect(); }
          }
        })
        .catch(function () { button.textContent = "Could not load more photos: try again"; })
        .then(function () { loading = false; button.disabled = false; });
    }

    button.addEventListener("click", load);
    if (window.IntersectionObserver) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) { load(); }
      }, { rootMargin: "600px 0px" });
      observer.observe(more);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.querySelector('[data-role="grid"]');
    if (!grid) { return; }
    var selecting = selectMode(grid);
    grid.addEventListener("click", function (event) {
      var tile = event.target.closest("li.tile");
      if (!tile) { return; }
      if (event.target.closest('[data-role="zoom"]')) {
        if (openLightbox(grid, tile)) { event.preventDefault(); }
        return;
      }
      if (event.target.closest(".tile-link") && selecting(tile)) { event.preventDefault(); }
    });
    infiniteScroll(grid);
  });
})();
