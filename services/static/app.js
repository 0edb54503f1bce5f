// The live leaderboard page: polls the API every 2 s and animates the bars.
// Plain JS, no dependencies, no build step.
(() => {
  "use strict";

  const POLL_MS = 2000;
  const OPTIONS_MS = 30000;
  const STALE_MS = 5 * 60 * 1000;
  const LIMIT = 10;

  const $ = (id) => document.getElementById(id);
  const el = {
    metric: $("metric"), scope: $("scope"), window: $("window"), chart: $("chart"),
    empty: $("empty"), title: $("board-title"), range: $("window-range"),
    updated: $("updated"), checked: $("checked"), status: $("status"),
    statusText: $("status-text"), totalItems: $("total-items"), totalLabel: $("total-label"),
    totalValue: $("total-value"), currency: $("currency"),
  };

  const params = new URLSearchParams(location.search);
  const state = {
    metric: params.get("metric") === "revenue" ? "revenue" : "quantity",
    scope: (params.get("scope") || "GLOBAL").toUpperCase(),
    window: params.get("window") || "all",
    currency: "USD",
    options: null,
    board: null,
    seq: 0,
    timer: null,
    lastOk: null,
    failures: 0,
  };

  // --- formatting (exact: money stays a decimal string) ---------------------------
  const intFmt = new Intl.NumberFormat("en-US");
  function groupDigits(intPart) {
    return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function currencySymbol(code) {
    try {
      const parts = new Intl.NumberFormat("en-US", { style: "currency", currency: code })
        .formatToParts(0);
      return (parts.find((p) => p.type === "currency") || { value: code + " " }).value;
    } catch (_) {
      return code + " ";
    }
  }
  function money(text) {
    const negative = text.startsWith("-");
    const [i, f = "00"] = (negative ? text.slice(1) : text).split(".");
    return (negative ? "−" : "") + currencySymbol(state.currency) + groupDigits(i) + "." +
      (f + "00").slice(0, 2);
  }
  function units(n) {
    return intFmt.format(n) + (n === 1 ? " unit" : " units");
  }
  function addDecimal(a, b) {  // exact sum of two 2-place decimal strings, via integer cents
    const cents = (s) => BigInt(s.replace(".", "").replace(/^(-?)0+(?=\d)/, "$1") || "0");
    const norm = (s) => (s.includes(".") ? s + "00".slice(s.split(".")[1].length) : s + ".00");
    const c = cents(norm(a)) + cents(norm(b));
    const neg = c < 0n;
    const abs = (neg ? -c : c).toString().padStart(3, "0");
    return (neg ? "-" : "") + abs.slice(0, -2) + "." + abs.slice(-2);
  }
  function timeOfDay(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function windowLabel(w) {
    if (!w || w.id === "all") return "All time";
    const d = new Date(w.start);
    const day = d.toLocaleDateString([], { day: "numeric", month: "short" });
    return `${day}, ${timeOfDay(w.start)} – ${timeOfDay(w.end)}`;
  }
  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return new Date(iso).toLocaleString();
  }

  // --- API --------------------------------------------------------------------
  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw new Error(message || `HTTP ${response.status}`);
    }
    return body;
  }

  function scopeName(code) {
    const scopes = state.options ? state.options.scopes : [];
    const s = scopes.find((x) => x.code === code);
    return s ? s.name : code;
  }

  async function loadOptions() {
    try {
      const o = await getJSON(`/leaderboards/options?scope=${encodeURIComponent(state.scope)}`);
      state.options = o;
      state.currency = o.currency;
      el.currency.textContent = o.currency;
      fillScopes(o.scopes);
      fillWindows(o);
    } catch (err) {
      setStatus("error", "API unreachable, retrying…");
    }
  }

  function fillScopes(scopes) {
    if (el.scope.options.length === scopes.length) return;
    el.scope.replaceChildren(...scopes.map((s) => {
      const o = new Option(s.code === "GLOBAL" ? s.name : `${s.name} (${s.code})`, s.code);
      return o;
    }));
    if (!scopes.some((s) => s.code === state.scope)) state.scope = "GLOBAL";
    el.scope.value = state.scope;
  }

  function fillWindows(o) {
    const fixed = [new Option("All time", "all"),
      new Option(`Last ${o.window_duration} (sliding)`, "current")];
    const group = document.createElement("optgroup");
    group.label = `Windows of ${o.window_duration}, every ${o.window_slide}`;
    const ids = new Set(["all", "current"]);
    for (const w of o.windows) {
      ids.add(w.id);
      group.append(new Option(windowLabel(w), w.id));
    }
    if (!ids.has(state.window)) {
      group.prepend(new Option(state.window, state.window));
    }
    el.window.replaceChildren(...fixed, ...(group.children.length ? [group] : []));
    el.window.value = state.window;
  }

  // --- rendering -----------------------------------------------------------------
  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.statusText.textContent = text;
  }

  function rowFor(entry) {
    const li = document.createElement("li");
    li.className = "row new";
    li.dataset.variant = String(entry.variant_id);
    li.innerHTML = `
      <span class="rank"></span>
      <div class="name">
        <div class="product"></div>
        <div class="detail"><span class="material"></span><span class="secondary"></span></div>
      </div>
      <div class="barwrap"><div class="track"><div class="bar"></div></div>
        <span class="value"></span></div>`;
    setTimeout(() => li.classList.remove("new"), 700);
    return li;
  }

  function render(board) {
    const metricLabel = board.metric === "revenue" ? "Revenue" : "Units sold";
    el.title.textContent = `${metricLabel} · ${scopeName(board.scope)} · ${windowLabel(board.window)}`;
    el.range.textContent = board.window.id === "all"
      ? "Every confirmed order since the shop opened, cancellations retracted"
      : `Orders confirmed ${new Date(board.window.start).toLocaleString()} – ${timeOfDay(board.window.end)}`;

    const entries = board.entries;
    el.empty.hidden = entries.length > 0;
    el.totalItems.textContent = String(entries.length);
    if (board.metric === "revenue") {
      el.totalLabel.textContent = "Revenue of top";
      el.totalValue.textContent = money(entries.reduce((a, e) => addDecimal(a, e.value), "0.00"));
    } else {
      el.totalLabel.textContent = "Units in top";
      el.totalValue.textContent = intFmt.format(entries.reduce((a, e) => a + e.quantity, 0));
    }

    // FLIP: remember where rows were, rebuild in rank order, then slide them into place.
    const before = new Map();
    for (const li of el.chart.children) before.set(li.dataset.variant, li.getBoundingClientRect().top);
    const existing = new Map([...el.chart.children].map((li) => [li.dataset.variant, li]));
    const max = Math.max(...entries.map((e) => Number(e.value)), 0) || 1;
    const rows = entries.map((e) => {
      const key = String(e.variant_id);
      const li = existing.get(key) || rowFor(e);
      existing.delete(key);
      li.querySelector(".rank").textContent = String(e.rank);
      li.querySelector(".product").textContent = e.product_name;
      li.querySelector(".product").title = `${e.product_name} (${e.material}), variant ${e.variant_id}`;
      li.querySelector(".material").textContent = e.material;
      li.querySelector(".secondary").textContent = board.metric === "revenue"
        ? units(e.quantity) : money(e.revenue_usd);
      const valueText = board.metric === "revenue" ? money(e.value) : intFmt.format(Number(e.value));
      const value = li.querySelector(".value");
      if (value.textContent && value.textContent !== valueText) {
        value.classList.add("bump");
        requestAnimationFrame(() => requestAnimationFrame(() => value.classList.remove("bump")));
      }
      value.textContent = valueText;
      value.dataset.value = e.value;
      li.querySelector(".bar").style.width = `${(Number(e.value) / max) * 100}%`;
      return li;
    });
    el.chart.replaceChildren(...rows);
    for (const li of rows) {
      const old = before.get(li.dataset.variant);
      if (old === undefined) continue;
      const delta = old - li.getBoundingClientRect().top;
      if (!delta) continue;
      li.style.transition = "none";
      li.style.transform = `translateY(${delta}px)`;
      requestAnimationFrame(() => {
        li.style.transition = "";
        li.style.transform = "";
      });
    }

    state.board = board;
    tickTimes();
  }

  function tickTimes() {
    const b = state.board;
    if (b && b.updated_at) {
      el.updated.dateTime = b.updated_at;
      el.updated.textContent = ago(b.updated_at);
      el.updated.title = new Date(b.updated_at).toLocaleString();
    } else {
      el.updated.textContent = "never";
    }
    if (state.lastOk) el.checked.textContent = state.lastOk.toLocaleTimeString();
    if (state.failures) return;
    if (b && b.updated_at && Date.now() - new Date(b.updated_at).getTime() > STALE_MS) {
      setStatus("stale", `live · no new sales for ${ago(b.updated_at).replace(" ago", "")}`);
    } else if (state.lastOk) {
      setStatus("live", "live");
    }
  }

  // --- polling -------------------------------------------------------------------
  async function refresh() {
    clearTimeout(state.timer);
    const seq = ++state.seq;
    const url = `/leaderboards/${state.metric}?scope=${encodeURIComponent(state.scope)}` +
      `&window=${encodeURIComponent(state.window)}&limit=${LIMIT}`;
    try {
      const board = await getJSON(url);
      if (seq !== state.seq) return;  // a newer request (selection changed) is on its way
      state.lastOk = new Date();
      state.failures = 0;
      render(board);
    } catch (err) {
      if (seq !== state.seq) return;
      state.failures += 1;
      setStatus("error", `${err.message || "API unreachable"} · retrying`);
    } finally {
      if (seq === state.seq) state.timer = setTimeout(refresh, POLL_MS);
    }
  }

  function syncUrl() {
    const p = new URLSearchParams({ metric: state.metric, scope: state.scope, window: state.window });
    history.replaceState(null, "", `?${p}`);
  }

  function selectMetric(metric) {
    state.metric = metric;
    for (const b of el.metric.querySelectorAll("button")) {
      b.setAttribute("aria-checked", String(b.dataset.metric === metric));
    }
  }

  el.metric.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-metric]");
    if (!b || b.dataset.metric === state.metric) return;
    selectMetric(b.dataset.metric);
    el.chart.replaceChildren();
    syncUrl();
    refresh();
  });
  el.scope.addEventListener("change", async () => {
    state.scope = el.scope.value;
    el.chart.replaceChildren();
    syncUrl();
    refresh();
    await loadOptions();
  });
  el.window.addEventListener("change", () => {
    state.window = el.window.value;
    el.chart.replaceChildren();
    syncUrl();
    refresh();
  });

  selectMetric(state.metric);
  setInterval(tickTimes, 1000);
  setInterval(loadOptions, OPTIONS_MS);
  loadOptions().then(refresh);
})();
