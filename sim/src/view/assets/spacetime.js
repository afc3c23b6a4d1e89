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
};
