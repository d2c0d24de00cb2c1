// The Spark side panel: model status (and how to configure one), the completions switch, ruff actions, chat with
// Apply / Stop / "Take this to Deep" (and, while an edit of the file is pending, chat as a follow-up on it), recent
// requests.

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
  constructor(app, state, actions) {
    this.app = app;
    this.state = state;
    this.actions = actions;
    this.history = [];
    this.chatViews = new Map();
    this.streamingChat = null;
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
    this.stop = el('button', { type: 'button', textContent: 'Stop', testid: 'spark-chat-stop', hidden: true });
    this.stop.addEventListener('click', () => this.stopChat());
    const deep = el('button', { type: 'button', textContent: 'Take this to Deep', testid: 'spark-chat-handover' });
    deep.addEventListener('click', () => this.handOverChat());
    this.refineBox = el('input', { type: 'checkbox', testid: 'spark-chat-refine' });
    this.refineRow = el('label', { className: 'refine', hidden: true }, [this.refineBox, ' as a follow-up on the pending edit']);
    this.completions = el('div', { className: 'row completions' });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) this.sendChat();
    });
    this.list = el('ul', { className: 'spark-history', testid: 'spark-history' });
    root.append(
      this.notice,
      el('div', { className: 'row' }, [this.model, settingsLink]),
      this.completions,
      el('div', { className: 'row' }, [this.format, this.fix]),
      this.chat,
      this.input,
      this.refineRow,
      el('div', { className: 'row' }, [send, this.stop, deep]),
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
    this.renderRefine();
  }

  renderCompletions(completions) {
    const settings = completions.settings;
    if (!settings) {
      this.completions.replaceChildren();
      return;
    }
    const toggle = el('input', { type: 'checkbox', checked: settings.enabled, testid: 'spark-completions-toggle' });
    toggle.disabled = !settings.configured || !this.app.canEdit;
    toggle.addEventListener('change', () => completions.setChoice(toggle.checked).catch((e) => this.app.toast(e.message, 'error')));
    const note = settings.configured ? ` · fill-in-the-middle: ${settings.fim}` : ' (no model configured)';
    const parts = [el('label', {}, [toggle, ` Completions as you type${note}`])];
    if (this.app.config.role === 'owner') {
      const fallback = el('input', { type: 'checkbox', checked: settings.workspace_default, testid: 'spark-completions-default' });
      fallback.addEventListener('change', () =>
        completions.setWorkspaceDefault(fallback.checked).catch((e) => this.app.toast(e.message, 'error')),
      );
      parts.push(el('label', {}, [fallback, ' on by default in this workspace']));
    }
    this.completions.replaceChildren(...parts);
  }

  pendingEdit() {
    const file = this.app.currentFile();
    const active = file ? this.state.activeFor(file.id) : null;
    return active && active.pending && active.status !== 'streaming' ? active : null;
  }

  renderRefine() {
    const pending = this.app.canEdit ? this.pendingEdit() : null;
    this.refineRow.hidden = !pending;
    if (!pending) this.refineBox.checked = false;
  }

  stopChat() {
    if (!this.streamingChat) return;
    this.app.ws.request('spark.cancel', { id: this.streamingChat }).catch((error) => this.app.toast(error.message, 'error'));
  }

  handOverChat() {
    const instruction = this.input.value.trim();
    const conversation = [...this.history];
    if (instruction) conversation.push({ role: 'user', content: instruction });
    this.input.value = '';
    this.actions.handover(this.pendingEdit(), { instruction, conversation, selection: currentSelection(this.app) });
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
    const pending = this.refineBox.checked ? this.pendingEdit() : null;
    if (pending) {
      this.addMessage('user', `${instruction} (follow-up on the pending edit)`);
      this.actions.refine(pending, instruction);
      return;
    }
    this.addMessage('user', instruction);
    const view = this.addMessage('assistant', '…');
    try {
      const reply = await this.app.ws.request('spark.request', {
        file_id: file.id,
        mode: 'chat',
        instruction,
        selection: currentSelection(this.app),
        history: this.history.slice(-8),
        force: instruction === this.offeredFor,
      });
      if (reply.handover_offered) {
        view.textContent = `${reply.reason} Use "Take this to Deep", or send it again to run it in Spark anyway.`;
        this.input.value = instruction;
        this.offeredFor = instruction;
        return;
      }
      this.chatViews.set(reply.id, { view, instruction });
      this.streamingChat = reply.id;
      this.stop.hidden = false;
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
    this.renderRefine();
    if (!entry) return this.renderList();
    const chat = this.chatViews.get(entry.id);
    if (chat && type === 'spark.chat.delta') chat.view.textContent = entry.chatText;
    if (chat && (type === 'spark.done' || type === 'spark.failed')) this.finishChat(chat, entry);
    if (type === 'spark.failed' && entry.user_id === this.app.user.id) this.app.toast(entry.error, 'error');
    this.renderList();
  }

  finishChat(chat, entry) {
    if (this.streamingChat === entry.id) {
      this.streamingChat = null;
      this.stop.hidden = true;
    }
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
