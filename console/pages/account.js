// #/account: the signed-in user's name and email, their password (changing it signs out
// every other session; this one signs in again with the new password), and signing out.
import { html, useState, useEffect } from '../lib.js';
import { api, auth } from '../api.js';
import { PageHeader, Field, ErrorBox, toast, fmtDate } from '../ui.js';

const fieldOf = (error) => (error && error.detail && typeof error.detail === 'object' ? error.detail.field : null);

function Profile({ user }) {
  const [name, setName] = useState(user.name || '');
  const [email, setEmail] = useState(user.email);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => { setName(user.name || ''); setEmail(user.email); }, [user.id, user.updatedAt]);
  const dirty = name !== (user.name || '') || email.trim().toLowerCase() !== user.email;
  const field = fieldOf(error);
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const u = await api.patch('/api/auth/profile', { name: name.trim() || null, email: email.trim() });
      auth.setUser({ ...auth.user, ...u });
      toast('Profile saved');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${save} novalidate aria-labelledby="p-title">
    <div class="card-header"><div><h2 id="p-title">Profile</h2></div></div>
    <${ErrorBox} error=${error && !['name', 'email'].includes(field) ? error : null} />
    <div class="grid-2">
      <${Field} label="Name" id="acc-name" error=${field === 'name' ? error.message : null}>
        <input class="input" autocomplete="name" maxlength="100" value=${name} onInput=${(e) => setName(e.target.value)} />
      <//>
      <${Field} label="Email" id="acc-email" error=${field === 'email' ? error.message : null}
        hint=${user.emailVerified ? 'Verified by Google.' : null}>
        <input class="input" type="email" autocomplete="email" value=${email} onInput=${(e) => setEmail(e.target.value)} />
      <//>
    </div>
    <dl class="facts">
      <div><dt>Role</dt><dd>${user.role === 'staff' ? 'Staff' : 'Website owner'}</dd></div>
      ${user.status ? html`<div><dt>Status</dt><dd>${user.status === 'pending' ? html`<a href="#/pending">Awaiting approval</a>` : user.status[0].toUpperCase() + user.status.slice(1)}</dd></div>` : null}
      <div><dt>Sign-in</dt><dd>${[user.hasPassword ? 'Password' : null, user.googleLinked ? 'Google' : null].filter(Boolean).join(' and ') || '—'}</dd></div>
      <div><dt>Member since</dt><dd>${fmtDate(user.createdAt)}</dd></div>
    </dl>
    <div class="card-footer">
      <button type="submit" class="btn btn-primary" disabled=${!dirty || busy}>${busy ? 'Saving…' : 'Save profile'}</button>
    </div>
  </form>`;
}

function Password({ user }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const field = fieldOf(error);
  if (!user.hasPassword) {
    return html`<section class="card" aria-labelledby="pw-title"><div class="card-header"><div><h2 id="pw-title">Password</h2>
      <p>This account signs in with Google and has no password.</p></div></div></section>`;
  }
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post('/api/auth/change-password', { currentPassword: current, newPassword: next });
      // Every session was signed out, this one's cookie included: sign in again.
      await auth.signIn(user.email, next);
      setCurrent('');
      setNext('');
      toast('Password changed; other sessions are signed out');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${save} novalidate aria-labelledby="pw-title">
    <div class="card-header"><div><h2 id="pw-title">Password</h2><p>Changing it signs out every other browser and app.</p></div></div>
    <${ErrorBox} error=${error && !['currentPassword', 'newPassword'].includes(field) ? error : null} />
    <div class="grid-2">
      <${Field} label="Current password" id="pw-current" error=${field === 'currentPassword' ? error.message : null}>
        <input class="input" type="password" autocomplete="current-password" value=${current} onInput=${(e) => setCurrent(e.target.value)} />
      <//>
      <${Field} label="New password" id="pw-new" hint="8 to 128 characters." error=${field === 'newPassword' ? error.message : null}>
        <input class="input" type="password" autocomplete="new-password" value=${next} onInput=${(e) => setNext(e.target.value)} />
      <//>
    </div>
    <div class="card-footer">
      <button type="submit" class="btn btn-primary" disabled=${!current || !next || busy}>${busy ? 'Changing…' : 'Change password'}</button>
    </div>
  </form>`;
}

export default function Account({ user, navigate }) {
  document.title = 'Account · Console';
  const signOut = async () => { await auth.signOut(); navigate('#/signin'); };
  return html`
    <${PageHeader} title="Account" subtitle=${user.email} actions=${html`<button type="button" class="btn" onClick=${signOut}>Sign out</button>`} />
    <${Profile} user=${user} />
    <${Password} user=${user} />`;
}
