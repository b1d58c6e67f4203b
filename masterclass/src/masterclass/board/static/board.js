/* The results board in the browser: the event stream, the tables, the charts, the tutor switch.
 *
 * The service sends the viewer's whole board (rows, class summary, game tally) as one
 * Server-Sent Event whenever anything changes, and a ping every few seconds. This page
 * draws it; it never asks for names it was not sent. A lost stream is shown as lost and
 * reconnected; if the login has expired on the way, the page reloads (and logs in again).
 * Charts: uPlot (static/vendor, MIT). No other script, style or font is loaded.
 */
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("board-config").textContent);
  const T = cfg.texts;
  const CH = ["q", "e", "m", "t"];
  const COLOURS = { pairs: "#0b5cad", own: "#d04a00", sm: "#777", median: "#111" };
  const $ = (id) => document.getElementById(id);

  let board = null;
  let source = null;
  let lastMessage = Date.now();
  let reconnectTimer = null;
  let charts = [];
  const seen = new Map();

  // -- formatting ----------------------------------------------------------

  const formats = {};
  function num(value, digits) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    formats[digits] = formats[digits] || new Intl.NumberFormat(cfg.lang, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    return formats[digits].format(value);
  }
  const pct = (share, digits = 1) => (share === null || share === undefined ? "–" : num(100 * share, digits));
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
  const clock = (iso) => new Date(iso).toLocaleTimeString(cfg.lang, { hour: "2-digit", minute: "2-digit" });

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "data") Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // -- who is named how ----------------------------------------------------

  function rowLabel(row) {
    if (board.kind === "pair") return row.own ? `${row.name} (${T.you})` : row.id;
    return board.names ? row.name : row.id;
  }

  function shortLabel(row) {
    if (board.kind === "projector" && board.names) return row.name.replace(/^pair-/, "");
    return row.own ? T.you : row.id;
  }

  function orderedRows() {
    const rows = [...board.rows];
    if (board.kind === "projector" && !board.names) {
      rows.sort((a, b) => a.id.length - b.id.length || a.id.localeCompare(b.id));
    }
    return rows;
  }

  // -- the connection --------------------------------------------------------

  function setState(state) {
    document.body.dataset.state = state;
    const status = $("status");
    if (state === "lost") status.textContent = T.lost;
    else if (state === "connecting") status.textContent = T.connecting;
    else if (board && board.frozen) status.textContent = fill(T.frozen, { time: clock(board.frozen) });
    else status.textContent = T.live;
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(`${cfg.events}?_xsrf=${encodeURIComponent(cfg.xsrf)}`);
    source.addEventListener("board", (event) => {
      lastMessage = Date.now();
      render(JSON.parse(event.data));
    });
    source.addEventListener("ping", () => {
      lastMessage = Date.now();
      if (document.body.dataset.state === "lost") setState(board && board.frozen ? "frozen" : "live");
    });
    source.addEventListener("error", () => {
      setState("lost");
      // CLOSED: the browser gave up (the hub answered with an error page): retry ourselves.
      if (source.readyState === EventSource.CLOSED) reconnectSoon();
    });
  }

  function reconnectSoon() {
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(async () => {
      try {
        const answer = await fetch(cfg.board, {
          headers: { "X-XSRFToken": cfg.xsrf },
          credentials: "same-origin",
          redirect: "manual",
        });
        // The login expired (a redirect to the hub, or a 403): the page logs in again.
        if (answer.type === "opaqueredirect" || answer.status === 403) {
          window.location.reload();
          return;
        }
        if (answer.ok) render(await answer.json());
      } catch (error) {
        // The hub is still restarting; the next try comes soon.
      }
      lastMessage = Date.now();
      connect();
    }, cfg.retry);
  }

  // A stream that stays silent longer than a few pings is dead even if the browser thinks not.
  setInterval(() => {
    if (Date.now() - lastMessage > cfg.heartbeat * 2500 + 2000) {
      setState("lost");
      lastMessage = Date.now();
      reconnectSoon();
    }
  }, 1000);

  // -- drawing ---------------------------------------------------------------

  function render(data) {
    board = data;
    document.body.dataset.seq = data.seq;
    document.body.dataset.names = data.names ? "shown" : "hidden";
    document.body.dataset.frozen = data.frozen ? "yes" : "no";
    setState(data.frozen ? "frozen" : "live");
    renderHeader();
    renderTable();
    renderConfusion();
    renderGame();
    scheduleCharts();
  }

  // The tables follow every event at once; the charts at most every CHART_PAUSE ms, so a
  // burst of posts (a whole class at the same cell) does not keep a weak laptop drawing.
  const CHART_PAUSE = 400;
  let chartTimer = null;
  let chartsDrawn = 0;
  function scheduleCharts() {
    if (chartTimer !== null) return;
    const wait = Math.max(0, CHART_PAUSE - (Date.now() - chartsDrawn));
    chartTimer = setTimeout(() => {
      chartTimer = null;
      chartsDrawn = Date.now();
      window.requestAnimationFrame(renderCharts);
    }, wait);
  }

  function renderHeader() {
    $("count").textContent = fill(T.pairs, { count: board.rows.length });
    const banner = $("banner");
    if (board.frozen) {
      banner.hidden = false;
      banner.textContent =
        board.kind === "pair"
          ? T.pair_frozen
          : `${fill(T.frozen, { time: clock(board.frozen) })}. ${fill(T.held_back, { count: board.held_back })}`;
    } else {
      banner.hidden = true;
    }
    const freeze = $("freeze");
    if (freeze) {
      freeze.textContent = board.frozen ? T.reveal : T.freeze;
      freeze.setAttribute("aria-pressed", board.frozen ? "true" : "false");
      const names = $("names");
      names.textContent = board.names ? T.names_hide : T.names_show;
      names.setAttribute("aria-pressed", board.names ? "false" : "true");
    }
  }

  function shareCell(values, errors, channel, first, group) {
    const share = values ? values[channel] : null;
    const cell = el("td", { class: first ? `${group}-first` : "", data: { channel } });
    if (share === null || share === undefined) {
      cell.append(el("span", { class: "na" }, "–"));
      return cell;
    }
    cell.append(pct(share));
    if (errors && errors[channel] !== null && errors[channel] !== undefined) {
      cell.append(el("span", { class: "err" }, `± ${pct(errors[channel])}`));
    }
    return cell;
  }

  function renderTable() {
    const head = $("head");
    head.replaceChildren(
      el("th", {}, T.col_pair),
      el("th", {}, `${T.col_accuracy} %`),
      el("th", {}, T.col_epochs),
      el("th", {}, T.col_factors),
      el("th", {}, T.col_test_events),
      ...CH.map((c, i) => el("th", { class: i === 0 ? "raw" : "" }, `${c} %`)),
      ...CH.map((c, i) => el("th", { class: i === 0 ? "corrected" : "" }, `${c} %`)),
    );
    $("empty").hidden = board.rows.length > 0;
    $("table").hidden = board.rows.length === 0;
    const firstRender = seen.size === 0;
    const body = orderedRows().map((row) => {
      const key = row.name || row.id;
      const isNew = !firstRender && seen.get(key) !== row.received;
      seen.set(key, row.received);
      const tr = el(
        "tr",
        { class: [row.own ? "own" : "", isNew ? "new" : ""].join(" ").trim(), data: { id: row.id, row: key } },
        el("th", { scope: "row" }, rowLabel(row)),
        el("td", {}, pct(row.accuracy)),
        el("td", {}, row.epochs ?? "–"),
        el("td", {}, row.factors ? row.factors.join(" ") : "–"),
        el("td", {}, row.events ?? row.test_events ?? "–"),
        ...CH.map((c, i) => shareCell(row.fractions, row.errors, c, i === 0, "raw")),
        ...CH.map((c, i) => {
          if (!row.corrected && i === 0) {
            const why = row.correction === "impossible" ? T.no_correction_impossible : T.no_correction;
            return el("td", { colspan: 4, class: "corrected-first na" }, why);
          }
          return row.corrected ? shareCell(row.corrected, row.corrected_errors, c, i === 0, "corrected") : null;
        }),
      );
      return tr;
    });
    $("rows").replaceChildren(...body);
    renderFoot();
  }

  function summaryRow(label, cls, values, kind) {
    const s = board.summary;
    const pick = (stat) => (stat ? stat[kind] : null);
    const cells = [el("th", { scope: "row" }, label)];
    if (kind === "sm") {
      cells.push(el("td"), el("td"), el("td"), el("td"));
    } else {
      cells.push(
        el("td", {}, kind === "range" ? range(s.accuracy, pct) : pct(pick(s.accuracy))),
        el("td", {}, kind === "range" ? range(s.epochs, (x) => num(x, 0)) : num(pick(s.epochs), 0)),
        el("td"),
        el("td", {}, kind === "range" ? range(s.test_events, (x) => num(x, 0)) : num(pick(s.test_events), 0)),
      );
    }
    for (const group of ["raw", "corrected"]) {
      CH.forEach((c, i) => {
        const td = el("td", { class: i === 0 ? `${group}-first` : "" });
        td.append(values(group, c));
        cells.push(td);
      });
    }
    return el("tr", { class: cls }, ...cells);
  }

  function range(stat, format) {
    return stat ? `${format(stat.low)} – ${format(stat.high)}` : "–";
  }

  function renderFoot() {
    const s = board.summary;
    const groupKey = (group) => (group === "raw" ? "fractions" : "corrected");
    $("foot").replaceChildren(
      summaryRow(T.row_sm, "sm", (group, c) => pct(s.standard_model[c].share), "sm"),
      summaryRow(T.row_labelled, "labelled", (group, c) => pct(s.labelled[c] && s.labelled[c].median), "sm"),
      summaryRow(T.row_median, "median", (group, c) => {
        const stat = s[groupKey(group)][c];
        return stat ? pct(stat.median) : "–";
      }, "median"),
      summaryRow(T.row_spread, "spread", (group, c) => range(s[groupKey(group)][c], pct), "range"),
    );
  }

  function renderConfusion() {
    const matrix = board.summary.confusion;
    const table = $("confusion-table");
    if (!matrix) {
      table.replaceChildren();
      return;
    }
    const head = el(
      "tr",
      {},
      el("th", {}, `${T.confusion_true} ↓ / ${T.confusion_predicted} →`),
      ...CH.map((c) => el("th", { scope: "col" }, c)),
    );
    const rows = matrix.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return el(
        "tr",
        {},
        el("th", { scope: "row" }, CH[i]),
        ...row.map((count) => {
          const share = count / total;
          const td = el("td", { class: share > 0.55 ? "hot" : "" }, count);
          td.style.backgroundColor = `rgba(11, 92, 173, ${share.toFixed(3)})`;
          return td;
        }),
      );
    });
    table.replaceChildren(head, ...rows);
  }

  function renderGame() {
    const g = board.game;
    $("game-rounds").textContent = g.rounds ? fill(T.game_rounds, { rounds: g.rounds, pairs: g.pairs }) : T.game_none;
    const table = $("game-table");
    if (!g.rounds) {
      table.replaceChildren();
      return;
    }
    const line = (who, right, seconds, wins) =>
      el(
        "tr",
        { data: { who } },
        el("th", { scope: "row" }, who === "humans" ? T.game_humans : T.game_machine),
        el("td", {}, `${right} / ${g.events} ${T.game_right} (${pct(right / g.events, 0)} %)`),
        el("td", {}, seconds ? `${num(seconds.median, 1)} s` : "–"),
        el("td", {}, wins),
      );
    table.replaceChildren(
      el("tr", {}, el("th"), el("th", {}, T.game_right), el("th", {}, T.game_time), el("th", {}, T.game_wins)),
      line("humans", g.human_right, g.human_seconds, g.human_wins),
      line("machine", g.machine_right, g.machine_seconds, g.machine_wins),
      el("tr", {}, el("th", { scope: "row" }, T.game_ties), el("td"), el("td"), el("td", {}, g.ties)),
    );
  }

  // -- charts (uPlot) --------------------------------------------------------

  function chartSize(container) {
    const width = Math.max(220, Math.floor(container.clientWidth || 300));
    return { width, height: board.kind === "projector" ? 260 : 210 };
  }

  function font() {
    const size = board.kind === "projector" ? 16 : 13;
    return `${size}px "Atkinson Hyperlegible", system-ui, sans-serif`;
  }

  function axis(label, extra) {
    return Object.assign({ label, font: font(), labelFont: font(), stroke: "#111", grid: { stroke: "#e3e3e3" } }, extra);
  }

  // Points only, no lines between them.
  const dots = (stroke, size) => ({
    stroke,
    fill: stroke,
    width: 0,
    paths: () => null,
    points: { show: true, size, stroke, fill: stroke },
  });

  function errorBars(xs, ys, errors, stroke) {
    return (u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 2 * devicePixelRatio;
      const cap = 5 * devicePixelRatio;
      ys.forEach((y, i) => {
        if (y === null || errors[i] === null) return;
        const x = u.valToPos(xs[i], "x", true);
        const low = u.valToPos(y - errors[i], "y", true);
        const high = u.valToPos(y + errors[i], "y", true);
        ctx.beginPath();
        ctx.moveTo(x, low);
        ctx.lineTo(x, high);
        ctx.moveTo(x - cap, low);
        ctx.lineTo(x + cap, low);
        ctx.moveTo(x - cap, high);
        ctx.lineTo(x + cap, high);
        ctx.stroke();
      });
      ctx.restore();
    };
  }

  function channelChart(container, channel, rows) {
    const s = board.summary;
    const sm = s.standard_model[channel];
    const xs = rows.map((_, i) => i + 1);
    const value = (row) => (row.fractions ? 100 * row.fractions[channel] : null);
    const error = (row) => (row.errors ? 100 * row.errors[channel] : null);
    const others = rows.map((row) => (row.own ? null : value(row)));
    const own = rows.map((row) => (row.own ? value(row) : null));
    const errors = rows.map(error);
    const band = sm.band === null ? 0 : 100 * sm.band;
    const median = s.fractions[channel] ? 100 * s.fractions[channel].median : null;
    const all = rows.map(value).filter((v) => v !== null);
    const spans = rows.flatMap((row) => (value(row) === null ? [] : [value(row) - (error(row) || 0), value(row) + (error(row) || 0)]));
    const low = Math.min(100 * sm.share - band, ...spans, ...all);
    const high = Math.max(100 * sm.share + band, ...spans, ...all);
    const pad = Math.max(0.5, (high - low) * 0.1);
    const opts = {
      ...chartSize(container),
      title: `${channel}: ${T["channel_" + channel] || ""}`.replace(/: $/, ""),
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: [0.5, Math.max(rows.length, 1) + 0.5] },
        y: { range: [Math.max(0, low - pad), Math.min(100, high + pad)] },
      },
      axes: [
        axis(null, {
          splits: () => xs,
          // Every label while they fit, else every k-th (the own row always).
          values: (u, splits) => {
            const every = Math.ceil(rows.length / Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 28)));
            return splits.map((x) => {
              const row = rows[x - 1];
              return row && (row.own || (x - 1) % every === 0) ? shortLabel(row) : "";
            });
          },
        }),
        axis(`${T.axis_share} %`, { size: 60 }),
      ],
      series: [
        {},
        { stroke: "transparent", points: { show: false } },
        { stroke: "transparent", points: { show: false } },
        { stroke: COLOURS.sm, width: 2, points: { show: false } },
        { stroke: COLOURS.median, width: 1.5, dash: [8, 6], points: { show: false } },
        dots(COLOURS.pairs, 11),
        dots(COLOURS.own, 15),
      ],
      bands: [{ series: [2, 1], fill: "rgba(120, 120, 120, 0.22)" }],
      hooks: { draw: [errorBars(xs, rows.map(value), errors, "#333")] },
    };
    const edges = [0.5, ...xs, Math.max(rows.length, 1) + 0.5];
    const flat = (v) => edges.map(() => v);
    // The band and the lines run across the whole chart: extra x points at its edges.
    const data = [
      edges,
      flat(100 * sm.share - band),
      flat(100 * sm.share + band),
      flat(100 * sm.share),
      flat(median),
      [null, ...others, null],
      [null, ...own, null],
    ];
    return new uPlot(opts, data, container);
  }

  function histogram(container, rows) {
    const values = rows.map((row) => row.accuracy).filter((a) => a !== null && a !== undefined);
    const width = 0.02;
    const start = Math.min(0.8, Math.floor(Math.min(...values, 1) / width) * width);
    const bins = [];
    for (let x = start; x < 1 - 1e-9; x += width) bins.push(x);
    const counts = bins.map((x) => values.filter((a) => a >= x - 1e-9 && (a < x + width - 1e-9 || (x + width >= 1 - 1e-9 && a <= 1))).length);
    const ownAccuracy = rows.find((row) => row.own)?.accuracy;
    const ownCounts = bins.map((x) => (ownAccuracy !== undefined && ownAccuracy !== null && ownAccuracy >= x - 1e-9 && (ownAccuracy < x + width - 1e-9 || x + width >= 1 - 1e-9) ? 1 : null));
    const alwaysQ = board.summary.labelled.q ? board.summary.labelled.q.median : null;
    const centres = bins.map((x) => 100 * (x + width / 2));
    const opts = {
      ...chartSize(container),
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [100 * start, 100] }, y: { range: [0, Math.max(2, ...counts) + 0.5] } },
      axes: [axis(`${T.axis_accuracy} %`), axis(T.axis_pairs, { size: 50, incrs: [1, 2, 5, 10] })],
      series: [
        {},
        { stroke: COLOURS.pairs, fill: "rgba(11, 92, 173, 0.55)", paths: uPlot.paths.bars({ size: [0.92, Infinity] }), points: { show: false } },
        { stroke: COLOURS.own, fill: "rgba(208, 74, 0, 0.9)", paths: uPlot.paths.bars({ size: [0.5, Infinity] }), points: { show: false } },
      ],
      hooks: {
        draw: [
          (u) => {
            if (alwaysQ === null) return;
            const x = u.valToPos(100 * alwaysQ, "x", true);
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = COLOURS.sm;
            ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = COLOURS.sm;
            ctx.font = font().replace(/^(\d+)px/, (m, n) => `${n * devicePixelRatio}px`);
            ctx.fillText(T.always_q, x + 4 * devicePixelRatio, u.bbox.top + 16 * devicePixelRatio);
            ctx.restore();
          },
        ],
      },
    };
    return new uPlot(opts, [centres, counts, ownCounts], container);
  }

  function scatter(container, rows, xOf, xLabel) {
    const points = rows
      .map((row) => ({ x: xOf(row), y: row.accuracy === null || row.accuracy === undefined ? null : 100 * row.accuracy, own: row.own }))
      .filter((p) => p.x !== null && p.y !== null)
      .sort((a, b) => a.x - b.x);
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    const low = Math.min(...ys, 85);
    const opts = {
      ...chartSize(container),
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: (u, min, max) => [Math.max(0, min - 1), max + 1] },
        y: { range: [Math.floor(low - 2), 100] },
      },
      axes: [axis(xLabel), axis(`${T.axis_accuracy} %`, { size: 60 })],
      series: [{}, dots(COLOURS.pairs, 11), dots(COLOURS.own, 15)],
    };
    const data = [xs, points.map((p) => (p.own ? null : p.y)), points.map((p) => (p.own ? p.y : null))];
    return new uPlot(opts, xs.length ? data : [[0], [null], [null]], container);
  }

  function renderCharts() {
    charts.forEach((chart) => chart.destroy());
    charts = [];
    if (typeof uPlot === "undefined") return;
    const rows = orderedRows();
    const typical = board.summary.test_events ? num(board.summary.test_events.median, 0) : "–";
    $("channels-caption").textContent = fill(T.chart_channels, { events: typical });
    const grid = $("channel-charts");
    grid.replaceChildren(...CH.map((c) => el("figure", { data: { channel: c } }, el("div", { class: "chart", id: `chart-${c}` }))));
    CH.forEach((c) => charts.push(channelChart($(`chart-${c}`), c, rows)));
    for (const id of ["chart-histogram", "chart-epochs", "chart-augmentation"]) $(id).replaceChildren();
    charts.push(histogram($("chart-histogram"), rows));
    charts.push(scatter($("chart-epochs"), rows, (row) => row.epochs ?? null, T.axis_epochs));
    charts.push(
      scatter($("chart-augmentation"), rows, (row) => (row.factors ? (row.factors[1] + row.factors[2] + row.factors[3]) / 3 : null), T.axis_factor),
    );
    document.body.dataset.charts = String(charts.length);
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => board && renderCharts(), 200);
  });

  // -- the tutor switch ------------------------------------------------------

  async function flip(change) {
    const answer = await fetch(cfg.switch, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-XSRFToken": cfg.xsrf },
      credentials: "same-origin",
      body: JSON.stringify(change),
    });
    if (!answer.ok) $("banner").textContent = (await answer.json()).message;
  }

  if (cfg.kind === "projector") {
    $("freeze").addEventListener("click", () => flip({ frozen: !(board && board.frozen) }));
    $("names").addEventListener("click", () => flip({ names: !(board && board.names) }));
  }

  connect();
})();
