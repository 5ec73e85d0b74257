// The photo page's caption controls without a reload: save your own caption, revert to
// the AI caption, or pick one of the model's other suggestions in one click. Each is a
// real form (it posts normally without script); here it is sent with fetch and the page
// updated from the JSON answer.
(function () {
  "use strict";

  function init() {
    var page = document.querySelector(".photo-page");
    if (!page || !window.fetch) { return; }
    var result = page.querySelector('[data-role="caption-result"]');
    var textarea = page.querySelector('[data-role="caption-form"] textarea[name="caption"]');

    function show(state) {
      page.querySelector('[data-role="caption"]').textContent = state.caption || "No caption.";
      if (state.caption) { page.querySelector('[data-role="image"]').alt = state.caption; }
      textarea.value = state.user_caption || "";
      page.querySelector('[data-role="revert-form"]').hidden = !(state.user_caption && state.ai_caption);
      var alternatives = page.querySelectorAll('[data-role="alternative"]');
      var offered = 0;
      alternatives.forEach(function (form) {
        var same = form.querySelector('input[name="caption"]').value === state.caption;
        form.hidden = same;  // never offer the caption already shown
        if (!same) { offered += 1; }
      });
      var box = page.querySelector('[data-role="alternatives"]');
      if (box) { box.hidden = offered === 0; }
    }

    function submit(form, button) {
      button.disabled = true;
      result.className = "small";
      result.textContent = "Saving…";
      window.Photoshare.postForm(form, "The caption was not saved")
        .then(function (state) {
          show(state);
          result.className = "small text-success-emphasis";
          result.textContent = state.user_caption ? "Caption saved." : "Back to the AI caption.";
        })
        .catch(function (error) {
          result.className = "small text-danger-emphasis";
          result.textContent = error.message;
        })
        .then(function () { button.disabled = false; });
    }

    page.querySelectorAll("form[data-inline-caption]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submit(form, event.submitter || form.querySelector('button[type="submit"]'));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
