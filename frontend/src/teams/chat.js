// The workspace chat: history on load, live messages, a send box (every member, viewers included).

import { h, timeOf } from './dom.js';

export function mountChat(app, root) {
  const log = h('div', { className: 'team-chat-log', testid: 'chat-messages', 'aria-live': 'polite' });
  const input = h('input', { type: 'text', maxlength: '4000', placeholder: 'Message the team', testid: 'chat-input' });
  const form = h(
    'form',
    { className: 'team-chat-form', onSubmit: (event) => send(event) },
    input,
    h('button', { type: 'submit', testid: 'chat-send' }, 'Send'),
  );
  root.append(h('section', {}, h('h3', {}, 'Chat'), log, form));
  const seen = new Set();

  function add(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    const item = h(
      'div',
      { className: 'team-chat-msg', testid: 'chat-message', 'data-id': message.id },
      h('span', { className: 'who', style: `color: ${message.color}` }, message.username),
      h('span', { className: 'text' }, message.text),
      h('time', { datetime: message.created_at }, timeOf(message.created_at)),
    );
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(item);
    if (stick) log.scrollTop = log.scrollHeight;
  }

  async function send(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    try {
      const reply = await app.ws.request('chat.send', { text });
      add(reply.message);
    } catch (error) {
      input.value = text;
      app.toast(`Chat: ${error.message}`, 'error');
    }
  }

  async function loadHistory() {
    try {
      const reply = await app.ws.request('chat.history', { limit: 100 });
      for (const message of reply.messages) add(message);
      log.scrollTop = log.scrollHeight;
    } catch (error) {
      app.toast(`Chat history: ${error.message}`, 'error');
    }
  }

  app.ws.on('chat.message', (event) => add(event.message));
  // Reconnects may have missed messages: re-read the recent history (duplicates are skipped).
  app.ws.on('open', () => loadHistory());
  loadHistory();
}
