// The history view, porcupine-style: for one key at a time, one row per client process and
// each operation a bar from invoke to completion (to the end, faded, when its outcome is
// unknown). For a key that is not linearizable, the longest linearizable prefix is green and
// numbered in linearization order, joined by the earliest real-time-consistent linearization
// points; the operation that cannot be placed is red, the other candidates amber.

O.HISTORY_COLOURS = {
  prefix: "46,139,87", stuck: "217,140,0", deadline: "198,40,40", "": "120,136,166",
};
const HISTORY_ROW_HEIGHT = 34;
const HISTORY_LABEL_WIDTH = 96;

O.HistoryView = class {
  constructor(root, data) {
    this.data = data;
    const failed = data.partitions.findIndex((p) => p.status === "not linearizable");
    this.partition = Math.max(0, failed);
    this.selected = -1;
    this.window = new O.TimeWindow(Math.max(1, data.time_end));
    this.build(root);
    this.choose(this.partition);
  }

  build(root) {
    const data = this.data;
    this.root = root;
    root.classList.add("history");
    root.tabIndex = 0;
    const verdictClass = data.verdict === "linearizable" ? "good" : data.verdict === "unknown" ? "unknown" : "bad";
    this.keySelect = O.el("select", { "data-role": "partition", onchange: () => this.choose(Number(this.keySelect.value)) });
    data.partitions.forEach((partition, i) => {
      const mark = partition.status === "not linearizable" ? "✖" : partition.status === "linearizable" ? "✓" : "·";
      this.keySelect.append(O.el("option", { value: i },
        `${mark} ${partition.label || "the history"} — ${partition.status}, ${partition.operations.length} operations`));
    });
    this.readout = O.el("span", { class: "readout" });
    const button = (text, title, onclick) => O.el("button", { title, onclick }, text);
    const toolbar = O.el("div", { class: "toolbar" },
      O.el("span", { class: `verdict ${verdictClass}`, "data-role": "verdict" }, data.verdict),
      O.el("label", {}, "key ", this.keySelect),
      button("Fit", "show the whole key (f)", () => { this.fit(); this.draw(); }),
      button("−", "zoom out (-)", () => { this.window.zoom(2); this.draw(); }),
      button("+", "zoom in (+)", () => { this.window.zoom(0.5); this.draw(); }),
      this.readout,
      O.el("span", { class: "hint" }, "wheel: zoom · drag: pan · click an operation for its details"));
    this.canvas = O.el("canvas", { class: "main", "data-role": "history-canvas" });
    this.scroller = O.el("div", { class: "scroller" }, this.canvas);
    const rgb = O.HISTORY_COLOURS;
    const box = (text, colour, extra) => O.el("span", {}, O.el("i", { class: "box", style: `background: rgba(${colour},0.75); ${extra || ""}` }), text);
    const legend = O.el("div", { class: "legend" },
      box("longest linearizable prefix (numbered in order)", rgb.prefix),
      box("cannot be placed", rgb.deadline), box("could go next, leads nowhere", rgb.stuck),
      box("other operations", rgb[""]), box("failed (did not happen)", "196,201,212"),
      box("outcome unknown (runs to the end)", rgb[""], "opacity: 0.45"));
    this.details = O.el("div", { class: "details", "data-role": "details" });
    const side = O.el("aside", { class: "side" },
      O.el("h3", {}, "Details"), this.details,
      O.el("h3", {}, "Report"), O.el("pre", { class: "report", "data-role": "report" }, data.report));
    root.append(toolbar,
      O.el("div", { class: "body" }, O.el("div", { class: "canvas-column" }, this.scroller, legend), side),
      O.el("div", { class: "stats" },
        `${O.count(data.operations.length)} operations, ${data.partitions.length} keys; times as recorded (nanoseconds for simulated runs)`));
    this.attach();
  }

  choose(index) {
    this.partition = index;
    this.keySelect.value = String(index);
    const partition = this.data.partitions[index];
    this.ops = partition ? partition.operations : [];
    this.rows = partition ? partition.processes : [];
    this.rowOf = new Map(this.rows.map((process, row) => [process, row]));
    const explanation = this.data.explanation;
    this.path = explanation && partition && explanation.partition === partition.label ? this.linearization(explanation) : null;
    this.selected = -1;
    this.fit();
    this.showDetails();
    this.layout();
  }

  // The earliest linearization points consistent with real time along the prefix: each
  // operation takes effect no earlier than it was invoked nor than the one before it.
  linearization(explanation) {
    const points = [];
    let at = -Infinity;
    for (const index of explanation.prefix) {
      const op = this.data.operations[index];
      at = Math.max(at, op.call);
      points.push({ index, t: at });
    }
    return points;
  }

  extent() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const index of this.ops) {
      const op = this.data.operations[index];
      lo = Math.min(lo, op.call);
      hi = Math.max(hi, op.ret === null ? op.call : op.ret);
    }
    if (lo === Infinity) return [0, 1];
    return [lo, Math.max(hi, lo + 1)];
  }

  fit() {
    const [lo, hi] = this.extent();
    const pad = (hi - lo) * 0.03 + 1;
    this.window.end = Math.max(this.data.time_end, hi) + pad;
    this.window.t0 = lo - pad;
    this.window.t1 = hi + pad;
  }

  layout() {
    if (!this.root.classList.contains("shown")) return;
    const width = Math.max(300, this.scroller.clientWidth);
    const height = Math.max(this.scroller.clientHeight - 1, AXIS_HEIGHT + this.rows.length * HISTORY_ROW_HEIGHT + 4);
    this.cssWidth = width;
    this.cssHeight = height;
    this.context = O.sizeCanvas(this.canvas, width, height);
    this.draw();
  }

  barOf(index) {
    const op = this.data.operations[index];
    const row = this.rowOf.get(op.process);
    const tw = this.window;
    const end = op.ret === null ? this.extent()[1] + (tw.t1 - tw.t0) * 0.02 : op.ret;
    const x1 = tw.x(op.call);
    const x2 = Math.max(tw.x(end), x1 + 3);
    const top = AXIS_HEIGHT + row * HISTORY_ROW_HEIGHT + 6;
    return { x1, x2, top, height: HISTORY_ROW_HEIGHT - 12, op };
  }

  draw() {
    if (!this.context) return;
    const c = this.context;
    const tw = this.window;
    tw.x0 = HISTORY_LABEL_WIDTH;
    tw.width = this.cssWidth - HISTORY_LABEL_WIDTH - 12;
    c.clearRect(0, 0, this.cssWidth, this.cssHeight);
    c.fillStyle = "#fff";
    c.fillRect(0, 0, this.cssWidth, this.cssHeight);
    this.rows.forEach((_, row) => {
      c.fillStyle = row % 2 ? "#fafbfd" : "#fff";
      c.fillRect(0, AXIS_HEIGHT + row * HISTORY_ROW_HEIGHT, this.cssWidth, HISTORY_ROW_HEIGHT);
    });
    O.drawAxis(c, tw, HISTORY_LABEL_WIDTH, this.cssWidth, AXIS_HEIGHT, this.cssHeight);
    c.save();
    c.beginPath();
    c.rect(HISTORY_LABEL_WIDTH, AXIS_HEIGHT, this.cssWidth - HISTORY_LABEL_WIDTH, this.cssHeight - AXIS_HEIGHT);
    c.clip();
    c.font = "11px system-ui, sans-serif";
    c.textBaseline = "middle";
    for (const index of this.ops) this.drawBar(c, index);
    this.drawPath(c);
    c.restore();
    c.fillStyle = "#f3f5f9";
    c.fillRect(0, 0, HISTORY_LABEL_WIDTH, this.cssHeight);
    c.fillStyle = "#1d2330";
    c.font = "600 12px system-ui, sans-serif";
    this.rows.forEach((process, row) => {
      c.fillText(`process ${process}`, 8, AXIS_HEIGHT + row * HISTORY_ROW_HEIGHT + HISTORY_ROW_HEIGHT / 2);
    });
    this.readout.textContent = `${O.formatDuration(Math.max(0, tw.t0))} – ${O.formatDuration(tw.t1)}`;
  }

  drawBar(c, index) {
    const bar = this.barOf(index);
    const op = bar.op;
    if (bar.x2 < HISTORY_LABEL_WIDTH || bar.x1 > this.cssWidth) return;
    const failed = op.completion === "fail" && !op.status;
    const rgb = failed ? "196,201,212" : O.HISTORY_COLOURS[op.status] || O.HISTORY_COLOURS[""];
    const unknown = op.ret === null;
    if (unknown) {
      const gradient = c.createLinearGradient(bar.x1, 0, bar.x2, 0);
      gradient.addColorStop(0, `rgba(${rgb},0.75)`);
      gradient.addColorStop(1, `rgba(${rgb},0.08)`);
      c.fillStyle = gradient;
    } else {
      c.fillStyle = `rgba(${rgb},${failed ? 0.5 : 0.8})`;
    }
    c.fillRect(bar.x1, bar.top, bar.x2 - bar.x1, bar.height);
    c.strokeStyle = `rgb(${rgb})`;
    c.lineWidth = op.status === "deadline" ? 2.5 : 1;
    c.setLineDash(failed || unknown ? [4, 3] : []);
    c.strokeRect(bar.x1 + 0.5, bar.top + 0.5, bar.x2 - bar.x1 - 1, bar.height - 1);
    c.setLineDash([]);
    if (index === this.selected) {
      c.strokeStyle = "#ffb300";
      c.lineWidth = 3;
      c.strokeRect(bar.x1 - 2, bar.top - 2, bar.x2 - bar.x1 + 4, bar.height + 4);
    }
    const text = (op.order ? `${op.order}. ` : "") + O.describeOperation(op);
    const left = Math.max(bar.x1, HISTORY_LABEL_WIDTH) + 4;
    const shown = O.fitText(c, text, bar.x2 - left - 3);
    if (shown) {
      c.fillStyle = op.status === "" || failed ? "#1d2330" : "#fff";
      c.fillText(shown, left, bar.top + bar.height / 2);
    }
  }

  // The linearization order: dots at the earliest consistent points, joined; then a dashed
  // red line to where the operation that cannot be placed returned.
  drawPath(c) {
    if (!this.path || !this.path.length) return;
    const tw = this.window;
    const points = this.path.map((p) => {
      const bar = this.barOf(p.index);
      return { x: tw.x(p.t), y: bar.top + bar.height / 2 };
    });
    c.strokeStyle = "rgba(20,90,50,0.85)";
    c.lineWidth = 1.5;
    c.beginPath();
    points.forEach((p, i) => (i ? c.lineTo(p.x, p.y) : c.moveTo(p.x, p.y)));
    c.stroke();
    c.fillStyle = "#145a32";
    for (const p of points) { c.beginPath(); c.arc(p.x, p.y, 3, 0, 2 * Math.PI); c.fill(); }
    const explanation = this.data.explanation;
    const deadline = this.data.operations[explanation.deadline];
    if (deadline && this.rowOf.has(deadline.process)) {
      const bar = this.barOf(explanation.deadline);
      const last = points[points.length - 1];
      const x = deadline.ret === null ? bar.x2 : tw.x(deadline.ret);
      const y = bar.top + bar.height / 2;
      c.strokeStyle = "rgba(198,40,40,0.9)";
      c.setLineDash([5, 4]);
      c.beginPath(); c.moveTo(last.x, last.y); c.lineTo(x, y); c.stroke();
      c.setLineDash([]);
      O.cross(c, x, y, 6, "#c62828", 3);
    }
  }

  attach() {
    let drag = null;
    const local = (event) => {
      const box = this.canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    };
    this.canvas.addEventListener("mousedown", (event) => {
      if (event.button !== 0) return;
      const p = local(event);
      drag = { x: p.x, y: p.y, t0: this.window.t0, t1: this.window.t1, moved: false };
      event.preventDefault();
      this.root.focus({ preventScroll: true });
    });
    window.addEventListener("mousemove", (event) => {
      if (!drag) return;
      const p = local(event);
      if (Math.abs(p.x - drag.x) > 3) drag.moved = true;
      if (!drag.moved) return;
      const dt = (p.x - drag.x) * (drag.t1 - drag.t0) / this.window.width;
      this.window.t0 = drag.t0 - dt;
      this.window.t1 = drag.t1 - dt;
      this.draw();
    });
    window.addEventListener("mouseup", (event) => {
      if (!drag) return;
      const finished = drag;
      drag = null;
      if (!finished.moved) {
        const p = local(event);
        this.select(this.hit(p.x, p.y));
      }
    });
    this.canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const p = local(event);
      const w = this.window;
      const factor = Math.exp(event.deltaY * 0.0015);
      const anchor = w.t(p.x);
      w.t0 = anchor - (anchor - w.t0) * factor;
      w.t1 = anchor + (w.t1 - anchor) * factor;
      this.draw();
    }, { passive: false });
    this.root.addEventListener("keydown", (event) => {
      if (event.key === "f") this.fit();
      else if (event.key === "+" || event.key === "=") this.window.zoom(0.5);
      else if (event.key === "-") this.window.zoom(2);
      else if (event.key === "Escape") this.select(-1);
      else return;
      event.preventDefault();
      this.draw();
    });
  }

  hit(x, y) {
    const row = Math.floor((y - AXIS_HEIGHT) / HISTORY_ROW_HEIGHT);
    const process = this.rows[row];
    if (process === undefined || x < HISTORY_LABEL_WIDTH) return -1;
    let best = -1;
    for (const index of this.ops) {
      const op = this.data.operations[index];
      if (op.process !== process) continue;
      const bar = this.barOf(index);
      if (x >= bar.x1 - 3 && x <= bar.x2 + 3 && y >= bar.top - 2 && y <= bar.top + bar.height + 2) best = index;
    }
    return best;
  }

  select(index) {
    this.selected = index;
    this.showDetails();
    this.draw();
  }

  showDetails() {
    const details = this.details;
    details.replaceChildren();
    const data = this.data;
    const explanation = data.explanation;
    const partition = data.partitions[this.partition];
    if (this.selected < 0) {
      if (explanation && partition && explanation.partition === partition.label) {
        const deadline = data.operations[explanation.deadline];
        details.append(
          O.el("p", { class: "failure-text" }, `${partition.label || "The history"} has no linearization.`),
          O.el("p", {}, `The longest linearizable prefix has ${explanation.prefix.length} operations (green, numbered); the model's state after it is ${explanation.state_after_prefix}.`),
          O.el("p", {}, `Operation #${explanation.deadline} (${O.describeOperation(deadline)}, process ${deadline.process}) cannot be placed: it returned at ${deadline.ret === null ? "an unknown time" : O.formatDuration(deadline.ret)} and no order of what could go next explains it.`),
          O.el("div", { class: "links" }, O.el("a", { onclick: () => this.select(explanation.deadline) }, "show it")));
      } else {
        details.append(O.el("p", { class: "empty" },
          partition ? `${partition.label || "The history"}: ${partition.status}. Click an operation for its details.` : "An empty history."));
      }
      return;
    }
    const op = data.operations[this.selected];
    const status = {
      prefix: `in the longest linearizable prefix, position ${op.order} of ${explanation ? explanation.prefix.length : "?"}`,
      stuck: "could have been linearized next, but every choice led to a dead end",
      deadline: "cannot be placed: it had to take effect before it returned, and no order allows it",
      "": "",
    }[op.status];
    const rows = [
      ["operation", `#${this.selected}`], ["process", op.process], ["function", op.function],
      ["key", op.key ?? "—"], ["input", op.input], ["completion", op.completion],
      ["output", op.output ?? "—"], ["invoked", O.formatDuration(op.call)],
      ["completed", op.ret === null ? "unknown (may or may not have happened)" : O.formatDuration(op.ret)],
    ];
    if (op.model_description) rows.push(["model", op.model_description]);
    if (status) rows.push(["status", status]);
    details.append(O.el("table", { "data-role": "fields" },
      ...rows.map(([name, value]) => O.el("tr", { "data-field": name }, O.el("th", {}, name), O.el("td", {}, String(value))))));
  }

  // Automation: where operation `index` is drawn, in client coordinates.
  clientPoint(index) {
    const bar = this.barOf(index);
    const box = this.canvas.getBoundingClientRect();
    const left = Math.max(bar.x1, HISTORY_LABEL_WIDTH);
    const right = Math.min(bar.x2, this.cssWidth);
    return { x: box.left + (left + right) / 2, y: box.top + bar.top + bar.height / 2 };
  }
};

// `read -> 2`, `write 3`, `cas [1 2] -> fail`: what an operation did, in few words.
O.describeOperation = function (op) {
  const input = op.input === "nil" ? "" : ` ${op.input}`;
  const result = op.completion === "ok" ? (op.output !== null && op.output !== "nil" && op.output !== op.input ? ` → ${op.output}` : "")
    : op.completion === "fail" ? " → fail" : " → ?";
  return `${op.function}${input}${result}`;
};
