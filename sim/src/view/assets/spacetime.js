// The space-time view: one lane per node, virtual time rightwards, messages as arrows from
// send to delivery, spans for down / paused / partitioned / clogged, markers for phases and
// the failing check. Drawn on a canvas, only what is in the window: routine events collapse
// into per-pixel density when a lane has more of them than pixels to show them, while faults,
// failures and workload events stay drawn one by one at every zoom.

O.CLASS_COLOURS = {
  message: "#3b5ba9", network: "#b03a2e", fault: "#d9480f", disk: "#8a8f98",
  engine: "#6b7a90", phase: "#5b6cd6", failure: "#c62828", workload: "#0b8a7a",
};
O.ROUTINE_CLASSES = ["message", "network", "engine", "disk"];
O.MESSAGE_STYLES = {
  delivered: { rgb: "59,91,169", dash: [], width: 1 },
  duplicate: { rgb: "136,74,196", dash: [5, 3], width: 1.3 },
  corrupted: { rgb: "230,119,0", dash: [], width: 2.2 },
  dropped: { rgb: "198,40,40", dash: [], width: 1.3, cross: true },
  lost: { rgb: "198,40,40", dash: [2, 2], width: 1.3, cross: true, stub: true },
  rejected: { rgb: "120,20,20", dash: [2, 2], width: 1.3, cross: true, stub: true },
};
O.SPAN_RGB = { down: "80,84,96", paused: "199,124,2", partition: "120,70,190", clog: "0,128,128" };

const LABEL_WIDTH = 128;
const AXIS_HEIGHT = 24;
const LANE_HEIGHT_MIN = 22;
const LANE_HEIGHT_MAX = 64;
// Arrows in the window up to which each is drawn in full, then faint (see drawMessages).
const ARROWS_DETAILED_MAX = 1500;
const ARROWS_FAINT_MAX = 5000;
// Range selections list at most this many lines (the rest are counted).
const SELECTION_LINES_MAX = 20000;

O.SpaceTimeView = class {
  constructor(root, data) {
    this.data = data;
    this.index();
    this.window = new O.TimeWindow(data.time_end);
    this.selected = -1;
    this.selectedMarker = null;
    this.range = null;
    this.showArrows = true;
    this.build(root);
  }

  // Typed arrays and per-lane lists, so that every draw touches only the window.
  index() {
    const data = this.data;
    const events = data.events;
    this.n = events.t.length;
    this.t = Float64Array.from(events.t);
    this.laneOf = Uint32Array.from(events.lane);
    this.kindOf = Uint32Array.from(events.kind);
    this.kindOn = data.kinds.map(() => true);
    this.laneOn = data.lanes.map(() => true);
    const perLane = new Uint32Array(data.lanes.length);
    for (let i = 0; i < this.n; i++) perLane[this.laneOf[i]]++;
    this.byLane = Array.from(perLane, (count) => new Uint32Array(count));
    const filled = new Uint32Array(data.lanes.length);
    for (let i = 0; i < this.n; i++) {
      const lane = this.laneOf[i];
      this.byLane[lane][filled[lane]++] = i;
    }
    const messages = data.messages;
    this.m = messages.end.length;
    this.mStart = new Float64Array(this.m);
    this.mEnd = new Float64Array(this.m);
    this.maxFlight = 0;
    this.messagesOf = new Map();
    const link = (event, message) => {
      if (!this.messagesOf.has(event)) this.messagesOf.set(event, []);
      this.messagesOf.get(event).push(message);
    };
    for (let k = 0; k < this.m; k++) {
      const end = messages.end[k];
      const send = messages.send[k];
      this.mEnd[k] = this.t[end];
      this.mStart[k] = send === null ? this.t[end] : this.t[send];
      this.maxFlight = Math.max(this.maxFlight, this.mEnd[k] - this.mStart[k]);
      link(end, k);
      if (send !== null && send !== end) link(send, k);
    }
    this.stateOf = messages.state.map((code) => data.message_states[code]);
    this.markerOf = new Map();
    for (const marker of data.markers) {
      if (marker.event !== null) this.markerOf.set(marker.event, marker);
    }
    this.failure = data.markers.find((marker) => marker.class === "failure") || null;
  }

  build(root) {
    const data = this.data;
    this.root = root;
    root.classList.add("spacetime");
    root.tabIndex = 0;
    const button = (text, title, onclick, extra) =>
      O.el("button", Object.assign({ title, onclick }, extra || {}), text);
    this.readout = O.el("span", { class: "readout" });
    this.arrowsBox = O.el("input", { type: "checkbox", checked: true,
      onchange: () => { this.showArrows = this.arrowsBox.checked; this.draw(); } });
    const toolbar = O.el("div", { class: "toolbar" },
      button("Fit", "show the whole run (f)", () => { this.window.fit(); this.draw(); }),
      button("−", "zoom out (-)", () => { this.window.zoom(2); this.draw(); }),
      button("+", "zoom in (+)", () => { this.window.zoom(0.5); this.draw(); }),
      this.failure && button("✖ Failure", "go to the failing check", () => this.goToFailure(),
        { class: "failure" }),
      O.el("label", { title: "draw messages as arrows" }, this.arrowsBox, "arrows"),
      this.readout,
      O.el("span", { class: "hint" },
        "wheel: zoom · drag: pan · shift+drag: select a time range · click: details · ←/→: step"));
    this.filters = O.el("aside", { class: "filters" });
    this.overview = O.el("canvas", { class: "overview", title: "the whole run: click to move there" });
    this.canvas = O.el("canvas", { class: "main", "data-role": "spacetime-canvas" });
    this.scroller = O.el("div", { class: "scroller" }, this.canvas);
    this.details = O.el("div", { class: "details", "data-role": "details" });
    this.selectionNote = O.el("div", { class: "note" });
    this.selectionText = O.el("textarea", { readonly: true, spellcheck: "false",
      "data-role": "selection-text", "aria-label": "trace lines of the selection" });
    const copy = O.el("button", { title: "copy these lines" }, "Copy");
    copy.addEventListener("click", () => O.copyText(this.selectionText, copy));
    const side = O.el("aside", { class: "side" },
      O.el("h3", {}, "Details"), this.details,
      O.el("div", { class: "selection" },
        O.el("h3", {}, "Trace lines", copy), this.selectionNote, this.selectionText));
    this.stats = O.el("div", { class: "stats", "data-role": "stats" });
    root.append(toolbar,
      O.el("div", { class: "body" }, this.filters,
        O.el("div", { class: "canvas-column" }, this.overview, this.scroller, this.legend()),
        side),
      this.stats);
    this.buildFilters();
    this.showDetails();
    this.attach();
  }

  legend() {
    const item = (text, style) => O.el("span", {}, O.el("i", { style }), text);
    const box = (text, rgb) =>
      O.el("span", {}, O.el("i", { class: "box", style: `background: rgba(${rgb},0.25); border-top: 3px solid rgba(${rgb},0.8)` }), text);
    const styles = O.MESSAGE_STYLES;
    return O.el("div", { class: "legend" },
      item("delivered", `background: rgb(${styles.delivered.rgb})`),
      item("duplicate", `background: repeating-linear-gradient(90deg, rgb(${styles.duplicate.rgb}) 0 5px, transparent 5px 8px)`),
      item("corrupted", `background: rgb(${styles.corrupted.rgb}); height: 4px`),
      item("dropped ✕", `background: rgb(${styles.dropped.rgb})`),
      box("down", O.SPAN_RGB.down), box("paused", O.SPAN_RGB.paused),
      box("partitioned", O.SPAN_RGB.partition), box("clogged", O.SPAN_RGB.clog),
      item("phase", "background: #5b6cd6"), item("failing check", "background: #c62828; height: 4px"));
  }

  buildFilters() {
    const data = this.data;
    const filters = this.filters;
    filters.replaceChildren();
    const laneBoxes = [];
    const kindBoxes = [];
    const setAll = (boxes, on, flags, predicate) => {
      boxes.forEach((box, i) => {
        const value = predicate ? predicate(i) : on;
        box.checked = value;
        flags[i] = value;
      });
      this.overviewBins = null;
      this.layout();
    };
    const small = (text, onclick) => O.el("button", { onclick }, text);
    filters.append(O.el("h3", {}, "Nodes",
      small("all", () => setAll(laneBoxes, true, this.laneOn)),
      small("none", () => setAll(laneBoxes, false, this.laneOn))));
    data.lanes.forEach((lane, i) => {
      const box = O.el("input", { type: "checkbox", checked: this.laneOn[i], "data-lane": lane.id,
        onchange: () => { this.laneOn[i] = box.checked; this.overviewBins = null; this.layout(); } });
      laneBoxes.push(box);
      const id = lane.id === "-" ? "" : lane.id === lane.name ? "" : ` ${lane.id}`;
      filters.append(O.el("label", { title: lane.role ? `role ${lane.role}` : "" }, box,
        O.el("b", {}, lane.name), O.el("small", {}, id + (lane.role ? ` · ${lane.role}` : "")),
        O.el("span", { class: "count" }, O.count(this.byLane[i].length))));
    });
    filters.append(O.el("h3", {}, "Kinds",
      small("all", () => setAll(kindBoxes, true, this.kindOn)),
      small("none", () => setAll(kindBoxes, false, this.kindOn)),
      small("milestones", () => setAll(kindBoxes, true, this.kindOn,
        (i) => !O.ROUTINE_CLASSES.includes(data.kinds[i].class)))));
    const classes = [...new Set(data.kinds.map((kind) => kind.class))];
    for (const cls of classes) {
      filters.append(O.el("div", { class: "group" }, cls));
      data.kinds.forEach((kind, i) => {
        if (kind.class !== cls) return;
        const box = O.el("input", { type: "checkbox", checked: this.kindOn[i], "data-kind": kind.name,
          onchange: () => { this.kindOn[i] = box.checked; this.overviewBins = null; this.draw(); } });
        kindBoxes[i] = box;
        filters.append(O.el("label", {}, box,
          O.el("span", { class: "swatch", style: `background: ${O.CLASS_COLOURS[cls] || O.CLASS_COLOURS.workload}` }),
          kind.name, O.el("span", { class: "count" }, O.count(kind.count))));
      });
    }
    if (data.realized.length || data.scenario !== null) {
      const rows = data.realized.map(([label, value]) =>
        O.el("tr", {}, O.el("td", {}, label), O.el("td", {}, value)));
      filters.append(O.el("details", {},
        O.el("summary", {}, `Run: ${data.scenario || "?"} seed ${data.seed ?? "?"}`),
        O.el("div", { class: "group" }, `trace format ${data.format_version ?? "?"}; realized values:`),
        O.el("table", {}, ...rows)));
    }
  }

  // Sizes the canvases to their boxes and draws; called when shown and on resize.
  layout() {
    const width = Math.max(300, this.scroller.clientWidth);
    const available = Math.max(100, this.scroller.clientHeight);
    const rows = this.rows();
    const laneHeight = Math.max(LANE_HEIGHT_MIN,
      Math.min(LANE_HEIGHT_MAX, Math.floor((available - AXIS_HEIGHT - 2) / Math.max(rows.length, 1))));
    this.laneHeight = laneHeight;
    this.cssWidth = width;
    this.cssHeight = Math.max(available - 1, AXIS_HEIGHT + rows.length * laneHeight + 2);
    this.context = O.sizeCanvas(this.canvas, width, this.cssHeight);
    this.overviewContext = O.sizeCanvas(this.overview, Math.max(300, this.overview.clientWidth || width), 40);
    this.overviewBins = null;
    this.draw();
  }

  rows() {
    const rows = [];
    this.data.lanes.forEach((_, lane) => { if (this.laneOn[lane]) rows.push(lane); });
    return rows;
  }

  draw() {
    if (!this.context) return;
    const c = this.context;
    const width = this.cssWidth;
    const height = this.cssHeight;
    const tw = this.window;
    tw.x0 = LABEL_WIDTH;
    tw.width = width - LABEL_WIDTH - 10;
    this.rowList = this.rows();
    this.rowOf = new Int32Array(this.data.lanes.length).fill(-1);
    this.rowList.forEach((lane, row) => { this.rowOf[lane] = row; });
    // Layout changes with the number of shown lanes; keep the canvas as tall as its rows.
    const needed = Math.max(this.scroller.clientHeight - 1,
      AXIS_HEIGHT + this.rowList.length * this.laneHeight + 2);
    if (Math.abs(needed - height) > 1 && this.scroller.clientHeight > 0) {
      this.cssHeight = needed;
      this.context = O.sizeCanvas(this.canvas, width, needed);
      return this.draw();
    }
    c.clearRect(0, 0, width, height);
    c.fillStyle = "#fff";
    c.fillRect(0, 0, width, height);
    this.rowList.forEach((lane, row) => {
      c.fillStyle = row % 2 ? "#fafbfd" : "#ffffff";
      c.fillRect(0, AXIS_HEIGHT + row * this.laneHeight, width, this.laneHeight);
    });
    O.drawAxis(c, tw, LABEL_WIDTH, width, AXIS_HEIGHT, height);
    c.save();
    c.beginPath();
    c.rect(LABEL_WIDTH, AXIS_HEIGHT, width - LABEL_WIDTH, height - AXIS_HEIGHT);
    c.clip();
    this.drawSpans(c);
    this.drawMarkers(c, "phase");
    if (this.range) this.drawRange(c);
    this.shownMessages = this.showArrows ? this.drawMessages(c) : 0;
    this.drawEvents(c);
    this.drawMarkers(c, "failure");
    this.drawMarkers(c, "stop");
    this.drawSelected(c);
    c.restore();
    this.drawLaneLabels(c);
    this.drawOverview();
    const span = tw.t1 - tw.t0;
    const arrows = this.showArrows && this.arrowLevel
      ? ` · ${O.count(this.shownMessages)} messages in view: arrows ${this.arrowLevel}, zoom in for all` : "";
    this.readout.textContent =
      `${O.formatInstant(Math.max(0, tw.t0))}s – ${O.formatInstant(Math.max(0, tw.t1))}s (${O.formatDuration(span)})${arrows}`;
  }

  laneY(lane) {
    const row = this.rowOf[lane];
    return row < 0 ? null : AXIS_HEIGHT + row * this.laneHeight + this.laneHeight / 2;
  }

  // The events of `lane` inside the window (with a few pixels of margin), as [lo, hi) into
  // byLane[lane].
  laneRange(lane, marginPixels) {
    const margin = this.window.nsPerPixel() * (marginPixels || 8);
    const list = this.byLane[lane];
    return [O.lowerBound(this.t, this.window.t0 - margin, list),
      O.lowerBound(this.t, this.window.t1 + margin, list)];
  }

  drawEvents(c) {
    const kinds = this.data.kinds;
    const tw = this.window;
    const columns = Math.ceil(tw.width) + 1;
    for (const lane of this.rowList) {
      const y = this.laneY(lane);
      const [lo, hi] = this.laneRange(lane);
      const list = this.byLane[lane];
      const dense = hi - lo > tw.width / 2;
      const labels = hi - lo < tw.width / 40;
      let bins = null;
      if (dense) bins = new Uint32Array(columns * 4);
      for (let j = lo; j < hi; j++) {
        const i = list[j];
        const kind = this.kindOf[i];
        if (!this.kindOn[kind]) continue;
        const cls = kinds[kind].class;
        const x = tw.x(this.t[i]);
        const routine = O.ROUTINE_CLASSES.indexOf(cls);
        if (dense && routine >= 0) {
          const column = Math.floor(x - tw.x0);
          if (column >= 0 && column < columns) bins[column * 4 + routine]++;
        } else {
          this.glyph(c, kinds[kind].name, cls, x, y, labels);
        }
      }
      if (dense) this.drawDensity(c, bins, columns, y);
    }
  }

  // Per-pixel density of routine events: a bar whose height grows with the log of the count,
  // coloured by the most common class, and a red tick where the network dropped something.
  drawDensity(c, bins, columns, y) {
    let most = 1;
    for (let column = 0; column < columns; column++) {
      const total = bins[column * 4] + bins[column * 4 + 1] + bins[column * 4 + 2] + bins[column * 4 + 3];
      if (total > most) most = total;
    }
    const scale = (this.laneHeight - 8) / Math.log(1 + most);
    for (let column = 0; column < columns; column++) {
      const base = column * 4;
      const total = bins[base] + bins[base + 1] + bins[base + 2] + bins[base + 3];
      if (total === 0) continue;
      let top = 0;
      for (let k = 1; k < 4; k++) if (bins[base + k] > bins[base + top]) top = k;
      const h = Math.max(2, Math.log(1 + total) * scale);
      c.fillStyle = O.CLASS_COLOURS[O.ROUTINE_CLASSES[top]];
      c.globalAlpha = 0.55;
      c.fillRect(this.window.x0 + column, y - h / 2, 1, h);
      if (bins[base + 1] > 0) {
        c.globalAlpha = 0.9;
        c.fillStyle = O.CLASS_COLOURS.network;
        c.fillRect(this.window.x0 + column, y + this.laneHeight / 2 - 5, 1, 3);
      }
    }
    c.globalAlpha = 1;
  }

  glyph(c, kind, cls, x, y, labels) {
    const colour = O.CLASS_COLOURS[cls] || O.CLASS_COLOURS.workload;
    c.fillStyle = colour;
    c.strokeStyle = colour;
    c.lineWidth = 1.2;
    switch (kind) {
      case "send":
        c.beginPath(); c.arc(x, y, 2.5, 0, 2 * Math.PI); c.fillStyle = "#fff"; c.fill(); c.stroke();
        return;
      case "deliver":
        c.beginPath(); c.arc(x, y, 2.8, 0, 2 * Math.PI); c.fill();
        return;
      case "drop": case "reject":
        O.cross(c, x, y, 3.5, colour, 1.6);
        return;
      case "timer":
        c.fillRect(x - 0.5, y - 5, 1, 10);
        return;
      case "disk": case "disk_done":
        c.fillRect(x - 2, y + 3, 4, 4);
        return;
      case "start":
        c.fillStyle = "#2e8b57";
        c.beginPath(); c.moveTo(x, y - 6); c.lineTo(x + 5, y + 4); c.lineTo(x - 5, y + 4); c.closePath(); c.fill();
        return;
      case "stop":
        O.cross(c, x, y, 6, colour, 3);
        return;
      default:
        break;
    }
    if (cls === "fault") {
      c.beginPath(); c.moveTo(x, y - 6); c.lineTo(x + 5, y); c.lineTo(x, y + 6); c.lineTo(x - 5, y); c.closePath();
      c.fill();
      c.strokeStyle = "#fff"; c.lineWidth = 1; c.stroke();
    } else if (cls === "network" || cls === "engine" || cls === "disk") {
      c.beginPath(); c.moveTo(x, y - 4); c.lineTo(x + 3.5, y + 3); c.lineTo(x - 3.5, y + 3); c.closePath(); c.fill();
    } else {
      c.fillRect(x - 4, y - 4, 8, 8);
      c.strokeStyle = "#fff"; c.lineWidth = 1; c.strokeRect(x - 4, y - 4, 8, 8);
      if (labels) {
        c.fillStyle = colour; c.font = "10px system-ui, sans-serif"; c.textBaseline = "bottom";
        c.fillText(kind, x + 6, y - 3);
      }
    }
  }

  // The messages overlapping the window whose end kind and lanes are shown.
  visibleMessages() {
    const tw = this.window;
    const messages = this.data.messages;
    const shown = [];
    let k = O.lowerBound(this.mEnd, tw.t0);
    for (; k < this.m && this.mEnd[k] <= tw.t1 + this.maxFlight; k++) {
      if (this.mStart[k] > tw.t1) continue;
      if (!this.kindOn[this.kindOf[messages.end[k]]]) continue;
      if (this.rowOf[messages.from_lane[k]] < 0 || this.rowOf[messages.to_lane[k]] < 0) continue;
      shown.push(k);
    }
    return shown;
  }

  // Arrows at three levels of detail: up to ARROWS_DETAILED_MAX in the window, every arrow
  // with its head or cross; up to ARROWS_FAINT_MAX, faint lines; beyond, only the rare marked
  // states (corrupted, duplicate, dropped in flight), since the lanes' density already shows
  // the traffic and drops.
  drawMessages(c) {
    const shown = this.visibleMessages();
    const detailed = shown.length <= ARROWS_DETAILED_MAX;
    const faint = !detailed && shown.length <= ARROWS_FAINT_MAX;
    const byState = new Map();
    for (const k of shown) {
      const state = this.stateOf[k];
      if (!byState.has(state)) byState.set(state, []);
      byState.get(state).push(k);
    }
    const states = detailed || faint
      ? ["delivered", "duplicate", "dropped", "lost", "rejected", "corrupted"]
      : ["duplicate", "dropped", "corrupted"];
    for (const state of states) {
      const list = byState.get(state);
      if (!list) continue;
      const style = O.MESSAGE_STYLES[state] || O.MESSAGE_STYLES.delivered;
      const marked = state !== "delivered";
      const alpha = detailed ? (marked ? 0.95 : 0.7) : faint ? (marked ? 0.45 : 0.16)
        : state === "corrupted" ? 0.8 : state === "duplicate" ? 0.4 : 0.18;
      c.strokeStyle = `rgba(${style.rgb},${alpha})`;
      c.fillStyle = `rgba(${style.rgb},${alpha})`;
      c.lineWidth = style.width;
      c.setLineDash(detailed ? style.dash : []);
      c.beginPath();
      const heads = [];
      for (const k of list) {
        const g = this.arrow(k);
        if (!g) continue;
        c.moveTo(g.x1, g.y1);
        if (g.curve) c.quadraticCurveTo((g.x1 + g.x2) / 2, g.y1 - this.laneHeight * 0.45, g.x2, g.y2);
        else c.lineTo(g.x2, g.y2);
        heads.push(g);
      }
      c.stroke();
      c.setLineDash([]);
      if (!detailed) continue;
      for (const g of heads) {
        if (style.cross) O.cross(c, g.x2, g.y2, 3.5, `rgba(${style.rgb},1)`, 1.8);
        else O.arrowHead(c, g);
      }
    }
    this.arrowLevel = detailed ? "" : faint ? "faint" : "marked only";
    return shown.length;
  }

  // The geometry of message k's arrow, or null if a lane is hidden.
  arrow(k) {
    const messages = this.data.messages;
    const y1 = this.laneY(messages.from_lane[k]);
    const y2 = this.laneY(messages.to_lane[k]);
    if (y1 === null || y2 === null) return null;
    const x1 = this.window.x(this.mStart[k]);
    const x2 = this.window.x(this.mEnd[k]);
    if (O.MESSAGE_STYLES[this.stateOf[k]] && O.MESSAGE_STYLES[this.stateOf[k]].stub) {
      // Lost or rejected at the send: a short stub towards the receiver, crossed out.
      const dy = y2 === y1 ? -this.laneHeight * 0.4 : (y2 - y1) * 0.35;
      return { x1, y1, x2: x1 + 10, y2: y1 + dy, curve: false };
    }
    return { x1, y1, x2, y2, curve: y1 === y2 };
  }

  drawSpans(c) {
    const tw = this.window;
    const lh = this.laneHeight;
    c.font = "10px system-ui, sans-serif";
    c.textBaseline = "top";
    for (const span of this.data.spans) {
      const row = this.rowOf[span.lane];
      if (row < 0 || span.end < tw.t0 || span.start > tw.t1) continue;
      const rgb = O.SPAN_RGB[span.class] || "100,100,100";
      const x1 = Math.max(tw.x(span.start), LABEL_WIDTH - 2);
      const x2 = Math.min(Math.max(tw.x(span.end), tw.x(span.start) + 2), this.cssWidth + 2);
      const top = AXIS_HEIGHT + row * lh + 2;
      c.fillStyle = `rgba(${rgb},${span.class === "down" ? 0.22 : 0.13})`;
      c.fillRect(x1, top, x2 - x1, lh - 4);
      c.fillStyle = `rgba(${rgb},0.85)`;
      c.fillRect(x1, top, x2 - x1, 3);
      if (span.open) {
        c.fillRect(x2 - 2, top, 2, lh - 4);
      }
      const label = O.fitText(c, span.label + (span.open ? " (until the end)" : ""), x2 - x1 - 6);
      if (label) {
        c.fillStyle = `rgba(${rgb},1)`;
        c.fillText(label, x1 + 3, top + 4);
      }
    }
  }

  drawMarkers(c, cls) {
    const tw = this.window;
    const height = this.cssHeight;
    c.font = "11px system-ui, sans-serif";
    c.textBaseline = "top";
    let slot = 0;
    for (const marker of this.data.markers) {
      if (marker.class !== cls || marker.t < tw.t0 || marker.t > tw.t1) continue;
      const x = Math.round(tw.x(marker.t)) + 0.5;
      const failure = cls !== "phase";
      c.strokeStyle = failure ? "#c62828" : "#5b6cd6";
      c.lineWidth = failure ? 2 : 1.2;
      c.setLineDash(failure ? [] : [6, 4]);
      c.beginPath();
      c.moveTo(x, AXIS_HEIGHT);
      c.lineTo(x, height);
      c.stroke();
      c.setLineDash([]);
      const text = (failure ? "✖ " : "▸ ") + O.markerLine(marker);
      const room = Math.min(420, this.cssWidth - x - 8);
      const shown = O.fitText(c, text, room > 120 ? room : 300);
      const w = c.measureText(shown).width + 8;
      const left = room > 120 ? x + 3 : x - w - 3;
      const top = AXIS_HEIGHT + 3 + (failure ? 18 : 0) + (slot++ % 2) * 16;
      c.fillStyle = failure ? "#c62828" : "#e8ebfb";
      c.fillRect(left, top, w, 15);
      c.fillStyle = failure ? "#fff" : "#2f3a8f";
      c.fillText(shown, left + 4, top + 2);
    }
  }

  drawRange(c) {
    const x1 = this.window.x(this.range[0]);
    const x2 = this.window.x(this.range[1]);
    c.fillStyle = "rgba(47,95,179,0.12)";
    c.fillRect(x1, AXIS_HEIGHT, x2 - x1, this.cssHeight - AXIS_HEIGHT);
    c.strokeStyle = "rgba(47,95,179,0.6)";
    c.lineWidth = 1;
    c.strokeRect(x1 + 0.5, AXIS_HEIGHT + 0.5, x2 - x1, this.cssHeight - AXIS_HEIGHT - 1);
  }

  drawSelected(c) {
    const i = this.selected;
    if (i < 0) return;
    const y = this.laneY(this.laneOf[i]);
    if (y === null) return;
    for (const k of this.messagesOf.get(i) || []) {
      const g = this.arrow(k);
      if (!g) continue;
      c.strokeStyle = "rgba(255,193,7,0.9)";
      c.lineWidth = 4;
      c.beginPath();
      c.moveTo(g.x1, g.y1);
      if (g.curve) c.quadraticCurveTo((g.x1 + g.x2) / 2, g.y1 - this.laneHeight * 0.45, g.x2, g.y2);
      else c.lineTo(g.x2, g.y2);
      c.stroke();
      const style = O.MESSAGE_STYLES[this.stateOf[k]] || O.MESSAGE_STYLES.delivered;
      c.strokeStyle = `rgb(${style.rgb})`;
      c.fillStyle = `rgb(${style.rgb})`;
      c.lineWidth = 1.5;
      c.stroke();
      if (!style.cross) O.arrowHead(c, g);
    }
    const x = this.window.x(this.t[i]);
    c.strokeStyle = "#ffb300";
    c.lineWidth = 2.5;
    c.beginPath();
    c.arc(x, y, 8, 0, 2 * Math.PI);
    c.stroke();
  }

  drawLaneLabels(c) {
    const lh = this.laneHeight;
    c.fillStyle = "#f3f5f9";
    c.fillRect(0, 0, LABEL_WIDTH, this.cssHeight);
    c.strokeStyle = "#d9dee7";
    c.beginPath();
    c.moveTo(LABEL_WIDTH - 0.5, 0);
    c.lineTo(LABEL_WIDTH - 0.5, this.cssHeight);
    c.stroke();
    c.textBaseline = "middle";
    this.rowList.forEach((lane, row) => {
      const info = this.data.lanes[lane];
      const y = AXIS_HEIGHT + row * lh + lh / 2;
      c.fillStyle = "#1d2330";
      c.font = "600 12px system-ui, sans-serif";
      c.fillText(O.fitText(c, info.name, LABEL_WIDTH - 14), 8, lh >= 34 ? y - 7 : y);
      if (lh >= 34) {
        c.fillStyle = "#667085";
        c.font = "10px system-ui, sans-serif";
        const sub = info.id === "-" ? "events of the world" : [info.id, info.role].filter(Boolean).join(" · ");
        c.fillText(O.fitText(c, sub, LABEL_WIDTH - 14), 8, y + 8);
      }
      c.strokeStyle = "#eef0f4";
      c.beginPath();
      c.moveTo(0, AXIS_HEIGHT + (row + 1) * lh - 0.5);
      c.lineTo(LABEL_WIDTH, AXIS_HEIGHT + (row + 1) * lh - 0.5);
      c.stroke();
    });
    c.fillStyle = "#667085";
    c.font = "10px system-ui, sans-serif";
    c.fillText("virtual time →", 8, AXIS_HEIGHT / 2);
  }

  // The whole run in a strip: event density of the shown kinds and lanes, phases, the
  // failure, and the window.
  drawOverview() {
    const c = this.overviewContext;
    const width = parseFloat(this.overview.style.width);
    const height = 40;
    const end = this.data.time_end;
    const x = (t) => 4 + (t / end) * (width - 8);
    if (!this.overviewBins || this.overviewBins.length !== Math.ceil(width)) {
      const bins = new Uint32Array(Math.ceil(width));
      for (let i = 0; i < this.n; i++) {
        if (!this.kindOn[this.kindOf[i]] || !this.laneOn[this.laneOf[i]]) continue;
        const column = Math.floor(x(this.t[i]));
        if (column >= 0 && column < bins.length) bins[column]++;
      }
      this.overviewBins = bins;
    }
    const bins = this.overviewBins;
    let most = 1;
    for (const count of bins) if (count > most) most = count;
    c.clearRect(0, 0, width, height);
    c.fillStyle = "#9aa7c0";
    for (let column = 0; column < bins.length; column++) {
      if (!bins[column]) continue;
      const h = Math.max(1, (Math.log(1 + bins[column]) / Math.log(1 + most)) * (height - 8));
      c.fillRect(column, height - 2 - h, 1, h);
    }
    for (const marker of this.data.markers) {
      c.fillStyle = marker.class === "phase" ? "#5b6cd6" : "#c62828";
      c.fillRect(Math.round(x(marker.t)) - (marker.class === "phase" ? 0 : 1), 0, marker.class === "phase" ? 1 : 2, height);
    }
    const w = this.window;
    const left = x(Math.max(0, w.t0));
    const right = x(Math.min(end, w.t1));
    c.fillStyle = "rgba(47,95,179,0.15)";
    c.fillRect(left, 0, Math.max(2, right - left), height);
    c.strokeStyle = "rgba(47,95,179,0.9)";
    c.strokeRect(left + 0.5, 0.5, Math.max(2, right - left), height - 1);
    this.overviewX = x;
    this.overviewWidth = width;
  }

  // --- interaction -------------------------------------------------------------------

  attach() {
    const canvas = this.canvas;
    let drag = null;
    const local = (event) => {
      const box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    };
    canvas.addEventListener("mousedown", (event) => {
      if (event.button !== 0) return;
      const p = local(event);
      drag = { x: p.x, y: p.y, t0: this.window.t0, t1: this.window.t1, range: event.shiftKey, moved: false };
      canvas.classList.add("dragging");
      event.preventDefault();
      this.root.focus({ preventScroll: true });
    });
    window.addEventListener("mousemove", (event) => {
      if (!drag) return;
      const p = local(event);
      if (Math.abs(p.x - drag.x) + Math.abs(p.y - drag.y) > 3) drag.moved = true;
      if (!drag.moved) return;
      if (drag.range) {
        const a = this.window.t(drag.x);
        const b = this.window.t(p.x);
        this.range = [Math.max(0, Math.min(a, b)), Math.max(a, b)];
      } else {
        const dt = (p.x - drag.x) * (drag.t1 - drag.t0) / this.window.width;
        this.window.set(drag.t0 - dt, drag.t1 - dt);
      }
      this.draw();
    });
    window.addEventListener("mouseup", (event) => {
      if (!drag) return;
      const p = local(event);
      canvas.classList.remove("dragging");
      const finished = drag;
      drag = null;
      if (!finished.moved) this.click(p.x, p.y);
      else if (finished.range && this.range) this.showRange();
    });
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const p = local(event);
      if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
        const delta = event.shiftKey ? event.deltaY || event.deltaX : event.deltaX;
        this.window.pan(delta * this.window.nsPerPixel());
      } else {
        this.window.zoom(Math.exp(event.deltaY * 0.0015), this.window.t(p.x));
      }
      this.draw();
    }, { passive: false });
    let overviewDrag = false;
    const moveTo = (event) => {
      const box = this.overview.getBoundingClientRect();
      const fraction = (event.clientX - box.left - 4) / (this.overviewWidth - 8);
      this.window.center(Math.max(0, Math.min(1, fraction)) * this.data.time_end);
      this.draw();
    };
    this.overview.addEventListener("mousedown", (event) => { overviewDrag = true; moveTo(event); event.preventDefault(); });
    window.addEventListener("mousemove", (event) => { if (overviewDrag) moveTo(event); });
    window.addEventListener("mouseup", () => { overviewDrag = false; });
    this.root.addEventListener("keydown", (event) => this.key(event));
  }

  key(event) {
    const w = this.window;
    switch (event.key) {
      case "+": case "=": w.zoom(0.5); break;
      case "-": case "_": w.zoom(2); break;
      case "f": case "0": w.fit(); break;
      case "Escape": this.selected = -1; this.range = null; this.showDetails(); this.showLines(""); break;
      case "ArrowLeft": case "ArrowRight": {
        const forward = event.key === "ArrowRight";
        if (this.selected < 0) { w.pan((forward ? 0.2 : -0.2) * (w.t1 - w.t0)); break; }
        const next = this.step(this.selected, forward);
        if (next >= 0) this.select(next, true);
        break;
      }
      default: return;
    }
    event.preventDefault();
    this.draw();
  }

  // The next (or previous) shown event on the same lane.
  step(i, forward) {
    const list = this.byLane[this.laneOf[i]];
    let j = O.lowerBound(this.t, this.t[i], list);
    while (j < list.length && list[j] !== i) j++;
    for (j += forward ? 1 : -1; j >= 0 && j < list.length; j += forward ? 1 : -1) {
      if (this.kindOn[this.kindOf[list[j]]]) return list[j];
    }
    return -1;
  }

  // Selects what is under (x, y): the nearest shown event on that lane within a few
  // pixels (the first in trace order on a tie), else a marker line, else an arrow.
  click(x, y) {
    const hit = this.hit(x, y);
    this.range = null;
    if (hit.event !== undefined) {
      this.select(hit.event, false);
    } else if (hit.marker) {
      this.selected = -1;
      this.selectedMarker = hit.marker;
      this.showDetails();
      this.showLines("");
    } else {
      this.selected = -1;
      this.selectedMarker = null;
      this.showDetails();
      this.showLines("");
    }
    this.draw();
  }

  hit(x, y) {
    if (x < LABEL_WIDTH || y < AXIS_HEIGHT) return {};
    const row = Math.floor((y - AXIS_HEIGHT) / this.laneHeight);
    const lane = this.rowList[row];
    if (lane !== undefined) {
      const [lo, hi] = this.laneRange(lane, 7);
      const list = this.byLane[lane];
      let best = -1;
      let bestDistance = 7;
      for (let j = lo; j < hi; j++) {
        const i = list[j];
        if (!this.kindOn[this.kindOf[i]]) continue;
        const distance = Math.abs(this.window.x(this.t[i]) - x);
        if (distance < bestDistance - 1e-9) { best = i; bestDistance = distance; }
      }
      if (best >= 0) return { event: best };
    }
    for (const marker of this.data.markers) {
      if (Math.abs(this.window.x(marker.t) - x) <= 4) {
        return marker.event !== null ? { event: marker.event } : { marker };
      }
    }
    if (this.showArrows) {
      let best = -1;
      let bestDistance = 5;
      for (const k of this.visibleMessages()) {
        const g = this.arrow(k);
        if (!g) continue;
        const distance = O.segmentDistance(x, y, g);
        if (distance < bestDistance) { best = k; bestDistance = distance; }
      }
      if (best >= 0) return { event: this.data.messages.end[best] };
    }
    return {};
  }

  // Selects event i: details, its line, and (if asked) brings it into view.
  select(i, reveal) {
    this.selected = i;
    this.range = null;
    this.selectedMarker = this.markerOf.get(i) || null;
    if (reveal) this.reveal(i);
    this.showDetails();
    this.showLines(this.data.events.line[i], `event #${i}`);
    this.draw();
  }

  // Brings event i into view, close enough to be drawn on its own.
  reveal(i, span) {
    const lane = this.laneOf[i];
    if (!this.laneOn[lane]) { this.laneOn[lane] = true; this.buildFilters(); }
    if (!this.kindOn[this.kindOf[i]]) { this.kindOn[this.kindOf[i]] = true; this.buildFilters(); }
    const t = this.t[i];
    const tw = this.window;
    const wanted = span !== undefined ? span : Math.min(tw.t1 - tw.t0, this.comfortableSpan(i));
    if (span !== undefined || t < tw.t0 || t > tw.t1 || wanted < tw.t1 - tw.t0) {
      tw.center(t, wanted);
    }
    this.draw();
    const y = this.laneY(lane);
    if (y !== null && (y < this.scroller.scrollTop || y > this.scroller.scrollTop + this.scroller.clientHeight)) {
      this.scroller.scrollTop = Math.max(0, y - this.scroller.clientHeight / 2);
    }
  }

  // A window around event i holding about a hundred events: its neighbours in time, few
  // enough for every lane to show them one by one.
  comfortableSpan(i) {
    const lo = Math.max(0, i - 50);
    const hi = Math.min(this.n - 1, i + 50);
    const span = 2.4 * Math.max(this.t[i] - this.t[lo], this.t[hi] - this.t[i]);
    return Math.max(2000, span);
  }

  showDetails() {
    const details = this.details;
    details.replaceChildren();
    const i = this.selected;
    if (i < 0 && !this.selectedMarker) {
      details.append(O.el("p", { class: "empty" },
        "Click an event, an arrow or a marker for its fields; shift+drag over a time range for its trace lines."));
      if (this.failure) {
        details.append(...O.markerElements(this.failure),
          O.el("div", { class: "links" }, O.el("a", { onclick: () => this.goToFailure() }, "go to the failing check")));
      }
      return;
    }
    if (i < 0) {
      const marker = this.selectedMarker;
      details.append(O.el("table", {}, O.el("tr", {}, O.el("th", {}, "time"), O.el("td", {}, O.formatInstant(marker.t) + "s"))),
        ...O.markerElements(marker));
      return;
    }
    const data = this.data;
    const line = data.events.line[i];
    const ends = data.events.field_ends[i];
    const kind = data.kinds[this.kindOf[i]];
    const lane = data.lanes[this.laneOf[i]];
    const parts = line.split(" ");
    const headLength = parts[0].length + parts[1].length + parts[2].length + 2;
    const rows = [
      ["time", `${O.formatInstant(this.t[i])}s`],
      ["node", lane.id === "-" ? "- (the world)" : this.nodeText(lane.id)],
      ["kind", `${kind.name} (${kind.class})`],
    ];
    let start = headLength + 1;
    for (const end of ends) {
      const token = line.slice(start, end);
      const equals = token.indexOf("=");
      const name = token.slice(0, equals);
      const value = token.slice(equals + 1);
      rows.push([name, /^n\d+$/.test(value) ? this.nodeText(value) : value]);
      start = end + 1;
    }
    const detailStart = (ends.length ? ends[ends.length - 1] : headLength) + 1;
    const table = O.el("table", { "data-role": "fields" },
      ...rows.map(([name, value]) => O.el("tr", { "data-field": name }, O.el("th", {}, name), O.el("td", {}, value))));
    details.append(O.el("div", { class: "heading" }, O.el("b", {}, kind.name), ` at ${O.formatInstant(this.t[i])}s on ${lane.name}`), table);
    if (detailStart < line.length) details.append(O.el("pre", { "data-role": "detail" }, line.slice(detailStart)));
    const marker = this.markerOf.get(i);
    if (marker && marker.event === i && marker.class !== "phase") details.append(...O.markerElements(marker));
    else if (marker) details.append(O.el("p", {}, `▸ ${marker.label}`));
    const links = O.el("div", { class: "links" });
    for (const k of this.messagesOf.get(i) || []) links.append(this.messageLink(k, i));
    for (const span of data.spans) {
      if (span.lane === this.laneOf[i] && span.start <= this.t[i] && this.t[i] <= span.end && span.event !== i) {
        links.append(O.el("span", {}, `during: ${span.label} (from ${O.formatInstant(span.start)}s) `,
          O.el("a", { onclick: () => this.select(span.event, true) }, "show its start")));
      }
    }
    if (links.childNodes.length) details.append(links);
  }

  messageLink(k, from) {
    const messages = this.data.messages;
    const state = this.stateOf[k];
    const send = messages.send[k];
    const end = messages.end[k];
    const fromName = this.data.lanes[messages.from_lane[k]].name;
    const toName = this.data.lanes[messages.to_lane[k]].name;
    const latency = O.formatDuration(this.mEnd[k] - this.mStart[k]);
    if (send === end) {
      return O.el("span", {}, `${state} at the send: ${fromName} → ${toName}`);
    }
    if (from === end) {
      if (send === null) return O.el("span", {}, `${state}; its send is not in this trace`);
      return O.el("span", {}, `${state} ${latency} after its send by ${fromName}: `,
        O.el("a", { onclick: () => this.select(send, true) }, "show the send"));
    }
    return O.el("span", {}, `→ ${toName}: ${state} after ${latency} `,
      O.el("a", { onclick: () => this.select(end, true) }, state === "dropped" ? "show the drop" : "show the delivery"));
  }

  nodeText(id) {
    const lane = this.data.lanes.find((info) => info.id === id);
    if (!lane || lane.name === id) return id;
    return `${lane.name} (${id}${lane.role ? ", " + lane.role : ""})`;
  }

  showLines(text, note) {
    this.selectionText.value = text;
    this.selectionNote.textContent = note || (text ? "" : "nothing selected");
  }

  // The shown events of the shown lanes inside the range, as trace lines in trace order.
  showRange() {
    const [a, b] = this.range;
    const lines = [];
    let total = 0;
    const lo = O.lowerBound(this.t, a);
    const hi = O.lowerBound(this.t, b);
    for (let i = lo; i < hi; i++) {
      if (!this.kindOn[this.kindOf[i]] || !this.laneOn[this.laneOf[i]]) continue;
      total++;
      if (lines.length < SELECTION_LINES_MAX) lines.push(this.data.events.line[i]);
    }
    const more = total > lines.length ? `; the first ${O.count(lines.length)} shown` : "";
    this.showLines(lines.join("\n"),
      `${O.count(total)} events from ${O.formatInstant(a)}s to ${O.formatInstant(b)}s (shown nodes and kinds${more})`);
    this.selected = -1;
    this.selectedMarker = null;
    this.showDetails();
    this.draw();
  }

  goToFailure() {
    const failure = this.failure;
    if (!failure) return;
    if (failure.event !== null) {
      this.select(failure.event, true);
    } else {
      this.window.center(failure.t, Math.min(this.window.t1 - this.window.t0, this.data.time_end * 0.05));
      this.selected = -1;
      this.selectedMarker = failure;
      this.showDetails();
      this.draw();
    }
  }

  // Automation: where event i is drawn, in client coordinates (after reveal(i)).
  clientPoint(i) {
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + this.window.x(this.t[i]), y: box.top + this.laneY(this.laneOf[i]) };
  }
};

// A marker in one line, for the canvas: its label and the first line of its message.
O.markerLine = function (marker) {
  const first = marker.message ? marker.message.split("\n")[0] : "";
  return first ? `${marker.label}: ${first}` : marker.label;
};

// A failure or stop marker for the details pane: its label, then its whole message.
O.markerElements = function (marker) {
  const elements = [O.el("p", { class: marker.class === "phase" ? "" : "failure-text" },
    `${marker.class === "phase" ? "▸" : "✖"} ${marker.label}`)];
  if (marker.message) elements.push(O.el("pre", { "data-role": "failure-message" }, marker.message));
  return elements;
};

O.cross = function (c, x, y, r, colour, width) {
  c.strokeStyle = colour;
  c.lineWidth = width;
  c.beginPath();
  c.moveTo(x - r, y - r); c.lineTo(x + r, y + r);
  c.moveTo(x + r, y - r); c.lineTo(x - r, y + r);
  c.stroke();
};

O.arrowHead = function (c, g) {
  const angle = g.curve ? Math.PI / 4 : Math.atan2(g.y2 - g.y1, g.x2 - g.x1);
  const size = 6;
  c.beginPath();
  c.moveTo(g.x2, g.y2);
  c.lineTo(g.x2 - size * Math.cos(angle - 0.4), g.y2 - size * Math.sin(angle - 0.4));
  c.lineTo(g.x2 - size * Math.cos(angle + 0.4), g.y2 - size * Math.sin(angle + 0.4));
  c.closePath();
  c.fill();
};

O.segmentDistance = function (x, y, g) {
  const dx = g.x2 - g.x1;
  const dy = g.y2 - g.y1;
  const length = dx * dx + dy * dy;
  const u = length === 0 ? 0 : Math.max(0, Math.min(1, ((x - g.x1) * dx + (y - g.y1) * dy) / length));
  return Math.hypot(g.x1 + u * dx - x, g.y1 + u * dy - y);
};
