// Live caption status: every element with data-status-url whose data-caption-status is
// "pending" or "processing" polls GET /photos/<id>/status until the caption is done or
// failed, then shows it (caption text, status badge, image alt text) without a reload.
(function () {
  "use strict";

  var IN_PROGRESS = { pending: true, processing: true };
  var FIRST_DELAY_MS = 400;
  var MAX_DELAY_MS = 5000;

  function setText(root, role, text) {
    var node = root.querySelector('[data-role="' + role + '"]');
    if (node) { node.textContent = text; }
  }

  function render(root, state) {
    root.setAttribute("data-caption-status", state.caption_status);
    var badge = root.querySelector('[data-role="status"]');
    if (badge) {
      badge.textContent = state.caption_status;
      badge.className = "status status-" + state.caption_status;
    }
    if (state.caption) {
      setText(root, "caption", state.caption);
      var image = root.querySelector('[data-role="image"]');
      if (image) { image.alt = state.caption; }
    } else if (state.caption_status === "failed") {
      setText(root, "caption", "No caption.");
    }
    if (state.ai_caption) { setText(root, "ai-caption", state.ai_caption); }
    root.dispatchEvent(new CustomEvent("photoshare:status", { detail: state }));
    setText(root, "error", state.caption_status === "failed" ? (state.caption_error || "Captioning failed.") : "");
    var again = root.querySelector('[data-role="recaption"]');
    if (again) { again.disabled = !!IN_PROGRESS[state.caption_status]; }
  }

  function watch(root) {
    var url = root.getAttribute("data-status-url");
    var delay = FIRST_DELAY_MS;

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 404) { return null; }  // deleted meanwhile: stop
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (state) {
          if (!state) { return; }
          render(root, state);
          if (IN_PROGRESS[state.caption_status]) { schedule(); }
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_DELAY_MS);  // network hiccup: back off, keep trying
          schedule();
        });
    }

    function schedule() {
      window.setTimeout(poll, delay);
      delay = Math.min(Math.round(delay * 1.3), MAX_DELAY_MS);
    }

    schedule();
  }

  // Tiles added after load (uploads, the next page of the grid) are watched through this.
  window.Photoshare = window.Photoshare || {};
  window.Photoshare.watchStatus = function (root) {
    if (IN_PROGRESS[root.getAttribute("data-caption-status")]) { watch(root); }
  };
  // A form posted for its JSON answer (the photo page's caption, the share dialog): the
  // answer's body, or an Error with the server's message (else `fallback` and the status).
  window.Photoshare.postForm = function (form, fallback) {
    return fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                                headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            var error = body.error || body;
            throw new Error(error.message || fallback + " (HTTP " + response.status + ").");
          }
          return body;
        });
      });
  };

  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("[data-status-url]");
    for (var i = 0; i < nodes.length; i++) {
      if (IN_PROGRESS[nodes[i].getAttribute("data-caption-status")]) { watch(nodes[i]); }
    }
  });
})();

// Copy buttons (the share link on the photo page): <button data-copy-from="ID"> copies the
// value of the input with that id. Wired here because the CSP allows no inline script.
(function () {
  "use strict";

  function report(button, text) {
    var result = button.parentNode.querySelector('[data-role="copy-result"]');
    if (result) { result.textContent = text; }
  }

  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy-from"));
    if (!input) { return; }
    var fallback = function () {
      // Older browsers, or no clipboard permission: select the text for Ctrl+C.
      input.focus();
      input.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
      report(button, copied ? "Copied." : "Press Ctrl+C (⌘C) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value)
        .then(function () { report(button, "Copied."); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-copy-from]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  });
})();
