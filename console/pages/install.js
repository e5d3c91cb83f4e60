// #/sites/:id/install: the keys (listed by prefix; a new one shown once with a copy button;
// revoke with a confirmation), the install snippet with its options explained and a link to
// try it on /widget/demo, and the visitor identity secret.
import { html, useState } from '../lib.js';
import { api } from '../api.js';
import { rememberKey, freshPublishable, freshKeys } from '../keys.js';
import { PageHeader, ErrorBox, Confirm, CopyButton, fmtDate, toast, Empty } from '../ui.js';

const PLACEHOLDER = 'cb_pk_YOUR_PUBLISHABLE_KEY';

function ShownOnce({ label, value, onDone }) {
  return html`<div class="shown-once" role="status">
    <p><strong>${label}</strong> Copy it now: it is shown only this once.</p>
    <div class="secret-box"><code>${value}</code><${CopyButton} text=${value} /></div>
    <button type="button" class="btn btn-small btn-ghost" onClick=${onDone}>I have stored it</button>
  </div>`;
}

function Keys({ site, refreshSite }) {
  const [made, setMade] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const keys = (site.keys || []).slice().sort((a, b) => (a.active === b.active ? (a.createdAt < b.createdAt ? 1 : -1) : a.active ? -1 : 1));
  const create = async (kind) => {
    setBusy(kind);
    setError(null);
    try {
      const key = await api.post(`/api/clients/${encodeURIComponent(site.id)}/keys`, { kind });
      rememberKey(site.id, key);
      setMade(key);
      await refreshSite();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const revoke = async () => {
    await api.del(`/api/clients/${encodeURIComponent(site.id)}/keys/${encodeURIComponent(revoking.id)}`);
    setRevoking(null);
    if (made && made.id === revoking.id) setMade(null);
    await refreshSite();
    toast('Key revoked');
  };
  return html`<section class="card" aria-labelledby="k-title">
    <div class="card-header">
      <div><h2 id="k-title">API keys</h2>
        <p>Publishable keys (<code>cb_pk_</code>) go in the widget on your allowed origins; secret keys (<code>cb_sk_</code>) stay on your servers.</p></div>
      <div class="row">
        <button type="button" class="btn btn-small" disabled=${!!busy} onClick=${() => create('publishable')}>${busy === 'publishable' ? 'Creating…' : 'New publishable key'}</button>
        <button type="button" class="btn btn-small" disabled=${!!busy} onClick=${() => create('secret')}>${busy === 'secret' ? 'Creating…' : 'New secret key'}</button>
      </div>
    </div>
    <${ErrorBox} error=${error} />
    ${made ? html`<${ShownOnce} label=${`New ${made.kind} key.`} value=${made.key} onDone=${() => setMade(null)} />` : null}
    ${keys.length ? html`<div class="table-wrap"><table class="table">
      <caption class="visually-hidden">Keys of ${site.name}</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">Kind</th><th scope="col" class="hide-phone">Created</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${keys.map((k) => html`<tr class=${k.active ? '' : 'row-muted'}>
        <td><code>${k.prefix}…</code></td>
        <td>${k.kind === 'secret' ? 'Secret' : 'Publishable'}</td>
        <td class="hide-phone">${fmtDate(k.createdAt)}</td>
        <td>${k.active ? html`<span class="badge badge-ok">Active</span>` : html`<span class="badge">Revoked</span>`}</td>
        <td class="cell-actions">${k.active ? html`<button type="button" class="btn btn-small btn-ghost btn-link-danger"
          aria-label=${`Revoke ${k.prefix}…`} onClick=${() => setRevoking(k)}>Revoke</button>` : null}</td>
      </tr>`)}</tbody>
    </table></div>` : html`<${Empty} title="No keys"><p>Make a publishable key for the widget.</p><//>`}
    ${revoking ? html`<${Confirm} title="Revoke this key?" danger=${true} confirmLabel="Revoke key"
      message=${html`<code>${revoking.prefix}…</code> answers 401 from now on. ${revoking.kind === 'publishable'
        ? 'Widgets that use it stop working until you put a new key in their snippet.'
        : 'Servers that use it lose access.'}`}
      onConfirm=${revoke} onCancel=${() => setRevoking(null)} />` : null}
  </section>`;
}

function Snippet({ site, refreshSite }) {
  const origin = location.origin;
  const key = freshPublishable(site);
  const snippet = `<script src="${origin}/widget/chatbot.js?apiKey=${key || PLACEHOLDER}"></script>`;
  const demoAllowed = (site.allowedOrigins || []).includes(origin);
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState(null);
  const allowHere = async () => {
    setAdding(true);
    setError(null);
    try {
      await api.patch(`/api/clients/${encodeURIComponent(site.id)}`, { allowedOrigins: [...site.allowedOrigins, origin] });
      await refreshSite();
    } catch (err) {
      setError(err);
    } finally {
      setAdding(false);
    }
  };
  return html`<section class="card" aria-labelledby="i-title">
    <div class="card-header">
      <div><h2 id="i-title">Install the widget</h2>
        <p>Paste this line before <code>${"</body>"}</code> on every page of ${site.allowedOrigins.length
          ? html`<strong>${site.allowedOrigins.join(', ')}</strong>` : 'your site (add its origin in Settings first)'}.</p></div>
    </div>
    ${key ? null : html`<div class="alert alert-info"><div class="alert-text">A publishable key is shown in full only when it is made.
      Put yours in place of <code>${PLACEHOLDER}</code>, or make a new publishable key above and the snippet fills it in.</div></div>`}
    <div class="snippet">
      <pre class="code-block code-wrap" aria-label="Install snippet"><code>${snippet}</code></pre>
      <div class="snippet-actions"><${CopyButton} text=${snippet} label="Copy snippet" /></div>
    </div>
    <h3 class="sub-title">Options</h3>
    <dl class="options">
      <dt><code>apiKey</code></dt><dd>Your publishable key. It works only on the allowed origins.</dd>
      <dt><code>userIdentifier</code>, <code>userHash</code>, <code>userExpires</code></dt>
      <dd>Who the visitor is, signed by your server with the identity secret below: the conversation is marked verified and follows them across devices.</dd>
      <dt><code>lang</code></dt><dd>The widget's language (<code>de</code>, <code>pt-BR</code>…); without it the Appearance language, else the visitor's browser.</dd>
      <dt><code>noTracking=true</code></dt><dd>No visitor id is kept in the browser's storage; a conversation lasts as long as the tab.</dd>
      <dt><code>Chatbot.init({ apiKey, container })</code></dt><dd>For single-page apps: load the script without <code>apiKey</code> and start it yourself; with <code>container</code> the chat renders inline in that element.</dd>
    </dl>
    <h3 class="sub-title">Try it</h3>
    <${ErrorBox} error=${error} />
    ${key && demoAllowed ? html`<p><a class="btn" href=${`/widget/demo?apiKey=${encodeURIComponent(key)}`} target="_blank" rel="noopener">Open the demo page with this key ↗</a></p>`
      : key ? html`<p class="muted">The demo page runs on this server (<code>${origin}</code>), which is not an allowed origin of this site.</p>
        <p class="row"><button type="button" class="btn btn-small" disabled=${adding} onClick=${allowHere}>${adding ? 'Adding…' : `Allow ${origin}`}</button>
        <span class="muted small">You can remove it again in Settings.</span></p>`
      : html`<p class="muted">Make a publishable key above to try it on the <a href="/widget/demo" target="_blank" rel="noopener">demo page</a>.</p>`}
  </section>`;
}

function IdentitySecret({ site, refreshSite }) {
  const [secret, setSecret] = useState(null);
  const [asking, setAsking] = useState(false);
  const has = !!site.identitySecretCreatedAt;
  const make = async () => {
    const r = await api.post(`/api/clients/${encodeURIComponent(site.id)}/identity-secret`, {});
    setSecret(r.identitySecret);
    setAsking(false);
    await refreshSite();
  };
  return html`<section class="card" aria-labelledby="id-title">
    <div class="card-header">
      <div><h2 id="id-title">Visitor identity secret</h2>
        <p>For sites that know who their visitor is: your server signs the visitor's id, so nobody can pose as them.</p></div>
      <button type="button" class="btn btn-small" onClick=${() => (has ? setAsking(true) : make().catch((e) => toast(e.message, 'error')))}>
        ${has ? 'Rotate secret…' : 'Create secret'}
      </button>
    </div>
    <p class="muted">${has ? `Made ${new Date(site.identitySecretCreatedAt).toLocaleString()}.` : 'No secret yet.'}</p>
    ${secret ? html`<${ShownOnce} label="New identity secret." value=${secret} onDone=${() => setSecret(null)} />` : null}
    <details class="details">
      <summary>How your server signs a visitor</summary>
      <pre class="code-block">${`// Node.js: expires is a Unix time at most 7 days ahead
const expires = Math.floor(Date.now() / 1000) + 86400;
const userHash = crypto.createHmac('sha256', IDENTITY_SECRET)
  .update(\`\${userIdentifier}:\${expires}\`).digest('hex');
// then: …/widget/chatbot.js?apiKey=…&userIdentifier=…&userHash=…&userExpires=…`}</pre>
    </details>
    ${asking ? html`<${Confirm} title="Rotate the identity secret?" danger=${true} confirmLabel="Make a new secret"
      message="The old secret stops working at once: visitors signed with it are refused until your server uses the new one."
      onConfirm=${make} onCancel=${() => setAsking(false)} />` : null}
  </section>`;
}

export default function Install({ site, refreshSite, route }) {
  document.title = `Install · ${site.name} · Console`;
  const created = route.query.created === '1';
  const [secretDone, setSecretDone] = useState(false);
  const secret = created && !secretDone ? freshKeys(site.id).find((k) => k.kind === 'secret') : null;
  return html`
    <${PageHeader} title="Install" subtitle="Keys, the one line for your pages, and visitor identity." />
    ${created ? html`<div class="alert alert-ok" role="status"><div class="alert-text"><strong>Your site is ready.</strong>
      Copy the snippet below onto your pages; its key is filled in for you (and shown only in this tab).</div></div>` : null}
    ${secret ? html`<${ShownOnce} label="Your secret key, for your own servers (X-API-Key)." value=${secret.key} onDone=${() => setSecretDone(true)} />` : null}
    <${Snippet} site=${site} refreshSite=${refreshSite} />
    <${Keys} site=${site} refreshSite=${refreshSite} />
    <${IdentitySecret} site=${site} refreshSite=${refreshSite} />`;
}
