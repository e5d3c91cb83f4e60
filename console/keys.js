// Keys answered only once (at a site's creation or a new key), kept in this tab's memory for
// the install page's snippet; never written to any storage, gone on reload.
const fresh = new Map();

/** Remembers a full key just made for `clientId`. */
export function rememberKey(clientId, created) {
  if (!created || !created.key) return;
  const list = fresh.get(clientId) || [];
  list.push({ id: created.id, kind: created.kind, key: created.key, prefix: created.prefix });
  fresh.set(clientId, list);
}

/** The newest full publishable key made in this tab for `clientId`, if it is still active. */
export function freshPublishable(client) {
  const list = fresh.get(client.id) || [];
  const active = new Set((client.keys || []).filter((k) => !k.revokedAt && !k.revoked).map((k) => k.id));
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i].kind === 'publishable' && active.has(list[i].id)) return list[i].key;
  }
  return null;
}

/** Every full key made in this tab for `clientId`. */
export function freshKeys(clientId) {
  return fresh.get(clientId) || [];
}
