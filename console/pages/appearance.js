// #/sites/:id/appearance: the bot's name, colours, icon, words, starter prompts, position
// and language, with the real widget beside the form in its inline mode (preview: no key,
// no requests) updating as you type; saved with PUT /api/clients/{id}/bot-config.
import { html, useState, useEffect, useRef } from '../lib.js';
import { api } from '../api.js';
import { PageHeader, Field, ErrorBox, toast } from '../ui.js';

const DEFAULTS = {
  botName: 'Assistant',
  botColor: '#4f46e5',
  botMsgBgColor: '#f3f4f6',
  userMsgBgColor: '#4f46e5',
  botIcon: '💬',
  welcomeMessage: 'Hi! How can I help you today?',
  placeholder: 'Type your message…',
  poweredBy: 'Powered by chatbot',
};
const TEXT_KEYS = ['botName', 'botColor', 'botMsgBgColor', 'userMsgBgColor', 'botIcon', 'welcomeMessage', 'placeholder', 'poweredBy', 'locale'];
const LANGUAGES = [
  ['', 'The visitor’s browser language'], ['en', 'English'], ['es', 'Español'], ['fr', 'Français'], ['de', 'Deutsch'],
  ['pt', 'Português'], ['it', 'Italiano'], ['nl', 'Nederlands'], ['ar', 'العربية'], ['he', 'עברית'], ['zh', '中文'], ['ja', '日本語'],
];
const HEX = /^#[0-9a-f]{6}$/i;
const PREVIEW_NOTE = 'This is a preview: conversations start on your site.';

function formOf(config) {
  const c = config && typeof config === 'object' ? config : {};
  const f = {};
  for (const k of TEXT_KEYS) f[k] = typeof c[k] === 'string' ? c[k] : '';
  f.position = c.position === 'left' ? 'left' : 'right';
  f.starterPrompts = Array.isArray(c.starterPrompts) ? c.starterPrompts.filter((p) => typeof p === 'string').slice(0, 6) : [];
  return f;
}

/** The config to save: the saved one's other keys, the form's non-empty values. */
function configOf(form, saved) {
  const out = { ...(saved && typeof saved === 'object' ? saved : {}) };
  for (const k of TEXT_KEYS) {
    const v = form[k].trim();
    if (v) out[k] = v; else delete out[k];
  }
  if (form.position === 'left') out.position = 'left'; else delete out.position;
  const prompts = form.starterPrompts.map((p) => p.trim()).filter(Boolean);
  if (prompts.length) out.starterPrompts = prompts; else delete out.starterPrompts;
  return out;
}

/** What the widget shows: the defaults under the config. */
const shown = (config) => ({ ...DEFAULTS, starterPrompts: [], position: 'right', ...config });

let widgetScript = null;
function loadWidget() {
  if (window.Chatbot && window.Chatbot.create) return Promise.resolve(window.Chatbot);
  if (!widgetScript) {
    widgetScript = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/widget/chatbot.js';
      s.async = true;
      s.onload = () => resolve(window.Chatbot);
      s.onerror = () => { widgetScript = null; reject(new Error('The widget could not be loaded')); };
      document.head.append(s);
    });
  }
  return widgetScript;
}

function Preview({ config }) {
  const box = useRef(null);
  const widget = useRef(null);
  const [error, setError] = useState(null);
  const locale = config.locale || '';
  useEffect(() => {
    let live = true;
    loadWidget().then((Chatbot) => {
      if (!live || !box.current) return;
      box.current.replaceChildren();
      widget.current = Chatbot.create({
        container: box.current, preview: PREVIEW_NOTE, noTracking: true, locale: locale || undefined, config: shown(config),
      });
    }, (e) => live && setError(e));
    return () => {
      live = false;
      if (widget.current) widget.current.destroy();
      widget.current = null;
    };
  }, [locale]);
  useEffect(() => {
    if (widget.current) widget.current.setConfig(shown(config));
  }, [JSON.stringify(config)]);
  return html`<div class="preview">
    <div class="preview-bar" aria-hidden="true"><span></span><span></span><span></span><em>Preview</em></div>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    <div class="preview-stage" ref=${box} data-testid="widget-preview"></div>
    <p class="preview-note">The real widget, inline. On your pages it opens from a ${config.position === 'left' ? 'left' : 'right'}-hand launcher.</p>
  </div>`;
}

function Colour({ label, id, value, fallback, onChange, error }) {
  const valid = HEX.test(value);
  return html`<${Field} label=${label} id=${id} error=${error || (value && !valid ? 'A colour such as #4f46e5' : null)}>
    <div class="color-row">
      <input type="color" class="input-color" aria-label=${`${label}: picker`} value=${valid ? value : fallback}
        onInput=${(e) => onChange(e.target.value)} />
      <input id=${id} class="input mono" value=${value} placeholder=${fallback} maxlength="7" spellcheck="false"
        onInput=${(e) => onChange(e.target.value)} />
    </div>
  <//>`;
}

export default function Appearance({ site, refreshSite }) {
  document.title = `Appearance · ${site.name} · Console`;
  const [form, setForm] = useState(() => formOf(site.botConfig));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => { setForm(formOf(site.botConfig)); }, [site.id, site.updatedAt]);
  const set = (k) => (e) => setForm({ ...form, [k]: typeof e === 'string' ? e : e.target.value });
  const config = configOf(form, site.botConfig);
  const dirty = JSON.stringify(config) !== JSON.stringify(configOf(formOf(site.botConfig), site.botConfig));
  const field = error && error.detail && typeof error.detail === 'object' ? error.detail.field : null;
  const errFor = (k) => (field === k ? error.message : null);
  const prompts = form.starterPrompts;
  const setPrompt = (i, v) => setForm({ ...form, starterPrompts: prompts.map((p, j) => (j === i ? v : p)) });

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.put(`/api/clients/${encodeURIComponent(site.id)}/bot-config`, config);
      await refreshSite();
      toast('Appearance saved');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <${PageHeader} title="Appearance" subtitle="How the assistant looks and what it says first. The preview follows as you type; visitors see it once you save." />
    <div class="appearance">
      <form class="appearance-form" onSubmit=${save} novalidate>
        <${ErrorBox} error=${error && !field ? error : null} />
        <section class="card" aria-labelledby="a-identity">
          <div class="card-header"><h2 id="a-identity">Identity</h2></div>
          <div class="grid-2">
            <${Field} label="Bot name" id="ap-name" error=${errFor('botName')}>
              <input class="input" value=${form.botName} maxlength="60" placeholder=${DEFAULTS.botName} onInput=${set('botName')} />
            <//>
            <${Field} label="Icon" id="ap-icon" hint="An emoji or a few letters, or an https image URL." error=${errFor('botIcon')}>
              <input class="input" value=${form.botIcon} maxlength="500" placeholder=${DEFAULTS.botIcon} onInput=${set('botIcon')} />
            <//>
          </div>
          <div class="grid-3">
            <${Colour} label="Accent colour" id="ap-color" value=${form.botColor} fallback=${DEFAULTS.botColor} onChange=${set('botColor')} error=${errFor('botColor')} />
            <${Colour} label="Bot bubbles" id="ap-botbg" value=${form.botMsgBgColor} fallback=${DEFAULTS.botMsgBgColor} onChange=${set('botMsgBgColor')} error=${errFor('botMsgBgColor')} />
            <${Colour} label="Visitor bubbles" id="ap-userbg" value=${form.userMsgBgColor} fallback=${DEFAULTS.userMsgBgColor} onChange=${set('userMsgBgColor')} error=${errFor('userMsgBgColor')} />
          </div>
        </section>
        <section class="card" aria-labelledby="a-words">
          <div class="card-header"><h2 id="a-words">Words</h2></div>
          <${Field} label="Welcome message" id="ap-welcome" hint="Opens every chat. Simple Markdown works. At most 500 characters." error=${errFor('welcomeMessage')}>
            <textarea class="textarea" rows="3" maxlength="500" value=${form.welcomeMessage} placeholder=${DEFAULTS.welcomeMessage} onInput=${set('welcomeMessage')}></textarea>
          <//>
          <${Field} label="Input placeholder" id="ap-placeholder" error=${errFor('placeholder')}>
            <input class="input" value=${form.placeholder} maxlength="100" placeholder=${DEFAULTS.placeholder} onInput=${set('placeholder')} />
          <//>
          <fieldset class="field">
            <legend class="field-label">Starter prompts</legend>
            <p class="field-hint prompts-hint">Up to 6 buttons shown before the first message, 120 characters each.</p>
            <ol class="prompts">
              ${prompts.map((p, i) => html`<li class="prompt-row">
                <input class="input" aria-label=${`Starter prompt ${i + 1}`} value=${p} maxlength="120" onInput=${(e) => setPrompt(i, e.target.value)} />
                <button type="button" class="btn btn-small btn-ghost" aria-label=${`Remove starter prompt ${i + 1}`}
                  onClick=${() => setForm({ ...form, starterPrompts: prompts.filter((_, j) => j !== i) })}>Remove</button>
              </li>`)}
            </ol>
            ${errFor('starterPrompts') ? html`<p class="field-error">${errFor('starterPrompts')}</p>` : null}
            ${prompts.length < 6 ? html`<button type="button" class="btn btn-small" onClick=${() => setForm({ ...form, starterPrompts: [...prompts, ''] })}>Add a starter prompt</button>` : null}
          </fieldset>
        </section>
        <section class="card" aria-labelledby="a-place">
          <div class="card-header"><h2 id="a-place">Placement and language</h2></div>
          <fieldset class="field">
            <legend class="field-label">Launcher position</legend>
            <div class="segmented">
              ${['right', 'left'].map((pos) => html`<label class=${`segment${form.position === pos ? ' segment-on' : ''}`}>
                <input type="radio" name="position" value=${pos} checked=${form.position === pos} onChange=${set('position')} />
                ${pos === 'right' ? 'Bottom right' : 'Bottom left'}
              </label>`)}
            </div>
          </fieldset>
          <div class="grid-2">
            <${Field} label="Language" id="ap-locale" hint="Without one, each visitor gets their browser's language." error=${errFor('locale')}>
              <select class="select" value=${form.locale} onChange=${set('locale')}>
                ${LANGUAGES.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
              </select>
            <//>
            <${Field} label="Footer line" id="ap-powered" error=${errFor('poweredBy')}>
              <input class="input" value=${form.poweredBy} maxlength="100" placeholder=${DEFAULTS.poweredBy} onInput=${set('poweredBy')} />
            <//>
          </div>
          <div class="card-footer">
            <span class="hint">${dirty ? 'Unsaved changes: only the preview shows them' : 'Visitors see this look'}</span>
            <button type="button" class="btn btn-ghost" disabled=${!dirty || busy} onClick=${() => { setForm(formOf(site.botConfig)); setError(null); }}>Discard</button>
            <button type="submit" class="btn btn-primary" disabled=${!dirty || busy}>${busy ? 'Saving…' : 'Save appearance'}</button>
          </div>
        </section>
      </form>
      <aside class="appearance-preview" aria-label="Live preview">
        <${Preview} config=${config} />
      </aside>
    </div>`;
}
