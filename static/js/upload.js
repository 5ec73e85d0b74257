// Dashboard uploads: a drop zone and the file picker send each file in its own XHR to
// POST /upload (JSON mode), so every file has its own progress bar, cancel button and
// error. A new photo's tile goes into the grid at once; app.js then polls its caption.
// A duplicate can be sent again with keep_both=1 ("Keep both"). Without script, the form
// still posts normally.
(function () {
  "use strict";

  var PARALLEL = 2;  // two uploads at a time: each still shows its own progress

  function init() {
    var form = document.querySelector('[data-role="upload-form"]');
    if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
    var input = form.querySelector('input[name="images"]');
    var zone = form.querySelector('[data-role="drop-zone"]');
    var list = document.querySelector('[data-role="upload-list"]');
    var itemTemplate = document.getElementById("upload-item-template");
    var csrf = form.querySelector('input[name="csrf_token"]').value;
    var queue = [];
    var running = 0;

    form.querySelector('[data-role="upload-submit"]').hidden = true;  // files go as soon as chosen
    input.required = false;

    function part(item, role) { return item.node.querySelector('[data-role="' + role + '"]'); }

    function setState(item, text, kind) {
      var state = part(item, "upload-state");
      state.textContent = text;
      item.node.setAttribute("data-upload-state", kind);
    }

    function finish(item, text, kind) {
      item.xhr = null;
      setState(item, text, kind);
      part(item, "upload-cancel").textContent = "Dismiss";
      running -= 1;
      next();
    }

    function add(file) {
      var node = itemTemplate.content.firstElementChild.cloneNode(true);
      var item = { file: file, node: node, keepBoth: false, xhr: null };
      part(item, "upload-name").textContent = file.name;
      part(item, "upload-name").title = file.name;
      part(item, "upload-progress").setAttribute("aria-label", "Upload of " + file.name);
      part(item, "upload-cancel").addEventListener("click", function () { cancel(item); });
      part(item, "keep-both").addEventListener("click", function () {
        item.keepBoth = true;
        part(item, "keep-both").hidden = true;
        part(item, "upload-cancel").textContent = "Cancel";
        enqueue(item);
      });
      list.appendChild(node);
      enqueue(item);
    }

    function enqueue(item) {
      part(item, "upload-progress").value = 0;
      setState(item, "Waiting…", "waiting");
      queue.push(item);
      next();
    }

    function cancel(item) {
      var waiting = queue.indexOf(item);
      if (item.xhr) {
        item.xhr.abort();  // onabort reports it
      } else if (waiting >= 0) {
        queue.splice(waiting, 1);
        setState(item, "Cancelled.", "cancelled");
        part(item, "upload-cancel").textContent = "Dismiss";
      } else {
        item.node.remove();  // finished: "Dismiss"
      }
    }

    function next() {
      while (running < PARALLEL && queue.length) {
        running += 1;
        send(queue.shift());
      }
    }

    function send(item) {
      var data = new FormData();
      data.append("csrf_token", csrf);
      data.append("images", item.file, item.file.name);
      if (item.keepBoth) { data.append("keep_both", "1"); }
      var xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          part(item, "upload-progress").value = Math.round(100 * event.loaded / event.total);
        }
      });
      xhr.addEventListener("load", function () { answered(item, xhr); });
      xhr.addEventListener("error", function () {
        finish(item, "Network error: the file was not sent. Try again.", "error");
      });
      xhr.addEventListener("abort", function () { finish(item, "Cancelled.", "cancelled"); });
      setState(item, "Uploading…", "uploading");
      xhr.send(data);
    }

    function answered(item, xhr) {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (error) { body = null; }
      if (xhr.status === 201 && body && body.photos && body.photos.length) {
        part(item, "upload-progress").value = 100;
        finish(item, body.queued === false ? "Uploaded; captioning is delayed (queue unavailable)."
          : "Uploaded: captioning…", "done");
        body.photos.forEach(function (photo) {
          var tile = addTile(photo);
          if (!tile) { return; }
          tile.addEventListener("photoshare:status", function (event) {
            var state = event.detail;
            if (state.caption_status === "done") { setState(item, "Captioned: “" + state.caption + "”", "done"); }
            if (state.caption_status === "failed") { setState(item, "Uploaded, but not captioned.", "done"); }
          });
        });
        return;
      }
      var rejected = body && body.rejected && body.rejected[0];
      if (rejected) {
        finish(item, rejected.message, rejected.code === "duplicate" ? "duplicate" : "error");
        if (rejected.code === "duplicate") {
          part(item, "keep-both").hidden = false;
          if (rejected.existing_id) {
            var link = document.createElement("a");
            link.href = "/photos/" + encodeURIComponent(rejected.existing_id);
            link.textContent = "See it";
            link.className = "ms-1";
            part(item, "upload-state").appendChild(document.createTextNode(" "));
            part(item, "upload-state").appendChild(link);
          }
        }
        return;
      }
      var message = body && (body.message || (body.error && body.error.message));
      finish(item, message || "Upload failed (HTTP " + xhr.status + "). Try again.", "error");
    }

    function addTile(photo) {
      var grid = document.querySelector('[data-role="grid"]');
      var template = document.getElementById("tile-template");
      if (!grid || !template || grid.querySelector('[data-photo-id="' + photo.id + '"]')) { return null; }
      var tile = template.content.firstElementChild.cloneNode(true);
      tile.setAttribute("data-photo-id", photo.id);
      tile.setAttribute("data-status-url", photo.status_url);
      tile.setAttribute("data-display-url", photo.url + "/image/display");
      tile.querySelector(".tile-link").href = photo.url;
      var image = tile.querySelector('[data-role="image"]');
      image.src = photo.thumbnail_url;
      image.alt = "Photo " + photo.filename + " (caption pending)";
      var select = tile.querySelector('[data-role="select"]');
      select.value = photo.id;
      select.setAttribute("aria-label", "Select " + photo.filename);
      tile.querySelector('[data-role="zoom"]').setAttribute("aria-label", "View " + photo.filename + " larger");
      grid.insertBefore(tile, grid.firstChild);
      var count = document.querySelector('[data-role="photo-count"]');
      if (count) {
        var n = Number(count.getAttribute("data-count")) + 1;
        count.setAttribute("data-count", String(n));
        count.textContent = n + (n === 1 ? " photo" : " photos");
      }
      var empty = document.querySelector('[data-role="empty"]');
      if (empty) { empty.hidden = true; }
      if (window.Photoshare && window.Photoshare.watchStatus) { window.Photoshare.watchStatus(tile); }
      return tile;
    }

    function addAll(files) {
      for (var i = 0; i < files.length; i++) { add(files[i]); }
    }

    input.addEventListener("change", function () {
      addAll(input.files);
      input.value = "";  // the same file can be chosen again
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      addAll(input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files) { addAll(event.dataTransfer.files); }
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
