/*
 * The demo page's script: the text area becomes the page context the assistant reads, the
 * "Try" buttons ask through Chatbot.send, and the widget's postMessage events are listed.
 */
(() => {
  'use strict';
  const area = document.getElementById('page-content');
  const events = document.getElementById('events');
  const chat = window.Chatbot;
  if (!chat) return;
  const sync = () => chat.setPageContext({ title: 'Northwind Outdoor Supply', content: area.value });
  area.addEventListener('input', sync);
  sync();
  for (const b of document.querySelectorAll('[data-ask]')) {
    b.addEventListener('click', () => chat.send(b.getAttribute('data-ask')));
  }
  window.addEventListener('message', (e) => {
    if (e.source !== window || !e.data || e.data.source !== 'chatbot') return;
    const { type, source, ...rest } = e.data;
    const li = document.createElement('li');
    const detail = JSON.stringify(rest);
    li.textContent = detail === '{}' ? type : `${type} ${detail.length > 160 ? `${detail.slice(0, 157)}…` : detail}`;
    events.append(li);
    events.scrollTop = events.scrollHeight;
  });
})();
