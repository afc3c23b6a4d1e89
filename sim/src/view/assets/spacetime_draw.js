// The space-time view's drawing: events (one by one, or as per-pixel density), arrows at
// three levels of detail, spans, markers, the selection, lane labels and the overview strip.

Object.assign(O.SpaceTimeView.prototype, {
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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

  drawRange(c) {
    const x1 = this.window.x(this.range[0]);
    const x2 = this.window.x(this.range[1]);
    c.fillStyle = "rgba(47,95,179,0.12)";
    c.fillRect(x1, AXIS_HEIGHT, x2 - x1, this.cssHeight - AXIS_HEIGHT);
    c.strokeStyle = "rgba(47,95,179,0.6)";
    c.lineWidth = 1;
    c.strokeRect(x1 + 0.5, AXIS_HEIGHT + 0.5, x2 - x1, this.cssHeight - AXIS_HEIGHT - 1);
  },

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
  },

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
  },

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
  },
});

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

// A marker in one line, for the canvas: its label and the first line of its message.
O.markerLine = function (marker) {
  const first = marker.message ? marker.message.split("\n")[0] : "";
  return first ? `${marker.label}: ${first}` : marker.label;
};

O.segmentDistance = function (x, y, g) {
  const dx = g.x2 - g.x1;
  const dy = g.y2 - g.y1;
  const length = dx * dx + dy * dy;
  const u = length === 0 ? 0 : Math.max(0, Math.min(1, ((x - g.x1) * dx + (y - g.y1) * dy) / length));
  return Math.hypot(g.x1 + u * dx - x, g.y1 + u * dy - y);
};
