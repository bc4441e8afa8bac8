// The book's explorers on a page without a kernel (see lmcore/widgets/base.py).
//
// Each explorer's static HTML holds plain controls (data-control="name"), slots
// (data-slot="name") and a JSON payload: {controls: [spec, ...], data: {...}} that Python
// computed when the book was built. views[name](data, values, positions) returns the HTML
// of each slot for the controls' current values, and may add
//   hide:   names of controls that do not apply now (they are hidden, not greyed out);
//   limits: {name: positions} for a slider whose range depends on another control.
// Nothing here fetches anything: the page works offline.
(function () {
  "use strict";

  var views = {};

  // -- formatting, as Python's format specs do it ------------------------------------------

  // Python's "g" for the magnitudes the explorers show: n significant digits, no trailing zeros
  function g(x, n) {
    if (x === 0) return "0";
    var e = Math.floor(Math.log10(Math.abs(x)));
    if (e < -4 || e >= n) {
      var parts = x.toExponential(n - 1).split("e");
      var mantissa = parts[0].indexOf(".") >= 0 ? parts[0].replace(/\.?0+$/, "") : parts[0];
      var exp = parseInt(parts[1], 10);
      return mantissa + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    }
    return String(Number(x.toPrecision(n)));
  }

  // a readout_format of ipywidgets ("d", ".2f", ".3g") applied to x
  function format(spec, x) {
    if (spec === "d") return String(Math.round(x));
    var m = /^\.(\d+)([fg])$/.exec(spec || "");
    if (!m) return String(x);
    return m[2] === "f" ? x.toFixed(+m[1]) : g(x, +m[1]);
  }

  function percent(x, digits) {
    return (x * 100).toFixed(digits) + "%";
  }

  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // -- small numerics ------------------------------------------------------------------------

  // softmax of xs over the entries where keep[i] (default: all); the others get 0
  function softmax(xs, keep) {
    var max = -Infinity;
    xs.forEach(function (x, i) {
      if ((!keep || keep[i]) && x > max) max = x;
    });
    var e = xs.map(function (x, i) {
      return !keep || keep[i] ? Math.exp(x - max) : 0;
    });
    var total = e.reduce(function (a, b) { return a + b; }, 0);
    return e.map(function (x) { return x / total; });
  }

  function entropyBits(ps) {
    var h = ps.reduce(function (sum, p) { return p > 0 ? sum - p * Math.log2(p) : sum; }, 0);
    return h + 0; // a one-hot distribution gives -0, which would print as "-0.00"
  }

  // -- drawing ---------------------------------------------------------------------------------

  // matplotlib's "Blues" colormap, sampled at 0, 1/8, ..., 1
  var BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];

  function blues(w) {
    var x = Math.min(Math.max(w, 0), 1) * (BLUES.length - 1);
    var i = Math.min(Math.floor(x), BLUES.length - 2);
    var t = x - i;
    var a = hexRgb(BLUES[i]), b = hexRgb(BLUES[i + 1]);
    return "rgb(" + [0, 1, 2].map(function (j) { return Math.round(a[j] + t * (b[j] - a[j])); }).join(",") + ")";
  }

  function hexRgb(hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  }

  // vertical bars, one per word: an SVG that scales to the width it is given
  function columnChart(words, probs, colors, title) {
    var w = 26, h = 130, top = 22, left = 34, bottom = 62;
    var width = left + w * words.length + 8, height = top + h + bottom;
    var out = ['<svg class="lm-chart" viewBox="0 0 ' + width + " " + height + '" role="img" aria-label="' +
      escapeHtml(title) + '"><text x="' + width / 2 + '" y="14" text-anchor="middle" class="lm-title">' +
      escapeHtml(title) + "</text>"];
    [0, 0.5, 1].forEach(function (t) {
      var y = top + h * (1 - t);
      out.push('<line x1="' + left + '" x2="' + (width - 8) + '" y1="' + y + '" y2="' + y + '" class="lm-grid"/>' +
        '<text x="' + (left - 4) + '" y="' + (y + 4) + '" text-anchor="end">' + t + "</text>");
    });
    words.forEach(function (word, i) {
      var x = left + i * w + 3, bar = h * probs[i];
      out.push('<rect x="' + x + '" y="' + (top + h - bar) + '" width="' + (w - 6) + '" height="' + bar +
        '" fill="' + colors[i] + '" data-word="' + escapeHtml(word) + '" data-p="' + probs[i] + '"><title>' +
        escapeHtml(word) + ": " + probs[i].toFixed(3) + "</title></rect>" +
        '<text transform="translate(' + (x + (w - 6) / 2) + "," + (top + h + 8) + ') rotate(-60)" text-anchor="end">' +
        escapeHtml(word) + "</text>");
    });
    out.push("</svg>");
    return out.join("");
  }

  // horizontal bars, most likely word on top
  function barChart(words, probs, colors, title, xlabel) {
    var rowH = 18, left = 96, top = 22, plot = 300, bottom = 34;
    var width = left + plot + 50, height = top + rowH * words.length + bottom;
    var xmax = Math.max(0.05, 1.1 * Math.max.apply(null, probs.concat([0])));
    var out = ['<svg class="lm-chart" viewBox="0 0 ' + width + " " + height + '" role="img" aria-label="' +
      escapeHtml(title) + '"><text x="' + width / 2 + '" y="14" text-anchor="middle" class="lm-title">' +
      escapeHtml(title) + "</text>"];
    words.forEach(function (word, i) {
      var y = top + i * rowH, bar = plot * probs[i] / xmax;
      out.push('<text x="' + (left - 4) + '" y="' + (y + 13) + '" text-anchor="end">' + escapeHtml(word) + "</text>" +
        '<rect x="' + left + '" y="' + (y + 2) + '" width="' + bar + '" height="' + (rowH - 4) + '" fill="' +
        colors[i] + '" data-word="' + escapeHtml(word) + '" data-p="' + probs[i] + '"></rect>' +
        '<text x="' + (left + bar + 3) + '" y="' + (y + 13) + '">' + probs[i].toFixed(3) + "</text>");
    });
    out.push('<text x="' + (left + plot / 2) + '" y="' + (height - 8) + '" text-anchor="middle">' +
      escapeHtml(xlabel) + "</text></svg>");
    return out.join("");
  }

  // an attention map as a table: rows are queries, columns keys; masked cells grey
  function heatmap(tokens, weights, masked, title) {
    var numbers = tokens.length <= 12;
    var out = ['<div class="lm-title">' + escapeHtml(title) + '</div><div class="lm-scroll"><table class="lm-heatmap">' +
      '<tr><th class="lm-axis">query \u2193 key \u2192</th>'];
    tokens.forEach(function (t) { out.push('<th class="lm-key">' + escapeHtml(t) + "</th>"); });
    out.push("</tr>");
    weights.forEach(function (rowW, i) {
      out.push('<tr><th class="lm-query">' + escapeHtml(tokens[i]) + "</th>");
      rowW.forEach(function (w, j) {
        if (masked[i][j]) {
          out.push('<td class="lm-masked" data-w="masked"></td>');
        } else {
          var color = w > 0.6 ? "white" : "black";
          out.push('<td data-w="' + w + '" style="background:' + blues(w) + ";color:" + color + '">' +
            (numbers ? w.toFixed(2) : "") + "</td>");
        }
      });
      out.push("</tr>");
    });
    out.push("</table></div>");
    return out.join("");
  }

  // -- chapter 9: KV-cache memory ----------------------------------------------------------------

  function humanBytes(n) {
    var value = n, units = ["B", "KiB", "MiB", "GiB", "TiB"], unit = "B";
    for (var i = 0; i < units.length; i++) {
      unit = units[i];
      if (value < 1024 || unit === "TiB") break;
      value /= 1024;
    }
    return unit === "B" ? n + " B" : value.toFixed(2) + " " + unit;
  }

  views.kv_cache = function (data, v) {
    var size = data.sizes[v.size], dtype = data.dtypes[v.dtype];
    var b = v.batch, n = v.seq_len, spec = data.batch;
    if (!Number.isInteger(b) || b < spec.min || b > spec.max) {
      return { result: '<span class="lm-error">The batch must be a whole number from ' + spec.min + " to " +
        spec.max + ".</span>" };
    }
    var perToken = size.per_token[v.dtype]; // kv_cache_bytes(config, 1, 1, bytes), from Python
    var nbytes = perToken * b * n;
    return {
      result: "2 (K and V) &times; " + size.n_layer + " layers &times; " + b + " sequences &times; " +
        size.n_head + " heads &times; " + n + " positions &times; " + size.head_dim + " dims &times; " +
        dtype.bytes + " bytes = <b>" + thousands(nbytes) + " bytes (" + humanBytes(nbytes) + ")</b>; " +
        humanBytes(perToken) + " per token of one sequence.",
    };
  };

  // -- chapter 9: temperature, top-k, top-p -----------------------------------------------------

  views.sampling = function (data, v, pos) {
    var vocab = data.vocab, V = vocab.length;
    var t = v.temperature, k = v.top_k, p = v.top_p;
    // which tokens survive: computed in Python by lmcore.sampling for every grid point
    var mask = data.kept[(pos.temperature * data.shape[1] + pos.top_k) * data.shape[2] + pos.top_p];
    var keep = vocab.map(function (_, i) { return ((mask >>> i) & 1) === 1; });
    var before = softmax(data.logits);
    var after = softmax(data.logits.map(function (x) { return x / t; }), keep);
    var best = 0;
    after.forEach(function (q, i) { if (q > after[best]) best = i; });
    var kept = keep.filter(Boolean).length;
    var title = 'next token after "' + data.prompt + '": temperature ' + g(t, 3) + ", top-k " +
      (k >= V ? "off" : k) + ", top-p " + (p >= 1 ? "off" : g(p, 2));
    var blue = vocab.map(function () { return "#1f77b4"; });
    var orange = keep.map(function (x) { return x ? "#ff7f0e" : "#cccccc"; });
    return {
      image: '<div class="lm-title">' + escapeHtml(title) + '</div><div class="lm-charts">' +
        columnChart(vocab, before, blue, "model: softmax(logits)") +
        columnChart(vocab, after, orange, "after the transforms") + "</div>",
      caption: kept + " of " + V + " tokens can be sampled; most likely: <b>" + escapeHtml(vocab[best]) + "</b> (" +
        percent(after[best], 0) + "); entropy " + entropyBits(before).toFixed(2) + " bits before, " +
        entropyBits(after).toFixed(2) + " bits after.",
    };
  };

  // -- chapter 7: toy attention heads ----------------------------------------------------------------

  views.attention = function (data, v) {
    var preset = data.presets[v.text], head = preset.heads[v.head], info = data.heads[v.head];
    var q = head.q, k = head.k, T = preset.tokens.length, d = q[0].length;
    var masked = [], weights = [];
    for (var i = 0; i < T; i++) {
      var scores = [], keep = [], row = [];
      for (var j = 0; j < T; j++) {
        var s = 0;
        for (var c = 0; c < d; c++) s += v.sharpness * q[i][c] * k[j][c];
        scores.push(s / Math.sqrt(d)); // lmcore.attention.attention_weights: q k^T / sqrt(d_k)
        keep.push(!v.causal || j <= i);
        row.push(!keep[j]);
      }
      weights.push(softmax(scores, keep));
      masked.push(row);
    }
    var title = "head " + v.head + ": " + info.name + ", sharpness " + g(v.sharpness, 3) + ", " +
      (v.causal ? "causal mask" : "no mask");
    var note = preset.truncated ? " Only the first " + data.max_tokens + " tokens are shown." : "";
    return {
      image: heatmap(preset.tokens, weights, masked, title),
      caption: "<b>" + escapeHtml(info.name) + "</b>: " + escapeHtml(info.explanation) + "." + note,
    };
  };

  // -- chapter 3: BPE, one merge at a time ------------------------------------------------------------

  views.bpe = function (data, v) {
    var preset = data.presets[v.text];
    var limits = { step: preset.states.length };
    var state = preset.states[Math.min(v.step, preset.states.length - 1)]; // every state rendered by Python
    return Object.assign({ limits: limits }, state);
  };

  // -- chapter 2: smoothing -----------------------------------------------------------------------------

  views.smoothing = function (data, v, pos) {
    var method = data.methods[v.method], parameter = data.parameter[method];
    var sliders = Object.keys(data.parameter).map(function (m) { return data.parameter[m]; });
    var hide = sliders.filter(function (name) { return name && name !== parameter; });
    var states = data.states[method];
    var state = states[parameter ? pos[parameter] : 0][v.context]; // Python's numbers for this setting
    if (!state.bars) return { hide: hide, image: "", caption: state.caption };
    var words = state.bars.map(function (b) { return b[0]; });
    var probs = state.bars.map(function (b) { return b[1]; });
    var colors = state.bars.map(function (b) { return b[2] ? "#ff7f0e" : "#1f77b4"; });
    return {
      hide: hide,
      image: barChart(words, probs, colors, state.title, "P(word | context)   (orange: never seen after this context)"),
      caption: state.caption,
    };
  };

  // -- the runtime -------------------------------------------------------------------------------------

  function read(root, specs) {
    var values = {}, positions = {};
    specs.forEach(function (spec) {
      var box = root.querySelector('[data-control="' + spec.name + '"]');
      var input = box.querySelector("input, select");
      if (spec.kind === "range") {
        var i = parseInt(input.value, 10);
        var x = Number((spec.min + i * spec.step).toFixed(10)); // as grid_value in base.py
        positions[spec.name] = i;
        values[spec.name] = spec.log ? Math.pow(spec.base, x) : x;
        var readout = box.querySelector("output");
        if (readout) readout.textContent = format(spec.format, values[spec.name]);
      } else if (spec.kind === "select") {
        values[spec.name] = positions[spec.name] = parseInt(input.value, 10);
      } else if (spec.kind === "checkbox") {
        values[spec.name] = input.checked;
      } else {
        values[spec.name] = input.value.trim() === "" ? NaN : Number(input.value);
      }
    });
    return { values: values, positions: positions };
  }

  function wire(root) {
    if (root.dataset.wired) return;
    root.dataset.wired = "1";
    var payload = JSON.parse(root.querySelector("script.lm-data").textContent);
    if (!views[root.dataset.view]) throw new Error("explorers.js has no view named " + root.dataset.view);
    var specs = payload.controls;

    function update() {
      var view = views[root.dataset.view]; // looked up each time: a test may swap in a wrong one
      var state = read(root, specs);
      var out = view(payload.data, state.values, state.positions);
      if (out.limits) {
        var moved = false;
        Object.keys(out.limits).forEach(function (name) {
          var input = root.querySelector('[data-control="' + name + '"] input');
          var last = out.limits[name] - 1;
          if (+input.max !== last) input.max = String(last);
          if (+input.value > last) { input.value = String(last); moved = true; }
        });
        if (moved) {
          state = read(root, specs);
          out = view(payload.data, state.values, state.positions);
        }
      }
      specs.forEach(function (spec) {
        var box = root.querySelector('[data-control="' + spec.name + '"]');
        box.hidden = (out.hide || []).indexOf(spec.name) >= 0;
      });
      Object.keys(out).forEach(function (slot) {
        if (slot === "hide" || slot === "limits") return;
        var el = root.querySelector('[data-slot="' + slot + '"]');
        if (el) el.innerHTML = out[slot];
      });
      root.dataset.updates = String((+root.dataset.updates || 0) + 1); // for tests: a redraw happened
    }

    root.querySelectorAll("input, select").forEach(function (input) {
      input.addEventListener("input", update);
      input.addEventListener("change", update);
    });
    update();
  }

  function wireAll() {
    document.querySelectorAll(".lm-explorer").forEach(function (root) {
      try {
        wire(root);
      } catch (err) {
        root.insertAdjacentHTML("afterbegin", '<p class="lm-error">This explorer could not start: ' +
          escapeHtml(err.message) + "</p>");
        throw err;
      }
    });
  }

  window.lmExplorers = { views: views, wire: wire, format: format, g: g, humanBytes: humanBytes };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wireAll);
  else wireAll();
})();
