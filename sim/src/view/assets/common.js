"use strict";
// Orrery's offline viewer, shared helpers: time formatting, a zoomable time window, the time
// axis, canvases sized for the screen's pixel ratio, DOM building and copying text.
// Everything the views need is in this file and its siblings: no network, no libraries.

const O = {};

// A duration in nanoseconds as the trace writes durations: 150ms, 1.5s, 20us, 0s.
O.formatDuration = function (ns) {
  const a = Math.abs(ns);
  if (a === 0) return "0s";
  const units = [[1e9, "s"], [1e6, "ms"], [1e3, "us"], [1, "ns"]];
  for (const [scale, unit] of units) {
    if (a >= scale) return parseFloat((ns / scale).toPrecision(6)) + unit;
  }
  return parseFloat(ns.toPrecision(3)) + "ns";
};

// An instant in nanoseconds as the trace's first column: seconds with nine decimals.
O.formatInstant = function (ns) {
  const whole = Math.floor(ns / 1e9);
  const rest = Math.round(ns - whole * 1e9);
  return whole + "." + String(rest).padStart(9, "0");
};

// Builds an element: O.el("div", {class: "x", onclick: f}, "text", child, ...).
O.el = function (tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
};

// The first index in the sorted array `values` (or the index list `order` into it) whose
// value is >= `target`.
O.lowerBound = function (values, target, order) {
  let lo = 0;
  let hi = order ? order.length : values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const value = order ? values[order[mid]] : values[mid];
    if (value < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

// A window [t0, t1] of virtual time shown across `width` pixels starting at `x0`. Zoom
// and pan keep it within the run (plus a little margin) and at least 20 ns wide.
O.TimeWindow = class {
  constructor(end) {
    this.end = Math.max(end, 1);
    this.x0 = 0;
    this.width = 1;
    this.fit();
  }
  fit() {
    const margin = this.end * 0.01;
    this.t0 = -margin;
    this.t1 = this.end + margin;
  }
  x(t) { return this.x0 + (t - this.t0) / (this.t1 - this.t0) * this.width; }
  t(x) { return this.t0 + (x - this.x0) / this.width * (this.t1 - this.t0); }
  nsPerPixel() { return (this.t1 - this.t0) / this.width; }
  set(t0, t1) {
    const margin = this.end * 0.05;
    let span = Math.max(t1 - t0, 20);
    span = Math.min(span, this.end + 2 * margin);
    let start = Math.max(t0, -margin);
    start = Math.min(start, this.end + margin - span);
    this.t0 = start;
    this.t1 = start + span;
  }
  zoom(factor, anchor) {
    const a = anchor === undefined ? (this.t0 + this.t1) / 2 : anchor;
    this.set(a - (a - this.t0) * factor, a + (this.t1 - a) * factor);
  }
  pan(dt) { this.set(this.t0 + dt, this.t1 + dt); }
  center(t, span) {
    const s = span === undefined ? this.t1 - this.t0 : span;
    this.set(t - s / 2, t + s / 2);
  }
};

// Tick marks for the window: a 1-2-5 step giving about one label per `spacing` pixels,
// labelled in seconds with as many decimals as the step needs.
O.ticks = function (tw, spacing) {
  const raw = tw.nsPerPixel() * spacing;
  const power = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const decimals = Math.max(0, Math.min(9, 9 - Math.floor(Math.log10(step))));
  const ticks = [];
  const first = Math.ceil(tw.t0 / step) * step;
  for (let t = first; t <= tw.t1 && ticks.length < 500; t += step) {
    if (t < 0) continue;
    ticks.push({ t, label: (t / 1e9).toFixed(decimals) + "s" });
  }
  return ticks;
};

// Sizes a canvas to `width` x `height` CSS pixels, sharp on high-density screens; returns
// its context with CSS-pixel coordinates.
O.sizeCanvas = function (canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
};

// Draws the axis band at the top: tick labels, and faint grid lines down to `bottom`.
O.drawAxis = function (context, tw, left, right, height, bottom) {
  context.save();
  context.fillStyle = "#f3f5f9";
  context.fillRect(left, 0, right - left, height);
  context.font = "11px system-ui, sans-serif";
  context.textBaseline = "middle";
  for (const tick of O.ticks(tw, 110)) {
    const x = Math.round(tw.x(tick.t)) + 0.5;
    if (x < left || x > right) continue;
    context.strokeStyle = "#e4e8ef";
    context.beginPath();
    context.moveTo(x, height);
    context.lineTo(x, bottom);
    context.stroke();
    context.strokeStyle = "#9aa3b5";
    context.beginPath();
    context.moveTo(x, height - 6);
    context.lineTo(x, height);
    context.stroke();
    context.fillStyle = "#4a5368";
    context.fillText(tick.label, x + 3, height / 2);
  }
  context.restore();
};

// Text cut to fit `width` pixels with an ellipsis.
O.fitText = function (context, text, width) {
  if (width <= 8) return "";
  if (context.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (context.measureText(text.slice(0, mid) + "…").width <= width) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? "" : text.slice(0, lo) + "…";
};

// Copies the textarea's text: the clipboard API where the page may use it, else the
// selection and the copy command (file:// pages are not always allowed the former).
O.copyText = function (textarea, button) {
  const done = (ok) => {
    const label = button.textContent;
    button.textContent = ok ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = label; }, 1200);
  };
  const fallback = () => {
    textarea.focus();
    textarea.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
    done(ok);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(textarea.value).then(() => done(true), fallback);
  } else {
    fallback();
  }
};

// Thousands separators: 40,984.
O.count = function (n) { return n.toLocaleString("en-US"); };
