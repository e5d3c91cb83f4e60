// #/sites: the signed-in user's sites (clients), and #/sites/new: a new one with its name and
// the origins its widget may run on. A new site goes straight to its install page.
import { html, useState } from '../lib.js';
import { api, ApiError } from '../api.js';
import { rememberKey } from '../keys.js';
import { PageHeader, Loading, Empty, ErrorBox, Field, useLoad, fmtDate, toast } from '../ui.js';

/** Lines or commas to a list of origins, empty ones dropped. */
export function parseOrigins(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function NewSite({ navigate, refreshSites, user }) {
  document.title = 'New site · Console';
  const [name, setName] = useState('');
  const [origins, setOrigins] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const field = error && error.detail && typeof error.detail === 'object' ? error.detail.field : null;
  const submit = async (e) => {
    e.preventDefault();
    if (!name.trim()) { setError(new ApiError(400, 'A site needs a name', { field: 'name' })); return; }
    setBusy(true);
    setError(null);
    try {
      const created = await api.post('/api/clients', { name: name.trim(), allowedOrigins: parseOrigins(origins) });
      const id = created.client.id;
      rememberKey(id, created.publishableKey);
      rememberKey(id, created.secretKey);
      if (refreshSites) refreshSites();
      toast(`Site “${created.client.name}” created`);
      navigate(`#/sites/${encodeURIComponent(id)}/install?created=1`);
    } catch (err) {
      // An account awaiting approval (SIGNUP_MODE=approval) may not make sites yet.
      if (err.status === 403 && ((user && user.status === 'pending') || /pending|approv/i.test(`${err.message} ${JSON.stringify(err.detail)}`))) {
        navigate('#/pending');
        return;
      }
      setError(err);
      setBusy(false);
    }
  };
  return html`
    <${PageHeader} title="New site" subtitle="A site is one website with its own keys, bot and conversations." />
    <form class="card" onSubmit=${submit} novalidate>
      <${ErrorBox} error=${error && !['name', 'allowedOrigins'].includes(field) ? error : null} />
      <${Field} label="Name" id="site-name" hint="For you: shown in the console only." error=${field === 'name' ? error.message : null}>
        <input class="input" value=${name} maxlength="200" required onInput=${(e) => setName(e.target.value)} placeholder="Harbour Bikes" />
      <//>
      <${Field} label="Allowed origins" id="site-origins" error=${field === 'allowedOrigins' ? (error.detail.reason || error.message) : null}
        hint="Where the widget will run: scheme and host, such as https://shop.example (one a line). You can change them later.">
        <textarea class="textarea mono" rows="3" value=${origins} onInput=${(e) => setOrigins(e.target.value)}
          placeholder="https://shop.example" spellcheck="false"></textarea>
      <//>
      <div class="card-footer">
        <a class="btn btn-ghost" href="#/sites">Cancel</a>
        <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Creating…' : 'Create site'}</button>
      </div>
    </form>`;
}

function SiteList({ user }) {
  document.title = 'Sites · Console';
  const { data, error, loading, reload } = useLoad(() => api.get('/api/clients'), []);
  const sites = data ? data.clients || [] : null;
  const pending = user && user.status === 'pending';
  const newButton = pending
    ? html`<a class="btn" href="#/pending">Approval status</a>`
    : html`<a class="btn btn-primary" href="#/sites/new">New site</a>`;
  return html`
    <${PageHeader} title="Sites" subtitle="Each site has its own keys, bot, conversations and numbers." actions=${sites && sites.length ? newButton : null} />
    ${loading && !sites ? html`<${Loading} />` : null}
    <${ErrorBox} error=${error} retry=${reload} />
    ${sites && !sites.length ? html`<${Empty} title="No sites yet">
      ${pending
        ? html`<p>Your account is awaiting a staff member's approval. Once approved, create a site here to get its keys and the one line that puts the assistant on your website.</p>`
        : html`<p>Create a site to get its keys and the one line that puts the assistant on your website.</p>`}
      ${newButton}
    <//>` : null}
    ${sites && sites.length ? html`<ul class="site-grid">
      ${sites.map((s) => {
        const active = (s.keys || []).filter((k) => !k.revokedAt).length;
        return html`<li class="site-card">
          <a class="site-card-link" href=${`#/sites/${encodeURIComponent(s.id)}/conversations`}>
            <span class="site-card-name">${s.name}</span>
            <span class="site-card-origins">${s.allowedOrigins.length ? s.allowedOrigins.join(', ') : 'No allowed origins yet'}</span>
          </a>
          <div class="site-card-meta">
            <span>${active} active key${active === 1 ? '' : 's'}</span>
            <span aria-hidden="true">·</span>
            <span>Created ${fmtDate(s.createdAt)}</span>
          </div>
          <div class="site-card-actions">
            <a class="btn btn-small" href=${`#/sites/${encodeURIComponent(s.id)}/install`}>Install</a>
            <a class="btn btn-small btn-ghost" href=${`#/sites/${encodeURIComponent(s.id)}/settings`}>Settings</a>
          </div>
        </li>`;
      })}
    </ul>` : null}`;
}

export default function Sites(props) {
  return props.route.path === '/sites/new' ? html`<${NewSite} ...${props} />` : html`<${SiteList} ...${props} />`;
}
