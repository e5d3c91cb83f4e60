// #/signin and #/register: password sign-in and sign-up (the refresh token goes into the
// HttpOnly cookie, the access token stays in memory), and Google when the service has it.
import { html, useState, useEffect } from '../lib.js';
import { auth } from '../api.js';
import { Field, ErrorBox } from '../ui.js';

function Logo() {
  return html`<svg class="logo-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <rect x="2" y="3" width="20" height="15" rx="5" fill="currentColor"></rect>
    <path d="M7 18l-1 4 5-4z" fill="currentColor"></path>
    <circle cx="8.5" cy="10.5" r="1.5" fill="#fff"></circle><circle cx="15.5" cy="10.5" r="1.5" fill="#fff"></circle>
  </svg>`;
}

/** Which sign-in methods the service offers (Google only when configured). */
function useMethods() {
  const [methods, setMethods] = useState(null);
  useEffect(() => {
    fetch('/api/auth/methods', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((m) => setMethods(m), () => setMethods(null));
  }, []);
  return methods;
}

export default function SignIn({ route, navigate }) {
  const registering = route.path === '/register';
  document.title = `${registering ? 'Create your account' : 'Sign in'} · Chatbot console`;
  const methods = useMethods();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const field = error && error.detail && typeof error.detail === 'object' ? error.detail.field : null;
  const googleError = route.query.error;

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (registering) await auth.register(email.trim(), password, name.trim());
      else await auth.signIn(email.trim(), password);
      // The shell takes over on the change of user and goes to `next` or the sites.
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const closed = registering && methods && methods.signup === 'closed';
  const next = route.query.next && route.query.next.startsWith('/') ? route.query.next : '/sites';
  const googleHref = `${(methods && methods.googleLoginPath) || "/auth/google/login"}?redirect=${encodeURIComponent(`${location.origin}/console`)}`;

  return html`
    <div class="auth-brand">
      <${Logo} />
      <h1>${registering ? 'Create your account' : 'Sign in to the console'}</h1>
      <p>${registering ? 'Put an AI assistant on your website in two minutes.' : 'Your sites, keys, conversations and numbers.'}</p>
    </div>
    <div class="auth-card">
      ${googleError ? html`<${ErrorBox} error=${{ message: 'Google sign-in did not complete', detail: String(googleError) }} />` : null}
      ${closed ? html`<div class="alert alert-info" role="status"><div class="alert-text">Sign-up is closed on this service. Ask its staff for an account.</div></div>` : html`
      <form onSubmit=${submit} novalidate>
        <${ErrorBox} error=${error && !field ? error : null} />
        ${registering ? html`<${Field} label="Name" hint="Optional: how the console greets you." id="name">
          <input class="input" autocomplete="name" value=${name} onInput=${(e) => setName(e.target.value)} maxlength="100" />
        <//>` : null}
        <${Field} label="Email" id="email" error=${field === 'email' ? error.message : null}>
          <input class="input" type="email" autocomplete="email" required value=${email} onInput=${(e) => setEmail(e.target.value)} />
        <//>
        <${Field} label="Password" id="password" hint=${registering ? '8 to 128 characters.' : null} error=${field === 'password' ? error.message : null}>
          <input class="input" type="password" autocomplete=${registering ? 'new-password' : 'current-password'} required
            value=${password} onInput=${(e) => setPassword(e.target.value)} />
        <//>
        <button type="submit" class="btn btn-primary btn-block" disabled=${busy}>
          ${busy ? (registering ? 'Creating your account…' : 'Signing in…') : (registering ? 'Create account' : 'Sign in')}
        </button>
      </form>`}
      ${methods && methods.google ? html`
        <div class="divider">or</div>
        <a class="btn btn-block" href=${googleHref}>
          <svg width="16" height="16" viewBox="0 0 48 48" aria-hidden="true" focusable="false"><path fill="#FFC107" d="M43.6 20.5H42V20H24v8h11.3C33.7 32.7 29.2 36 24 36c-6.6 0-12-5.4-12-12s5.4-12 12-12c3.1 0 5.8 1.2 7.9 3.1l5.7-5.7C34 6.1 29.3 4 24 4 12.9 4 4 12.9 4 24s8.9 20 20 20 20-8.9 20-20c0-1.3-.1-2.4-.4-3.5z"/><path fill="#FF3D00" d="M6.3 14.7l6.6 4.8C14.7 15.1 19 12 24 12c3.1 0 5.8 1.2 7.9 3.1l5.7-5.7C34 6.1 29.3 4 24 4 16.3 4 9.7 8.3 6.3 14.7z"/><path fill="#4CAF50" d="M24 44c5.2 0 9.9-2 13.4-5.2l-6.2-5.2C29.2 35.1 26.7 36 24 36c-5.2 0-9.6-3.3-11.3-8l-6.5 5C9.5 39.6 16.2 44 24 44z"/><path fill="#1976D2" d="M43.6 20.5H42V20H24v8h11.3c-.8 2.2-2.2 4.2-4.1 5.6l6.2 5.2C37 39.2 44 34 44 24c0-1.3-.1-2.4-.4-3.5z"/></svg>
          Continue with Google
        </a>` : null}
    </div>
    <p class="auth-alt">
      ${registering
        ? html`Already have an account? <a href=${`#/signin${route.query.next ? `?next=${encodeURIComponent(route.query.next)}` : ''}`}>Sign in</a>`
        : html`New here? <a href="#/register">Create an account</a>`}
    </p>`;
}
