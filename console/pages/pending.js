// #/pending: the account waits for a staff member's approval (SIGNUP_MODE=approval). It can
// sign in and look around, but cannot make a site until approved.
import { html, useState } from '../lib.js';
import { auth } from '../api.js';
import { PageHeader, ErrorBox } from '../ui.js';

export default function Pending({ user, navigate }) {
  document.title = 'Awaiting approval · Console';
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [checkedAt, setCheckedAt] = useState(null);
  const check = async () => {
    setBusy(true);
    setError(null);
    setCheckedAt(null);
    try {
      const u = await auth.reloadProfile();
      if (u && u.status !== 'pending') navigate('#/sites/new');
      else setCheckedAt(new Date());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const approved = user && user.status && user.status !== 'pending';
  return html`
    <${PageHeader} title=${approved ? 'Your account is approved' : 'Your account is awaiting approval'} />
    <div class="card stack">
      ${approved
        ? html`<p>Your account is approved. <a href="#/sites/new">Create your first site</a>.</p>`
        : html`<p>This service approves new accounts by hand. You are signed in as <strong>${user && user.email}</strong>;
          once a staff member approves the account you can create sites, keys and the widget.</p>
          <p class="muted">Nothing else to do meanwhile: come back later, or check now.</p>`}
      <${ErrorBox} error=${error} />
      ${approved ? null : html`<div class="row">
        <button type="button" class="btn btn-primary" onClick=${check} disabled=${busy}>${busy ? 'Checking…' : 'Check again'}</button>
        <a class="btn" href="#/account">Account</a>
        <span class="muted" role="status">${checkedAt ? `Still awaiting approval (checked at ${checkedAt.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' })}).` : ''}</span>
      </div>`}
    </div>`;
}
