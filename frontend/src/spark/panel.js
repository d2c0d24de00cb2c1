// The Spark side panel: model status (and how to configure one), ruff actions, chat with Apply, recent requests.

import { api } from '../editor/http.js';
import { figures } from './state.js';
import { currentSelection, hasSelection } from './selection.js';

const FENCED = /```[^\n]*\n([\s\S]*?)```/g;

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  if (props.testid) node.dataset.testid = props.testid;
  node.append(...children);
  return node;
}

export class SparkPanel {
  constructor(app, state) {
    this.app = app;
    this.state = state;
    this.history = [];
    this.chatViews = new Map();
    const root = app.panels.addTab('spark', '⚡ Spark');
    root.classList.add('spark-panel');
    this.notice = el('div', { className: 'notice', hidden: true, testid: 'spark-not-configured' });
    this.model = el('div', { className: 'model', testid: 'spark-model' });
    this.format = el('button', { type: 'button', textContent: 'Format (ruff)', testid: 'spark-format' });
    this.fix = el('button', { type: 'button', textContent: 'Fix (ruff)', testid: 'spark-fix' });
    this.format.addEventListener('click', () => this.offline('format'));
    this.fix.addEventListener('click', () => this.offline('fix'));
    const settingsLink = el('a', { href: '/spark/settings/', textContent: 'Model settings', target: '_blank' });
    this.chat = el('div', { className: 'spark-chat', testid: 'spark-chat' });
    this.input = el('textarea', { placeholder: 'Ask about this file… (Ctrl+Enter to send)', testid: 'spark-chat-input' });
    const send = el('button', { type: 'button', textContent: 'Send', testid: 'spark-chat-send' });
    send.addEventListener('click', () => this.sendChat());
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) this.sendChat();
    });
    this.list = el('ul', { className: 'spark-history', testid: 'spark-history' });
    root.append(
      this.notice,
      el('div', { className: 'row' }, [this.model, settingsLink]),
      el('div', { className: 'row' }, [this.format, this.fix]),
      this.chat,
      this.input,
      el('div', { className: 'row' }, [send]),
      el('h4', { textContent: 'Recent requests' }),
      this.list,
    );
    state.on('change', ({ type, entry }) => this.onChange(type, entry));
    app.on('file-opened', () => this.renderActions());
    this.renderActions();
    this.loadProviders();
  }

  async loadProviders() {
    try {
      const modes = await api('GET', '/api/spark/providers');
      const spark = modes.find((m) => m.mode === 'spark');
      this.notice.hidden = spark.configured;
      this.notice.textContent = spark.configured ? '' : spark.help;
      this.model.textContent = spark.configured ? `Model: ${spark.model}` : 'No model configured';
    } catch (error) {
      this.model.textContent = `Model status unavailable: ${error.message}`;
    }
  }

  renderActions() {
    const python = this.app.currentFile()?.language === 'python';
    this.format.disabled = this.fix.disabled = !python || !this.app.canEdit;
  }

  async offline(mode) {
    const file = this.app.currentFile();
    if (!file) return;
    try {
      await this.app.ws.request('spark.request', { file_id: file.id, mode });
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
  }

  async sendChat() {
    const instruction = this.input.value.trim();
    const file = this.app.currentFile();
    if (!instruction || !file) return;
    this.input.value = '';
    this.addMessage('user', instruction);
    const view = this.addMessage('assistant', '…');
    try {
      const reply = await this.app.ws.request('spark.request', {
        file_id: file.id,
        mode: 'chat',
        instruction,
        selection: currentSelection(this.app),
        history: this.history.slice(-8),
      });
      this.chatViews.set(reply.id, { view, instruction });
      view.textContent = '';
    } catch (error) {
      view.textContent = error.message;
    }
  }

  addMessage(role, text) {
    const node = el('div', { className: `spark-msg ${role}`, textContent: text, testid: `spark-msg-${role}` });
    this.chat.append(node);
    this.chat.scrollTop = this.chat.scrollHeight;
    return node;
  }

  onChange(type, entry) {
    const chat = this.chatViews.get(entry.id);
    if (chat && type === 'spark.chat.delta') chat.view.textContent = entry.chatText;
    if (chat && (type === 'spark.done' || type === 'spark.failed')) this.finishChat(chat, entry);
    if (type === 'spark.failed' && entry.user_id === this.app.user.id) this.app.toast(entry.error, 'error');
    this.renderList();
  }

  finishChat(chat, entry) {
    const text = entry.text ?? entry.chatText;
    chat.view.textContent = entry.error ? `${text}\n⚠ ${entry.error}` : text;
    this.history.push({ role: 'user', content: chat.instruction }, { role: 'assistant', content: text });
    for (const match of text.matchAll(FENCED)) {
      const code = match[1];
      const apply = el('button', { type: 'button', textContent: 'Apply to file', testid: 'spark-apply' });
      apply.addEventListener('click', () => this.apply(code));
      chat.view.append(el('pre', { textContent: code }), apply);
    }
    this.chatViews.delete(entry.id);
  }

  async apply(code) {
    const file = this.app.currentFile();
    if (!file) return;
    try {
      await this.app.ws.request('spark.request', {
        file_id: file.id,
        mode: hasSelection(this.app) ? 'replace' : 'insert',
        content: code,
        selection: currentSelection(this.app),
      });
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
  }

  renderList() {
    const entries = [...this.state.requests.values()].slice(-20).reverse();
    this.list.replaceChildren(
      ...entries.map((entry) =>
        el('li', { className: `status-${entry.status}` }, [
          `#${entry.id} ${entry.mode ?? ''} · ${entry.status ?? ''}${entry.error ? ` — ${entry.error}` : ''} `,
          el('span', { className: 'figures', textContent: figures(entry) }),
        ]),
      ),
    );
  }
}
