// The share dialog (photo and album pages): a new link is made without leaving the page;
// its address is shown once, beside a copy button (app.js wires [data-copy-from]), and the
// link joins the dialog's list with its revoke button. Without script the form posts and
// the answer is a page with the address.
(function () {
  "use strict";

  function init() {
    var dialog = document.querySelector("details.share-dialog");
    var form = dialog && dialog.querySelector('[data-role="share-form"]');
    if (!form || !window.fetch) { return; }
    var result = dialog.querySelector('[data-role="share-result"]');
    var problem = dialog.querySelector('[data-role="share-error"]');
    var list = dialog.querySelector('[data-role="share-links"]');

    function addLink(link) {
      var item = document.getElementById("share-link-template").content.firstElementChild.cloneNode(true);
      item.setAttribute("data-share-id", link.id);
      item.querySelector('[data-role="hint"]').textContent = "/s/" + link.token_hint + "…";
      var terms = [link.expires_at ? "expires " + link.expires_at.slice(0, 10) : "no expiry"];
      if (link.has_password) { terms.push("password"); }
      if (link.allow_download) { terms.push("download"); }
      item.querySelector('[data-role="terms"]').textContent = terms.join(" · ");
      item.querySelector("form").action = list.getAttribute("data-revoke-url").replace("0".repeat(24), link.id);
      list.insertBefore(item, list.firstChild);
      list.hidden = false;
      dialog.querySelector('[data-role="links-title"]').hidden = false;
      var badge = dialog.querySelector('[data-role="active-links"]');
      var active = list.querySelectorAll('[data-state="active"]').length;
      badge.textContent = active + (active === 1 ? " active link" : " active links");
      // Sharing a private photo or album makes it unlisted: show what is now stored.
      var privateChoice = dialog.querySelector('input[name="visibility"][value="private"]:checked');
      var unlisted = dialog.querySelector('input[name="visibility"][value="unlisted"]');
      if (privateChoice && unlisted) { unlisted.checked = true; }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      problem.hidden = true;
      window.Photoshare.postForm(form, "No link was made")
        .then(function (body) {
          var input = result.querySelector('[data-role="share-url"]');
          input.value = body.url;
          result.querySelector('[data-role="copy-result"]').textContent = "";
          result.hidden = false;
          addLink(body.link);
          form.reset();
          input.focus();
          input.select();
        })
        .catch(function (error) {
          problem.textContent = error.message;
          problem.hidden = false;
        })
        .then(function () { button.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
