// "Why this caption": pointing at (or focusing) a word of the AI caption lays that word's
// attention map over the photo. The model looked at a 7x7 grid of image regions for each
// word; the grid is upsampled bilinearly (region centres as sample points), coloured with
// a magma-like scale and drawn on a canvas over the image: a dark veil where the model did
// not look, a warm glow where it did.
(function () {
  "use strict";

  var STOPS = [  // t, r, g, b: magma-like, dark violet to pale yellow
    [0.0, 12, 8, 38], [0.3, 90, 22, 120], [0.55, 190, 55, 115], [0.8, 250, 140, 90], [1.0, 252, 240, 180]];
  var STEPS = 96;  // the longer side of the upsampled map; the canvas smooths the rest

  function colour(t) {
    for (var i = 1; i < STOPS.length; i++) {
      if (t <= STOPS[i][0]) {
        var a = STOPS[i - 1], b = STOPS[i], f = (t - a[0]) / (b[0] - a[0]);
        return [a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])];
      }
    }
    return STOPS[STOPS.length - 1].slice(1);
  }

  function normalised(weights) {
    var flat = [].concat.apply([], weights);
    var low = Math.min.apply(null, flat), high = Math.max.apply(null, flat);
    var span = high - low || 1;
    return weights.map(function (row) { return row.map(function (v) { return (v - low) / span; }); });
  }

  // Bilinear value at (u, v) in grid units, region centres at integer positions.
  function sample(grid, u, v) {
    var rows = grid.length, cols = grid[0].length;
    u = Math.max(0, Math.min(cols - 1, u));
    v = Math.max(0, Math.min(rows - 1, v));
    var x0 = Math.floor(u), y0 = Math.floor(v);
    var x1 = Math.min(cols - 1, x0 + 1), y1 = Math.min(rows - 1, y0 + 1);
    var fx = u - x0, fy = v - y0;
    var top = grid[y0][x0] * (1 - fx) + grid[y0][x1] * fx;
    var bottom = grid[y1][x0] * (1 - fx) + grid[y1][x1] * fx;
    return top * (1 - fy) + bottom * fy;
  }

  function heatMap(weights, aspect) {
    var grid = normalised(weights);
    var width = aspect >= 1 ? STEPS : Math.max(8, Math.round(STEPS * aspect));
    var height = aspect >= 1 ? Math.max(8, Math.round(STEPS / aspect)) : STEPS;
    var map = document.createElement("canvas");
    map.width = width;
    map.height = height;
    var context = map.getContext("2d");
    var pixels = context.createImageData(width, height);
    for (var y = 0; y < height; y++) {
      for (var x = 0; x < width; x++) {
        var t = sample(grid, (x + 0.5) / width * grid[0].length - 0.5, (y + 0.5) / height * grid.length - 0.5);
        t = Math.pow(t, 0.8);
        var rgb = colour(t), at = 4 * (y * width + x);
        pixels.data[at] = rgb[0];
        pixels.data[at + 1] = rgb[1];
        pixels.data[at + 2] = rgb[2];
        pixels.data[at + 3] = Math.round(255 * (0.72 - 0.34 * t));
      }
    }
    context.putImageData(pixels, 0, 0);
    return map;
  }

  function init() {
    var stage = document.querySelector('[data-role="attention-stage"]');
    var words = document.querySelectorAll(".attention-word");
    if (!stage || !words.length) { return; }
    var image = stage.querySelector("img");
    var canvas = stage.querySelector("canvas");
    var status = document.querySelector('[data-role="attention-status"]');
    var current = null;

    function draw(button) {
      var ratio = window.devicePixelRatio || 1;
      var width = image.clientWidth, height = image.clientHeight;
      if (!width || !height) { return; }
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      var context = canvas.getContext("2d");
      context.imageSmoothingEnabled = true;
      context.imageSmoothingQuality = "high";
      var map = heatMap(JSON.parse(button.getAttribute("data-weights")), width / height);
      context.clearRect(0, 0, canvas.width, canvas.height);
      context.drawImage(map, 0, 0, canvas.width, canvas.height);
    }

    function show(button) {
      if (current) { current.classList.remove("is-active"); }
      current = button;
      button.classList.add("is-active");
      draw(button);
      canvas.classList.add("is-visible");
      stage.setAttribute("data-attention-word", button.textContent);
      if (status) { status.textContent = "Showing where the model looked for “" + button.textContent + "”."; }
    }

    function hide(button) {
      if (current !== button) { return; }
      if (document.activeElement && document.activeElement.classList.contains("attention-word")) {
        show(document.activeElement);  // the pointer left, but a word still has the focus
        return;
      }
      button.classList.remove("is-active");
      current = null;
      canvas.classList.remove("is-visible");
      stage.removeAttribute("data-attention-word");
      if (status) { status.textContent = ""; }
    }

    words.forEach(function (button) {
      button.addEventListener("mouseenter", function () { show(button); });
      button.addEventListener("focus", function () { show(button); });
      button.addEventListener("click", function () { show(button); });  // touch screens
      button.addEventListener("mouseleave", function () { hide(button); });
      button.addEventListener("blur", function () { window.setTimeout(function () { hide(button); }, 0); });
      button.addEventListener("keydown", function (event) {
        if (event.key === "Escape") { button.blur(); }
      });
    });
    window.addEventListener("resize", function () { if (current) { draw(current); } });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
