// The page's bootstrap: reads the embedded data, makes a tab per view, draws the first one
// and says how long that took. `window.orrery` exposes the views and the timings for
// automation (the browser test reads them); `document.body.dataset.ready` is set once drawn.

(function () {
  const api = { ready: false, error: null };
  window.orrery = api;
  const status = document.getElementById("status");
  try {
    const parseStart = performance.now();
    const data = JSON.parse(document.getElementById("orrery-data").textContent);
    api.parseMs = performance.now() - parseStart;
    const views = document.getElementById("views");
    const tabs = document.getElementById("tabs");
    const made = [];
    const add = (name, key, make) => {
      const root = O.el("section", { class: "view", "data-view": key, "aria-label": name });
      views.append(root);
      const tab = O.el("button", { "data-tab": key }, name);
      tabs.append(tab);
      const entry = { name, key, root, tab, make, view: null };
      tab.addEventListener("click", () => show(entry));
      made.push(entry);
    };
    const show = (entry) => {
      for (const other of made) {
        other.root.classList.toggle("shown", other === entry);
        other.tab.classList.toggle("active", other === entry);
      }
      if (!entry.view) {
        entry.view = entry.make(entry.root);
        api[entry.key] = entry.view;
      }
      entry.view.layout();
      entry.root.focus({ preventScroll: true });
    };
    if (data.spacetime) add("Space-time", "spacetime", (root) => new O.SpaceTimeView(root, data.spacetime));
    if (data.history) add("History", "history", (root) => new O.HistoryView(root, data.history));
    if (made.length < 2) tabs.style.display = "none";
    api.show = (key) => show(made.find((entry) => entry.key === key));
    if (made.length) show(made[0]);
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => made.forEach((entry) => entry.view && entry.root.classList.contains("shown") && entry.view.layout()), 60);
    });
    // performance.now() counts from the start of navigation: reading the file, parsing the
    // HTML and the data, indexing and the first draw.
    api.loadMs = performance.now();
    const spacetime = data.spacetime;
    const what = spacetime
      ? `${O.count(spacetime.events.t.length)} events, ${O.count(spacetime.messages.end.length)} messages`
      : `${O.count(data.history.operations.length)} operations`;
    status.textContent = `${what} · drawn ${Math.round(api.loadMs)} ms after opening (data parsed in ${Math.round(api.parseMs)} ms)`;
    api.ready = true;
    document.body.dataset.ready = "1";
  } catch (error) {
    api.error = String(error && error.stack || error);
    document.getElementById("views").append(O.el("pre", { class: "page-error" }, `This page could not be drawn: ${api.error}`));
    console.error(error);
  }
})();
