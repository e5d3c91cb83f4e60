// #/sites/:id/settings: the site's name and allowed origins, its AI defaults (provider,
// model, system prompt, temperature, max tokens), how long conversations are kept, whether
// only verified visitors may chat; and deleting the site (typed confirmation).
import { html, useState, useEffect } from '../lib.js';
import { api } from '../api.js';
import { PageHeader, Field, ErrorBox, Confirm, toast } from '../ui.js';
import { parseOrigins } from './sites.js';

const PROVIDERS = [
  ['', 'Service default'],
  ['offline', 'Offline (built in, no AI account)'],
  ['openai', 'OpenAI'],
  ['claude', 'Anthropic Claude'],
];

function formOf(site) {
  return {
    name: site.name || '',
    origins: (site.allowedOrigins || []).join('\n'),
    aiProvider: site.aiProvider || '',
    model: site.model || '',
    systemPrompt: site.systemPrompt || '',
    temperature: site.temperature === null || site.temperature === undefined ? '' : String(site.temperature),
    maxTokens: site.maxTokens === null || site.maxTokens === undefined ? '' : String(site.maxTokens),
    retentionDays: site.retentionDays === null || site.retentionDays === undefined ? '' : String(site.retentionDays),
    requireVerifiedVisitors: !!site.requireVerifiedVisitors,
  };
}

const num = (s) => (String(s).trim() === '' ? null : Number(s));

export default function Settings({ site, refreshSite, refreshSites, navigate }) {
  document.title = `Settings · ${site.name} · Console`;
  const [form, setForm] = useState(() => formOf(site));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [deleting, setDeleting] = useState(false);
  useEffect(() => { setForm(formOf(site)); }, [site.id, site.updatedAt]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const dirty = JSON.stringify(form) !== JSON.stringify(formOf(site));
  const field = error && error.detail && typeof error.detail === 'object' ? error.detail.field : null;
  const errFor = (name) => (field === name ? error.message : null);

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/api/clients/${encodeURIComponent(site.id)}`, {
        name: form.name.trim(),
        allowedOrigins: parseOrigins(form.origins),
        aiProvider: form.aiProvider || null,
        model: form.model.trim() || null,
        systemPrompt: form.systemPrompt.trim() ? form.systemPrompt : null,
        temperature: num(form.temperature),
        maxTokens: num(form.maxTokens),
        retentionDays: num(form.retentionDays),
        requireVerifiedVisitors: form.requireVerifiedVisitors,
      });
      await refreshSite();
      if (refreshSites) refreshSites();
      toast('Settings saved');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    await api.del(`/api/clients/${encodeURIComponent(site.id)}`);
    if (refreshSites) await refreshSites();
    toast(`Site “${site.name}” deleted`);
    navigate('#/sites');
  };

  const hasSecret = !!site.identitySecretCreatedAt;
  return html`
    <${PageHeader} title="Settings" subtitle="Where the widget may run, how the assistant answers, and how long conversations are kept." />
    <form onSubmit=${save} novalidate>
      <${ErrorBox} error=${error && !field ? error : null} />
      <section class="card" aria-labelledby="s-general">
        <div class="card-header"><div><h2 id="s-general">General</h2></div></div>
        <${Field} label="Site name" id="set-name" error=${errFor('name')}>
          <input class="input" value=${form.name} maxlength="200" onInput=${set('name')} />
        <//>
        <${Field} label="Allowed origins" id="set-origins" error=${errFor('allowedOrigins')}
          hint="The widget's publishable keys work only on pages of these origins (scheme and host, one a line).">
          <textarea class="textarea mono" rows="3" spellcheck="false" value=${form.origins} onInput=${set('origins')}></textarea>
        <//>
      </section>

      <section class="card" aria-labelledby="s-ai">
        <div class="card-header"><div><h2 id="s-ai">Assistant</h2><p>Defaults for every conversation on this site.</p></div></div>
        <div class="grid-2">
          <${Field} label="AI provider" id="set-provider" error=${errFor('aiProvider')}>
            <select class="select" value=${form.aiProvider} onChange=${set('aiProvider')}>
              ${PROVIDERS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
            </select>
          <//>
          <${Field} label="Model" id="set-model" hint="Empty: the provider's default." error=${errFor('model')}>
            <input class="input mono" value=${form.model} maxlength="200" onInput=${set('model')} placeholder="e.g. gpt-4o-mini" spellcheck="false" />
          <//>
        </div>
        <${Field} label="System prompt" id="set-prompt" error=${errFor('systemPrompt')}
          hint="Instructions the assistant gets before every conversation: who it speaks for, tone, what to avoid. At most 8,000 characters.">
          <textarea class="textarea" rows="5" maxlength="8000" value=${form.systemPrompt} onInput=${set('systemPrompt')}
            placeholder="You are the assistant of Harbour Bikes, a bicycle repair shop in Portland…"></textarea>
        <//>
        <div class="grid-2">
          <${Field} label="Temperature" id="set-temp" hint="0 to 2: lower is steadier, higher more varied. Empty: default." error=${errFor('temperature')}>
            <input class="input" type="number" min="0" max="2" step="0.1" inputmode="decimal" value=${form.temperature} onInput=${set('temperature')} />
          <//>
          <${Field} label="Max tokens per reply" id="set-max" hint="1 to 32,000. Empty: default." error=${errFor('maxTokens')}>
            <input class="input" type="number" min="1" max="32000" step="1" inputmode="numeric" value=${form.maxTokens} onInput=${set('maxTokens')} />
          <//>
        </div>
      </section>

      <section class="card" aria-labelledby="s-data">
        <div class="card-header"><div><h2 id="s-data">Data and visitors</h2></div></div>
        <${Field} label="Keep conversations for (days)" id="set-retention" error=${errFor('retentionDays')}
          hint="1 to 3,650 days after their last message; older ones are deleted at least hourly. Empty: keep forever.">
          <input class="input input-narrow" type="number" min="1" max="3650" step="1" inputmode="numeric" value=${form.retentionDays} onInput=${set('retentionDays')} placeholder="Forever" />
        <//>
        <label class="checkbox">
          <input type="checkbox" checked=${form.requireVerifiedVisitors} onChange=${set('requireVerifiedVisitors')} disabled=${!hasSecret && !form.requireVerifiedVisitors} />
          <span>Only verified visitors may chat
            <small>${hasSecret
              ? 'The widget starts conversations only for visitors your server signed with the identity secret.'
              : html`Needs an identity secret first: make one on the <a href=${`#/sites/${encodeURIComponent(site.id)}/install`}>Install</a> page.`}</small>
          </span>
        </label>
        ${errFor('requireVerifiedVisitors') ? html`<p class="field-error">${errFor('requireVerifiedVisitors')}</p>` : null}
        <div class="card-footer">
          <span class="hint">${dirty ? 'Unsaved changes' : 'All changes saved'}</span>
          <button type="button" class="btn btn-ghost" disabled=${!dirty || busy} onClick=${() => { setForm(formOf(site)); setError(null); }}>Discard</button>
          <button type="submit" class="btn btn-primary" disabled=${!dirty || busy}>${busy ? 'Saving…' : 'Save settings'}</button>
        </div>
      </section>
    </form>

    <section class="card card-danger" aria-labelledby="s-danger">
      <div class="card-header">
        <div><h2 id="s-danger">Delete this site</h2>
          <p>Deletes the site, its keys, every conversation, feedback and webhook. Its widget stops working at once. This cannot be undone.</p></div>
        <button type="button" class="btn btn-danger" onClick=${() => setDeleting(true)}>Delete site…</button>
      </div>
    </section>
    ${deleting ? html`<${Confirm} title=${`Delete “${site.name}”?`} danger=${true} typed=${site.name} confirmLabel="Delete site forever"
      message="Its keys, conversations, feedback and webhooks go with it; the widget on your pages stops answering."
      onConfirm=${remove} onCancel=${() => setDeleting(false)} />` : null}`;
}
