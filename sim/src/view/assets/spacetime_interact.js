// The space-time view's interaction: mouse (drag to pan, shift+drag to select a range, click
// to select, wheel to zoom), keys, the details pane and the trace lines of a selection.

Object.assign(O.SpaceTimeView.prototype, {
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
  },

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
  },

  // The next (or previous) shown event on the same lane.
  step(i, forward) {
    const list = this.byLane[this.laneOf[i]];
    let j = O.lowerBound(this.t, this.t[i], list);
    while (j < list.length && list[j] !== i) j++;
    for (j += forward ? 1 : -1; j >= 0 && j < list.length; j += forward ? 1 : -1) {
      if (this.kindOn[this.kindOf[list[j]]]) return list[j];
    }
    return -1;
  },

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
  },

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
  },

  // Selects event i: details, its line, and (if asked) brings it into view.
  select(i, reveal) {
    this.selected = i;
    this.range = null;
    this.selectedMarker = this.markerOf.get(i) || null;
    if (reveal) this.reveal(i);
    this.showDetails();
    this.showLines(this.data.events.line[i], `event #${i}`);
    this.draw();
  },

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
  },

  // A window around event i holding about a hundred events: its neighbours in time, few
  // enough for every lane to show them one by one.
  comfortableSpan(i) {
    const lo = Math.max(0, i - 50);
    const hi = Math.min(this.n - 1, i + 50);
    const span = 2.4 * Math.max(this.t[i] - this.t[lo], this.t[hi] - this.t[i]);
    return Math.max(2000, span);
  },

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
      rows.push([name, this.nodeOfValue(value) ? this.nodeText(this.nodeOfValue(value)) : value]);
      start = end + 1;
    }
    const detailStart = (ends.length ? ends[ends.length - 1] : headLength) + 1;
    const table = O.el("table", { "data-role": "fields" },
      ...rows.map(([name, value]) => O.el("tr", { "data-field": name }, O.el("th", {}, name), O.el("td", {}, value))));
    details.append(O.el("div", { class: "heading" }, O.el("b", {}, kind.name), ` at ${O.formatInstant(this.t[i])}s on ${lane.name}`), table);
    if (detailStart < line.length) details.append(O.el("pre", { "data-role": "detail" }, line.slice(detailStart)));
    const marker = this.markerOf.get(i);
    if (marker && marker.event === i && marker.class !== "phase") {
      // A stop line's free text is the failure's message: shown once, above.
      const detail = detailStart < line.length ? line.slice(detailStart) : "";
      details.append(...O.markerElements(marker, detail === marker.message));
    }
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
  },

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
  },

  // The node a field value names: its id (`n3`) or, in a trace with names, its name (`s0`).
  nodeOfValue(value) {
    if (/^n\d+$/.test(value)) return value;
    const lane = this.data.lanes.find((info) => info.name === value && info.id !== "-");
    return lane ? lane.id : null;
  },

  nodeText(id) {
    const lane = this.data.lanes.find((info) => info.id === id);
    if (!lane || lane.name === id) return id;
    return `${lane.name} (${id}${lane.role ? ", " + lane.role : ""})`;
  },

  showLines(text, note) {
    this.selectionText.value = text;
    this.selectionNote.textContent = note || (text ? "" : "nothing selected");
  },

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
  },

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
  },

  // Automation: where event i is drawn, in client coordinates (after reveal(i)).
  clientPoint(i) {
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + this.window.x(this.t[i]), y: box.top + this.laneY(this.laneOf[i]) };
  },
});

// A failure or stop marker for the details pane: its label, then (unless shown already) its
// whole message.
O.markerElements = function (marker, withoutMessage) {
  const elements = [O.el("p", { class: marker.class === "phase" ? "" : "failure-text" },
    `${marker.class === "phase" ? "▸" : "✖"} ${marker.label}`)];
  if (marker.message && !withoutMessage) elements.push(O.el("pre", { "data-role": "failure-message" }, marker.message));
  return elements;
};
