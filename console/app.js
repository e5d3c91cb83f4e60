// The console's shell: hash routing, the signed-in state, the header with the user and the
// site switcher, the navigation, and the page modules (console/pages/*.js) loaded lazily.
// A page draws only its content; the shell draws everything around it.
import { html, render, useState, useEffect, useMemo, useCallback, useRef } from './lib.js';
import { api, auth } from './api.js';
import { Loading, ErrorBox, Empty } from './ui.js';

/** The route table: hash path pattern, page module, and what the route needs. */
const ROUTES = [
  ['/signin', 'signin', { public: true }],
  ['/register', 'signin', { public: true }],
  ['/pending', 'pending'],
  ['/account', 'account'],
  ['/sites', 'sites'],
  ['/sites/new', 'sites'],
  ['/sites/:id/settings', 'settings', { site: true }],
  ['/sites/:id/install', 'install', { site: true }],
  ['/sites/:id/appearance', 'appearance', { site: true }],
  ['/sites/:id/conversations', 'conversations', { site: true }],
  ['/sites/:id/conversations/:sessionId', 'transcript', { site: true, nav: 'conversations' }],
  ['/sites/:id/feedback', 'feedback', { site: true }],
  ['/sites/:id/analytics', 'analytics', { site: true }],
  ['/sites/:id/webhooks', 'webhooks', { site: true }],
  ['/admin', 'admin', { staff: true, tab: 'dashboard' }],
  ['/admin/users', 'admin', { staff: true, tab: 'users' }],
  ['/admin/clients', 'admin', { staff: true, tab: 'clients' }],
  ['/admin/health', 'admin', { staff: true, tab: 'health' }],
];

/** The site pages in the navigation, in order. */
const SITE_NAV = [
  ['settings', 'Settings'],
  ['install', 'Install'],
  ['appearance', 'Appearance'],
  ['conversations', 'Conversations'],
  ['feedback', 'Feedback'],
  ['analytics', 'Analytics'],
  ['webhooks', 'Webhooks'],
];

function compile(pattern) {
  const names = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => { names.push(n); return '([^/]+)'; })}/?$`);
  return { re, names };
}
const TABLE = ROUTES.map(([pattern, module, opts = {}]) => ({ pattern, module, ...opts, ...compile(pattern) }));

/** `#/sites/x/conversations?visitor=a` → {path, params, query, def}. */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#/, '') || '/';
  const [pathPart, queryPart = ''] = raw.split('?');
  const path = pathPart.startsWith('/') ? pathPart : `/${pathPart}`;
  const query = Object.fromEntries(new URLSearchParams(queryPart));
  for (const def of TABLE) {
    const m = def.re.exec(path);
    if (m) {
      const params = {};
      def.names.forEach((n, i) => { try { params[n] = decodeURIComponent(m[i + 1]); } catch { params[n] = m[i + 1]; } });
      return { path, params, query, def };
    }
  }
  return { path, params: {}, query, def: null };
}

function navigate(hash) {
  const h = hash.startsWith('#') ? hash : `#${hash}`;
  if (location.hash !== h) location.hash = h;
}

function useRoute() {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

const modules = new Map();
/** A page module, imported once; `null` when it is not there (yet). */
function loadPage(name) {
  if (!modules.has(name)) {
    modules.set(name, import(`./pages/${name}.js`).then((m) => m.default, (error) => {
      console.warn(`console page ${name}.js`, error);
      modules.delete(name);
      return null;
    }));
  }
  return modules.get(name);
}

function PageHost({ name, props }) {
  const [state, setState] = useState({ name: null, Page: null, missing: false });
  useEffect(() => {
    let live = true;
    loadPage(name).then((Page) => { if (live) setState({ name, Page, missing: !Page }); });
    return () => { live = false; };
  }, [name]);
  if (state.name !== name) return html`<${Loading} />`;
  if (state.missing) {
    document.title = 'Not built yet · Console';
    return html`<${Empty} title="This page is not built yet">
      <p>The console's <code>${name}</code> page is missing from this build.</p>
    <//>`;
  }
  const Page = state.Page;
  return html`<${Page} ...${props} />`;
}

function useUser() {
  const [user, setUser] = useState(auth.user);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const off = auth.onChange((u) => setUser(u));
    auth.restore().finally(() => setReady(true));
    return off;
  }, []);
  return { user, ready };
}

function Logo() {
  return html`<svg class="logo-mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
    <rect x="2" y="3" width="20" height="15" rx="5" fill="currentColor"></rect>
    <path d="M7 18l-1 4 5-4z" fill="currentColor"></path>
    <circle cx="8.5" cy="10.5" r="1.5" fill="#fff"></circle><circle cx="15.5" cy="10.5" r="1.5" fill="#fff"></circle>
  </svg>`;
}

function UserMenu({ user, onSignOut }) {
  const [open, setOpen] = useState(false);
  const ref = useRef(null);
  useEffect(() => {
    if (!open) return undefined;
    const close = (e) => { if (ref.current && !ref.current.contains(e.target)) setOpen(false); };
    const esc = (e) => { if (e.key === 'Escape') { setOpen(false); ref.current && ref.current.querySelector('button').focus(); } };
    document.addEventListener('click', close);
    document.addEventListener('keydown', esc);
    return () => { document.removeEventListener('click', close); document.removeEventListener('keydown', esc); };
  }, [open]);
  const initial = (user.name || user.email || '?').trim().charAt(0).toUpperCase();
  return html`<div class="user-menu" ref=${ref}>
    <button type="button" class="user-button" aria-expanded=${open ? 'true' : 'false'} aria-controls="user-menu"
      onClick=${() => setOpen(!open)}>
      <span class="avatar" aria-hidden="true">${initial}</span>
      <span class="user-email">${user.email}</span>
      <span class="visually-hidden">Account menu</span>
    </button>
    ${open ? html`<div class="menu" id="user-menu">
      <div class="menu-head"><strong>${user.name || 'Signed in'}</strong><span>${user.email}</span></div>
      <a class="menu-item" href="#/account" onClick=${() => setOpen(false)}>Account</a>
      <a class="menu-item" href="#/sites" onClick=${() => setOpen(false)}>All sites</a>
      <button type="button" class="menu-item" onClick=${() => { setOpen(false); onSignOut(); }}>Sign out</button>
    </div>` : null}
  </div>`;
}

function SiteSwitcher({ sites, siteId, page }) {
  if (!sites || !sites.length) return null;
  const onChange = (e) => {
    const v = e.target.value;
    if (v === '__new') navigate('#/sites/new');
    else if (v) navigate(`#/sites/${encodeURIComponent(v)}/${page || 'settings'}`);
  };
  return html`<div class="site-switcher">
    <label class="visually-hidden" for="site-switcher">Site</label>
    <select id="site-switcher" class="select select-compact" value=${siteId || ''} onChange=${onChange}>
      ${siteId ? null : html`<option value="">Choose a site…</option>`}
      ${sites.map((s) => html`<option value=${s.id}>${s.name}</option>`)}
      <option value="__new">+ New site</option>
    </select>
  </div>`;
}

function Nav({ siteId, active, staff, open, onNavigate }) {
  const link = (href, label, key) => html`<li><a href=${href} class=${`nav-link${active === key ? ' active' : ''}`}
    aria-current=${active === key ? 'page' : undefined} onClick=${onNavigate}>${label}</a></li>`;
  return html`<nav class=${`nav${open ? ' nav-open' : ''}`} id="main-nav" aria-label="Main">
    ${siteId ? html`<p class="nav-section">Site</p>
      <ul>${SITE_NAV.map(([key, label]) => link(`#/sites/${encodeURIComponent(siteId)}/${key}`, label, key))}</ul>` : null}
    <p class="nav-section">Workspace</p>
    <ul>
      ${link('#/sites', 'All sites', 'sites')}
      ${link('#/account', 'Account', 'account')}
      ${staff ? link('#/admin', 'Admin', 'admin') : null}
    </ul>
  </nav>`;
}

function Shell({ user, route }) {
  const [sites, setSites] = useState(null);
  const [site, setSite] = useState(null);
  const [siteError, setSiteError] = useState(null);
  const [navOpen, setNavOpen] = useState(false);
  const siteId = route.def && route.def.site ? route.params.id : null;

  const refreshSites = useCallback(() => api.get('/api/clients').then((r) => {
    const list = Array.isArray(r) ? r : (r && (r.clients || r.items)) || [];
    setSites(list);
    return list;
  }).catch(() => setSites((s) => s || [])), []);
  useEffect(() => { refreshSites(); }, [user && user.id]);

  const refreshSite = useCallback(() => {
    if (!siteId) return Promise.resolve(null);
    return api.get(`/api/clients/${encodeURIComponent(siteId)}`).then((c) => {
      setSite(c);
      setSiteError(null);
      setSites((list) => (list ? list.map((s) => (s.id === c.id ? c : s)) : list));
      return c;
    }, (e) => { setSiteError(e); return null; });
  }, [siteId]);
  useEffect(() => {
    setSite(null);
    setSiteError(null);
    if (siteId) refreshSite();
  }, [siteId]);
  useEffect(() => { setNavOpen(false); }, [route.path]);
  useEffect(() => {
    if (!navOpen) return undefined;
    const esc = (e) => {
      if (e.key !== 'Escape') return;
      setNavOpen(false);
      const t = document.querySelector('.nav-toggle');
      if (t) t.focus();
    };
    document.addEventListener('keydown', esc);
    return () => document.removeEventListener('keydown', esc);
  }, [navOpen]);

  const staff = user && user.role === 'staff';
  const def = route.def;
  const active = def ? (def.site ? def.nav || def.module : def.module === 'admin' ? 'admin' : def.module) : null;
  const signOut = async () => { await auth.signOut(); navigate('#/signin'); };

  let body;
  if (!def) {
    document.title = 'Not found · Console';
    body = html`<${Empty} title="There is no such page"><a class="btn btn-primary" href="#/sites">Go to your sites</a><//>`;
  } else if (def.staff && !staff) {
    document.title = 'Staff only · Console';
    body = html`<${Empty} title="Staff only"><p>These pages are for the service's staff.</p><a class="btn" href="#/sites">Back to your sites</a><//>`;
  } else if (def.site && siteError) {
    body = html`<${ErrorBox} error=${siteError} retry=${refreshSite} />`;
  } else if (def.site && (!site || site.id !== siteId)) {
    body = html`<${Loading} label="Loading the site…" />`;
  } else {
    const props = {
      route: { path: route.path, params: route.params, query: route.query },
      user,
      site: def.site ? site : null,
      navigate,
      setQuery: (q) => {
        const s = new URLSearchParams();
        for (const [k, v] of Object.entries(q || {})) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
        const qs = s.toString();
        location.replace(`#${route.path}${qs ? `?${qs}` : ''}`);
      },
      refreshSite,
      refreshSites,
      sites,
      tab: def.tab,
    };
    body = html`<${PageHost} name=${def.module} props=${props} />`;
  }

  return html`<div class="shell">
    <a class="skip-link" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header class="topbar">
      <button type="button" class="nav-toggle" aria-controls="main-nav" aria-expanded=${navOpen ? 'true' : 'false'}
        onClick=${() => setNavOpen(!navOpen)}>
        <span class="visually-hidden">Navigation</span><span class="burger" aria-hidden="true"></span>
      </button>
      <a class="brand" href="#/sites"><${Logo} /><span class="brand-name">Chatbot</span><span class="brand-sub">Console</span></a>
      <${SiteSwitcher} sites=${sites} siteId=${siteId} page=${def && def.site ? def.nav || def.module : null} />
      <div class="topbar-spacer"></div>
      ${user.status === 'pending' ? html`<a class="badge badge-warn" href="#/pending">Awaiting approval</a>` : null}
      <${UserMenu} user=${user} onSignOut=${signOut} />
    </header>
    <div class="layout">
      <${Nav} siteId=${siteId} active=${active} staff=${staff} open=${navOpen} onNavigate=${() => setNavOpen(false)} />
      ${navOpen ? html`<div class="nav-scrim" aria-hidden="true" onClick=${() => setNavOpen(false)}></div>` : null}
      <main id="main" class="main" tabindex="-1">${body}</main>
    </div>
  </div>`;
}

function App() {
  const { user, ready } = useUser();
  const route = useRoute();
  const def = route.def;

  useEffect(() => {
    if (!ready) return;
    if (!user && !(def && def.public)) {
      const back = route.path && route.path !== '/' && !(def && def.public) ? `?next=${encodeURIComponent(route.path)}` : '';
      location.replace(`#/signin${back}`);
    } else if (user && (route.path === '/' || (def && def.public))) {
      const next = route.query.next && route.query.next.startsWith('/') ? route.query.next : '/sites';
      location.replace(`#${next}`);
    } else if (user && /^\/sites\/[^/]+\/?$/.test(route.path) && route.path !== '/sites/new') {
      location.replace(`#${route.path.replace(/\/$/, '')}/install`);
    }
  }, [ready, user, route.path]);

  if (!ready) return html`<div class="boot"><${Loading} label="Signing you in…" /></div>`;
  if (!user) {
    if (!(def && def.public)) return html`<div class="boot"><${Loading} /></div>`;
    return html`<div class="auth-layout"><main id="main" class="auth-main">
      <${PageHost} name=${def.module} props=${{ route: { path: route.path, params: route.params, query: route.query }, user: null, site: null, navigate, setQuery: () => {}, refreshSite: () => {}, tab: null }} />
    </main></div>`;
  }
  if (def && def.public) return html`<div class="boot"><${Loading} /></div>`;
  return html`<${Shell} user=${user} route=${route} />`;
}

render(html`<${App} />`, document.getElementById('app'));
