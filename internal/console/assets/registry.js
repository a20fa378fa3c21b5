// The registry of pages. Each page module calls register() once per page it adds; the shell
// builds the navigation and the routes from what is registered. See README.md.

const pages = [];

// register adds a page:
//   id      unique name ("endpoints")
//   title   its name in the navigation
//   route   a hash route with :params ("/solutions/:solution/endpoints")
//   render  (ctx) => a Preact vnode; ctx is { params, query, session, navigate }
//   scope   "global" (in the top navigation) or "solution" (under the chosen solution; the route
//           must have :solution); default "solution"
//   order   position in its navigation, lower first; default 100
//   nav     false to leave it out of the navigation (a detail page); default true
//   admin   true when only the admin token may open it; default false
export function register(page) {
  for (const k of ['id', 'title', 'route']) {
    if (typeof page[k] !== 'string' || page[k] === '') throw new Error(`register: page ${k} required`);
  }
  if (typeof page.render !== 'function') throw new Error(`register ${page.id}: render must be a function`);
  if (pages.some((p) => p.id === page.id)) throw new Error(`register ${page.id}: id taken`);
  const p = { scope: 'solution', order: 100, nav: true, admin: false, ...page };
  if (p.scope === 'solution' && !p.route.includes('/:solution')) {
    throw new Error(`register ${p.id}: a solution page's route needs :solution`);
  }
  p.segments = p.route.split('/').filter(Boolean);
  pages.push(p);
  pages.sort((a, b) => a.order - b.order || a.title.localeCompare(b.title));
}

// allPages lists the registered pages in navigation order.
export function allPages() {
  return pages.slice();
}

// match finds the page for a hash path ("/solutions/demo/endpoints") and its parameters.
// Static segments win over parameters, so "/solutions/new" can be its own page.
export function match(path) {
  const segs = path.split('/').filter(Boolean);
  let best = null;
  for (const p of pages) {
    if (p.segments.length !== segs.length) continue;
    const params = {};
    let score = 0;
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const want = p.segments[i];
      if (want.startsWith(':')) {
        try {
          params[want.slice(1)] = decodeURIComponent(segs[i]);
        } catch {
          ok = false;
        }
      } else if (want === segs[i]) {
        score++;
      } else {
        ok = false;
      }
    }
    if (ok && (!best || score > best.score)) best = { page: p, params, score };
  }
  return best;
}

// href makes a page's link from its route and parameters.
export function href(route, params = {}, query) {
  const path = route
    .split('/')
    .map((s) => (s.startsWith(':') ? encodeURIComponent(params[s.slice(1)] ?? '') : s))
    .join('/');
  const q = query ? new URLSearchParams(query).toString() : '';
  return '#' + path + (q ? '?' + q : '');
}
