// The live leaderboard page: the board is pushed by the API (server-sent events) when it
// changes, with a fallback to polling every 2 s; animates the bars.
// Plain JS, no dependencies, no build step.
(() => {
  "use strict";

  const POLL_MS = 2000;
  const PUSH_RETRY_MS = 15000;  // after a failed push connection, poll this long, then retry
  const OPTIONS_MS = 30000;
  const STALE_MS = 5 * 60 * 1000;
  const LIMIT = 10;
  const PAST_DAYS = 7;  // past UTC days offered in the window selector (daily boards)
  const DAY_REFRESH_MS = 60000;  // a day's board changes at most when Dagster rebuilds it
  // Short texts for the selector; the footnote says the API's full label.
  const BY_TEXT = { product_material: "Product × material", product: "Product",
    variant: "Variant (× seller)" };

  const $ = (id) => document.getElementById(id);
  const el = {
    metric: $("metric"), by: $("by"), scope: $("scope"), window: $("window"), chart: $("chart"),
    empty: $("empty"), title: $("board-title"), range: $("window-range"),
    updated: $("updated"), checked: $("checked"), status: $("status"),
    statusText: $("status-text"), totalItems: $("total-items"), totalLabel: $("total-label"),
    totalValue: $("total-value"), currency: $("currency"), mode: $("mode"), ranked: $("ranked"),
  };

  const params = new URLSearchParams(location.search);
  const state = {
    metric: params.get("metric") === "revenue" ? "revenue" : "quantity",
    by: params.get("by") || null,  // null: the API's default, once the options say it
    scope: (params.get("scope") || "GLOBAL").toUpperCase(),
    window: params.get("window") || "all",
    currency: "USD",
    options: null,
    board: null,
    seq: 0,
    timer: null,
    source: null,  // the EventSource while the board is pushed
    pushBroken: 0,  // when the push connection last failed (ms), 0 if it did not
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
    if (w.day) return `${w.day} (UTC day)`;
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
      fillGranularities(o);
      fillScopes(o.scopes);
      fillWindows(o);
    } catch (err) {
      setStatus("error", "API unreachable, retrying…");
    }
  }

  function fillGranularities(o) {
    if (el.by.options.length !== o.granularities.length) {
      el.by.replaceChildren(...o.granularities.map((g) => new Option(BY_TEXT[g.code] || g.label,
        g.code)));
    }
    if (!state.by || !o.granularities.some((g) => g.code === state.by)) {
      state.by = o.default_granularity;
    }
    el.by.value = state.by;
    showRanked();
  }

  function showRanked() {
    const g = state.options && state.options.granularities.find((x) => x.code === state.by);
    el.ranked.textContent = g ? g.label : (el.by.selectedOptions[0] || {}).textContent || "";
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
    const days = document.createElement("optgroup");
    days.label = "Days (UTC), built by Dagster";
    for (let n = 0; n <= PAST_DAYS; n += 1) {
      const day = new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
      ids.add(`day:${day}`);
      days.append(new Option(n === 0 ? `${day} (today so far)` : day, `day:${day}`));
    }
    if (!ids.has(state.window)) {
      group.prepend(new Option(state.window, state.window));
    }
    el.window.replaceChildren(...fixed, ...(group.children.length ? [group] : []), days);
    el.window.value = state.window;
  }

  // --- rendering -----------------------------------------------------------------
  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.statusText.textContent = text;
  }

  // One row per item at the board's granularity: (product, material or "", variant or "").
  function entryKey(e) {
    return `${e.product_id}|${e.material ?? ""}|${e.variant_id ?? ""}`;
  }

  function rowFor(entry) {
    const li = document.createElement("li");
    li.className = "row new";
    li.dataset.key = entryKey(entry);
    li.dataset.product = String(entry.product_id);
    if (entry.material !== null) li.dataset.material = entry.material;
    if (entry.variant_id !== null) li.dataset.variant = String(entry.variant_id);
    li.innerHTML = `
      <span class="rank"></span>
      <div class="name">
        <div class="product"></div>
        <div class="detail"><span class="material"></span><span class="seller"></span>` +
          `<span class="secondary"></span></div>
      </div>
      <div class="barwrap"><div class="track"><div class="bar"></div></div>
        <span class="value"></span></div>`;
    setTimeout(() => li.classList.remove("new"), 700);
    return li;
  }

  function render(board) {
    const metricLabel = board.metric === "revenue" ? "Revenue" : "Units sold";
    el.title.textContent = `${metricLabel} · ${scopeName(board.scope)} · ${windowLabel(board.window)}`;
    el.range.textContent = board.window.day
      ? `Orders confirmed on ${board.window.day} (UTC)` + (board.final
        ? ", cancellations until the next day's end retracted (final)"
        : `, until ${timeOfDay(board.counted_until)}; cancellations so far retracted`)
      : board.window.id === "all"
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
    for (const li of el.chart.children) before.set(li.dataset.key, li.getBoundingClientRect().top);
    const existing = new Map([...el.chart.children].map((li) => [li.dataset.key, li]));
    const max = Math.max(...entries.map((e) => Number(e.value)), 0) || 1;
    const rows = entries.map((e) => {
      const key = entryKey(e);
      const li = existing.get(key) || rowFor(e);
      existing.delete(key);
      li.querySelector(".rank").textContent = String(e.rank);
      li.querySelector(".product").textContent = e.product_name;
      li.querySelector(".product").title = e.variant_id === null ? e.name
        : `${e.name} (variant ${e.variant_id})`;
      const material = li.querySelector(".material");
      material.textContent = e.material ?? "";
      material.hidden = e.material === null;
      const seller = li.querySelector(".seller");
      seller.textContent = e.variant_id === null ? "" : `sold by ${e.seller ?? `variant ${e.variant_id}`}`;
      seller.hidden = e.variant_id === null;
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
    el.chart.dataset.by = board.by;
    el.chart.replaceChildren(...rows);
    for (const li of rows) {
      const old = before.get(li.dataset.key);
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
    if (b && b.window && b.window.day) {
      setStatus("live", b.final ? "final day" : "provisional day");
      return;
    }
    if (b && b.updated_at && Date.now() - new Date(b.updated_at).getTime() > STALE_MS) {
      setStatus("stale", `live · no new sales for ${ago(b.updated_at).replace(" ago", "")}`);
    } else if (state.lastOk) {
      setStatus("live", "live");
    }
  }

  // --- live updates: pushed (server-sent events), else polled -------------------------
  function query() {
    return `?by=${encodeURIComponent(state.by)}&scope=${encodeURIComponent(state.scope)}` +
      `&window=${encodeURIComponent(state.window)}&limit=${LIMIT}`;
  }

  function received(board) {
    state.lastOk = new Date();
    state.failures = 0;
    render(board);
  }

  function failed(message) {
    state.failures += 1;
    setStatus("error", `${message || "API unreachable"} · retrying`);
  }

  function stopUpdates() {
    clearTimeout(state.timer);
    if (state.source) state.source.close();
    state.source = null;
  }

  // (Re)start updates for the current selection: push when the browser and the API can,
  // polling while a push connection fails (and for PUSH_RETRY_MS after it failed).
  function follow() {
    stopUpdates();
    const seq = ++state.seq;
    if (state.window.startsWith("day:")) {
      dayBoard(seq, state.window.slice(4));
      return;
    }
    const sinceBroken = Date.now() - state.pushBroken;
    if (window.EventSource && sinceBroken > PUSH_RETRY_MS) {
      push(seq);
      return;
    }
    poll(seq);
    if (window.EventSource) {  // try the push again once PUSH_RETRY_MS have passed
      state.timer = setTimeout(() => { if (seq === state.seq) follow(); },
        PUSH_RETRY_MS - sinceBroken + 1);
    }
  }

  function push(seq) {
    el.mode.textContent = "pushed when it changes";
    const source = new EventSource(`/leaderboards/${state.metric}/stream${query()}`);
    state.source = source;
    source.addEventListener("board", (ev) => {
      if (seq === state.seq) received(JSON.parse(ev.data));
    });
    source.addEventListener("alive", () => {
      if (seq !== state.seq) return;
      state.lastOk = new Date();
      state.failures = 0;
      tickTimes();
    });
    source.addEventListener("unavailable", (ev) => {  // the API is up, Cassandra is not
      if (seq === state.seq) failed(JSON.parse(ev.data).error.message);
    });
    source.onerror = () => {  // the connection failed or broke: poll instead, retry later
      if (seq !== state.seq) return;
      source.close();
      state.source = null;
      state.pushBroken = Date.now();
      poll(seq);
      state.timer = setTimeout(() => { if (seq === state.seq) follow(); }, PUSH_RETRY_MS);
    };
  }

  async function poll(seq) {
    el.mode.textContent = `refreshes every ${POLL_MS / 1000} s`;
    try {
      const board = await getJSON(`/leaderboards/${state.metric}${query()}`);
      if (seq === state.seq) received(board);
    } catch (err) {
      if (seq === state.seq) failed(err.message);
    } finally {
      if (seq === state.seq && !state.source) {
        setTimeout(() => { if (seq === state.seq) poll(seq); }, POLL_MS);
      }
    }
  }

  // A past day's board (GET /leaderboards/{metric}/daily/{day}), re-read once a minute.
  async function dayBoard(seq, day) {
    el.mode.textContent = "one UTC day, rebuilt by Dagster";
    try {
      const q = `?by=${encodeURIComponent(state.by)}&scope=${encodeURIComponent(state.scope)}` +
        `&limit=${LIMIT}`;
      const board = await getJSON(`/leaderboards/${state.metric}/daily/${day}${q}`);
      if (seq === state.seq) received({ ...board, window: { id: `day:${day}`, day } });
    } catch (err) {
      if (seq === state.seq) {
        el.chart.replaceChildren();
        el.empty.hidden = false;
        failed(err.message);
      }
    } finally {
      if (seq === state.seq) {
        state.timer = setTimeout(() => { if (seq === state.seq) dayBoard(seq, day); },
          DAY_REFRESH_MS);
      }
    }
  }

  function syncUrl() {
    const p = new URLSearchParams({ metric: state.metric, by: state.by, scope: state.scope,
      window: state.window });
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
    follow();
  });
  el.by.addEventListener("change", () => {
    state.by = el.by.value;
    showRanked();
    el.chart.replaceChildren();
    syncUrl();
    follow();
  });
  el.scope.addEventListener("change", async () => {
    state.scope = el.scope.value;
    el.chart.replaceChildren();
    syncUrl();
    follow();
    await loadOptions();
  });
  el.window.addEventListener("change", () => {
    state.window = el.window.value;
    el.chart.replaceChildren();
    syncUrl();
    follow();
  });

  selectMetric(state.metric);
  setInterval(tickTimes, 1000);
  setInterval(loadOptions, OPTIONS_MS);
  loadOptions().then(() => {
    if (!state.by) state.by = el.by.value;  // options unreachable: the page's default
    syncUrl();
    follow();
  });
})();
