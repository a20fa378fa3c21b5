// Dashboard: the solution's figures of the last hour as charts (uPlot), read again every 10
// seconds while the page is open. Each series has a label in the legend and its own dash, so
// that colour is not the only way to tell them apart, and a table of the latest values says the
// same in text.
import { html, useEffect, useRef, useState } from '../vendor/preact.js';
import uPlot from '../vendor/uplot.js';
import { register } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { ErrorBox, fmtTime } from '../ui.js';

const route = '/solutions/:solution/dashboard';
const refreshEvery = 10 * 1000;
const query = '?window=1h&step=10s';
// looks are the series' strokes in order: colours of the console's palette, each with its
// own dash pattern.
const looks = [
  { stroke: '#0b5cad', dash: [] },
  { stroke: '#b3261e', dash: [8, 4] },
  { stroke: '#1a6b2f', dash: [2, 3] },
  { stroke: '#8a5300', dash: [10, 3, 2, 3] },
];

// latest is a series' last point that has a value, or null.
export function latest(points) {
  for (let i = (points || []).length - 1; i >= 0; i--) if (points[i] !== null && points[i] !== undefined) return points[i];
  return null;
}

function fmtValue(v, unit) {
  if (v === null || v === undefined) return '–';
  switch (unit) {
    case '%':
      return (v * 100).toFixed(1) + '%';
    case 'ms':
      return (v * 1000).toFixed(v < 0.001 ? 3 : 1) + ' ms';
    case '/s':
      return (Math.round(v * 1000) / 1000).toString() + '/s';
    default:
      return (Math.round(v * 1000) / 1000).toString();
  }
}

// isolated are the indexes of a series' points with no value on either side: no line reaches
// them, so they are drawn as dots (a step with figures after a quiet hour).
function isolated(u, si) {
  const d = u.data[si];
  const out = [];
  for (let i = 0; i < d.length; i++) {
    if (d[i] !== null && (i === 0 || d[i - 1] === null) && (i === d.length - 1 || d[i + 1] === null)) out.push(i);
  }
  return out.length ? out : null;
}

// Chart draws series ([{label, points}]) against times (seconds since the epoch) with uPlot;
// scale turns a point into what the axis shows (a share into %, seconds into ms).
function Chart({ title, times, series, unit }) {
  const box = useRef(null);
  const plot = useRef(null);
  const scale = unit === '%' ? 100 : unit === 'ms' ? 1000 : 1;
  const data = [times, ...series.map((s) => s.points.map((p) => (p === null || p === undefined ? null : p * scale)))];
  const shape = series.map((s) => s.label).join('\n');
  useEffect(() => {
    const el = box.current;
    const width = Math.max(320, Math.min(el.clientWidth || 640, 900));
    const u = new uPlot(
      {
        width,
        height: 200,
        legend: { live: false },
        cursor: { show: false },
        axes: [{}, { label: unit === '%' ? 'percent' : unit === 'ms' ? 'milliseconds' : unit === '/s' ? 'per second' : 'per step', size: 60 }],
        series: [{}, ...series.map((s, i) => ({ label: s.label, width: 2, ...looks[i % looks.length], spanGaps: false, points: { show: false, size: 6, filter: isolated } }))],
        scales: { y: { range: (_u, min, max) => [0, Math.max(max || 0, unit === '%' ? 1 : 0.001) * 1.1] } },
      },
      data,
      el,
    );
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [shape, unit]);
  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  });
  // points counts the steps with something to show, for whoever watches the chart move.
  const points = data.slice(1).reduce((n, s) => n + s.filter((p) => p !== null && p !== 0).length, 0);
  return html`<figure class="chart" data-points=${points} aria-label=${title}>
    <figcaption>${title}</figcaption>
    <div ref=${box} aria-hidden="true"></div>
  </figure>`;
}

// groups turns an answer into the charts to draw: [{title, unit, series: [{label, points}]}].
export function groups(m) {
  const e = m.endpoints || {};
  const out = [
    { id: 'requests', title: 'Endpoint requests per second', unit: '/s', series: [{ label: 'requests/s', points: e.requests_per_second }] },
    { id: 'errors', title: 'Endpoint error rate (5xx)', unit: '%', series: [{ label: 'error rate', points: e.error_rate }] },
    {
      id: 'latency',
      title: 'Endpoint latency',
      unit: 'ms',
      series: [
        { label: 'p50', points: e.latency_p50_seconds },
        { label: 'p95', points: e.latency_p95_seconds },
        { label: 'p99', points: e.latency_p99_seconds },
      ],
    },
  ];
  for (const h of m.handlers || []) {
    out.push({ id: 'handled ' + h.handler, title: `Handler ${h.handler}: handled per second`, unit: '/s', series: [{ label: 'handled/s', points: h.handled_per_second }] });
    out.push({
      id: 'failures ' + h.handler,
      title: `Handler ${h.handler}: retries and dead letters per step`,
      unit: '',
      series: [
        { label: 'retries', points: h.retries },
        { label: 'dead letters', points: h.dead_letters },
      ],
    });
  }
  if ((m.connectors || []).length) {
    out.push({ id: 'lag', title: 'Connector lag', unit: '', series: m.connectors.map((c) => ({ label: c.connector, points: c.lag })) });
  }
  for (const g of out) for (const s of g.series) s.points = s.points || m.times.map(() => null);
  return out;
}

function DashboardPage({ params }) {
  const sol = params.solution;
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const [read, setRead] = useState(null);
  useEffect(() => {
    const ctl = new AbortController();
    let timer = 0;
    const load = async () => {
      try {
        const ans = await api.get(solutionPath(sol, 'metrics') + query, { signal: ctl.signal });
        setM(ans);
        setError(null);
        setRead(new Date());
      } catch (err) {
        if (ctl.signal.aborted) return;
        setError(err);
      }
      if (!ctl.signal.aborted) timer = setTimeout(load, refreshEvery);
    };
    load();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [sol]);
  const charts = m ? groups(m) : [];
  const times = m ? m.times.map((t) => Date.parse(t) / 1000) : [];
  return html`<section>
    <h1>Dashboard</h1>
    <p class="muted">
      The last hour in steps of 10 seconds, every instance together; read again every 10 seconds.
      ${read ? html` Last read ${fmtTime(read)}${m && m.instances.length ? `, from ${m.instances.length} instance(s)` : ', no instance has reported yet'}.` : null}
      ${m && m.truncated ? ' Only the busiest handlers and connectors are shown.' : null}
    </p>
    <${ErrorBox} error=${error} />
    ${m ? null : error ? null : html`<p>Loading…</p>`}
    <div class="charts">
      ${charts.map((g) => html`<${Chart} key=${g.id} title=${g.title} unit=${g.unit} times=${times} series=${g.series} />`)}
    </div>
    ${m
      ? html`<table class="latest">
          <caption>Latest values</caption>
          <thead><tr><th scope="col">Chart</th><th scope="col">Series</th><th scope="col">Latest</th></tr></thead>
          <tbody>
            ${charts.flatMap((g) =>
              g.series.map((s) => html`<tr key=${g.id + ' ' + s.label}><td>${g.title}</td><td>${s.label}</td><td class="latest-value">${fmtValue(latest(s.points), g.unit)}</td></tr>`),
            )}
          </tbody>
        </table>`
      : null}
  </section>`;
}

register({ id: 'dashboard', title: 'Dashboard', route, order: 15, render: (ctx) => html`<${DashboardPage} ...${ctx} />` });
