// The shared terminal panel under the editor: one tab per terminal of the workspace (xterm.js), + Terminal,
// Close, Stop (Ctrl+C into the terminal), Run (and Ctrl/Cmd+Enter) for the open file into the "Run" terminal
// everyone sees, and who is typing. Editors type; a viewer's keys are refused by the server, which says why.

import '@xterm/xterm/css/xterm.css';

import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

import { TerminalSocket } from './socket.js';

const TYPING_SHOWN_MS = 1500;
const ERROR_REPEAT_MS = 3000;

function button(label, testid, title) {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = 'terminal-button';
  element.textContent = label;
  element.dataset.testid = testid;
  if (title) element.title = title;
  return element;
}

class TerminalPanel {
  constructor(app) {
    this.app = app;
    this.views = new Map();
    this.activeId = null;
    this.runRequested = false;
    this.typingTimer = null;
    this.build();
    const base = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    this.socket = new TerminalSocket(`${base}/ws/terminal/${app.config.workspace.id}`, {
      onOutput: (id, bytes) => this.views.get(id)?.term.write(bytes),
      onControl: (message) => this.control(message),
      onStatus: (status) => (this.root.dataset.status = status),
    });
    new ResizeObserver(() => this.fitActive(true)).observe(this.viewsHost);
  }

  build() {
    this.root = document.createElement('section');
    this.root.className = 'terminal-panel';
    this.root.dataset.testid = 'terminal-panel';
    const bar = document.createElement('div');
    bar.className = 'terminal-bar';
    this.tabs = document.createElement('div');
    this.tabs.className = 'terminal-tabs';
    this.tabs.setAttribute('role', 'tablist');
    this.typing = document.createElement('span');
    this.typing.className = 'terminal-typing';
    this.typing.dataset.testid = 'terminal-typing';
    if (!this.app.canEdit) this.typing.dataset.viewer = 'watching: viewers cannot type';
    const add = button('+ Terminal', 'terminal-new', 'Open a new terminal');
    const stop = button('Stop', 'terminal-stop', 'Interrupt (Ctrl+C) the running command');
    const close = button('Close', 'terminal-close', 'End this terminal for everyone');
    add.addEventListener('click', () => this.socket.send({ type: 'open', ...this.size() }));
    stop.addEventListener('click', () => this.activeId && this.socket.send({ type: 'stop', terminal: this.activeId }));
    close.addEventListener('click', () => this.closeActive());
    for (const control of [add, stop, close]) control.disabled = !this.app.canEdit;
    bar.append(this.tabs, this.typing, add, stop, close);
    this.viewsHost = document.createElement('div');
    this.viewsHost.className = 'terminal-views';
    this.empty = document.createElement('p');
    this.empty.className = 'terminal-empty';
    this.empty.textContent = this.app.canEdit ? 'No terminal: open one, or Run the open file (Ctrl+Enter).' : 'No terminal open.';
    this.viewsHost.append(this.empty);
    this.root.append(bar, this.viewsHost);
    document.querySelector('.editor-area').append(this.root);

    this.runButton = button('▶ Run', 'run-file', 'Run the open file in the shared Run terminal (Ctrl+Enter)');
    this.runButton.disabled = !this.app.canEdit;
    this.runButton.addEventListener('click', () => this.run());
    this.runSettings = button('⚙', 'run-command', "Set this workspace's Run command for the open file's language");
    this.runSettings.disabled = !this.app.canEdit;
    this.runSettings.addEventListener('click', () => this.editRunCommand());
    document.querySelector('.editor-tabbar').append(this.runButton, this.runSettings);
    const { KeyMod, KeyCode } = this.app.monaco;
    this.app.editor.addCommand(KeyMod.CtrlCmd | KeyCode.Enter, () => this.run());
  }

  size() {
    const view = this.views.get(this.activeId);
    const dims = view?.fit.proposeDimensions();
    return dims ? { cols: dims.cols, rows: dims.rows } : { cols: 100, rows: 14 };
  }

  run() {
    const file = this.app.currentFile();
    if (!file) return this.app.toast('Open a file to run it.', 'error');
    this.runRequested = true;
    this.socket.send({ type: 'run', file_id: file.id, ...this.size() });
  }

  // The workspace's own command for the open file's language ("{path}" is the file; empty: the built-in one).
  editRunCommand() {
    const file = this.app.currentFile();
    if (!file) return this.app.toast('Open a file to set its Run command.', 'error');
    const current = this.runCommands?.[file.language] ?? '';
    const command = window.prompt(`Run command for ${file.language} files in this workspace ({path} is the file; empty: the built-in one)`, current);
    if (command !== null) this.socket.send({ type: 'set_run_command', language: file.language, command });
  }

  closeActive() {
    const view = this.views.get(this.activeId);
    if (!view) return;
    if (view.ended) this.remove(view.id);
    else this.socket.send({ type: 'close', terminal: view.id });
  }

  control(message) {
    switch (message.type) {
      case 'hello':
        this.role = message.role;
        this.runCommands = message.run_commands;
        break;
      case 'run_commands':
        this.runCommands = message.commands;
        if (message.by === this.app.user.username) this.app.toast('Run command saved for this workspace.', 'success');
        break;
      case 'terminals': {
        const live = new Set(message.terminals.map((t) => t.id));
        for (const id of [...this.views.keys()]) if (!live.has(id) && !this.views.get(id).ended) this.remove(id);
        for (const info of message.terminals) this.add(info, false);
        break;
      }
      case 'opened':
        this.add(message.terminal, message.by === this.app.user.username || (this.runRequested && message.terminal.title === 'Run'));
        break;
      case 'replay':
        this.views.get(message.terminal)?.term.reset();
        break;
      case 'size':
        this.views.get(message.terminal)?.term.resize(message.cols, message.rows);
        break;
      case 'typing':
        this.showTyping(message);
        break;
      case 'files': {
        // Who wrote what: the files a command changed become that user's edits.
        const changed = [...message.created, ...message.written];
        const where = this.views.get(message.terminal)?.title ?? 'a terminal';
        if (changed.length) this.app.toast(`${message.by}'s command in ${where} wrote ${changed.join(', ')}`, 'info');
        if (message.deleted?.length) {
          this.app.toast(`${message.by}'s command in ${where} deleted ${message.deleted.join(', ')}`, 'info');
        }
        if (message.skipped.length) this.app.toast(`Not copied from the terminal: ${message.skipped.join('; ')}`, 'error');
        break;
      }
      case 'ended':
        this.markEnded(message.terminal, message.reason);
        break;
      case 'error':
        // One toast for a burst of refusals (a viewer's every keystroke is refused alike).
        if (message.message !== this.lastError || Date.now() - this.lastErrorAt > ERROR_REPEAT_MS) {
          this.app.toast(message.message, 'error');
        }
        this.lastError = message.message;
        this.lastErrorAt = Date.now();
        break;
      default:
        break;
    }
    if (this.runRequested && message.type !== 'error') {
      const runView = [...this.views.values()].find((v) => v.title === 'Run' && !v.ended);
      if (runView) {
        this.runRequested = false;
        this.show(runView.id);
      }
    }
  }

  add(info, focus) {
    if (this.views.has(info.id)) return;
    const element = document.createElement('div');
    element.className = 'terminal-view';
    element.dataset.testid = `terminal-view-${info.id}`;
    element.hidden = true;
    this.viewsHost.append(element);
    const term = new Terminal({
      cols: info.cols,
      rows: info.rows,
      fontSize: 13,
      fontFamily: "'JetBrains Mono', 'Fira Code', 'DejaVu Sans Mono', Menlo, monospace",
      scrollback: 5000,
      theme: { background: '#141414' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(element);
    term.onData((data) => this.socket.send({ type: 'input', terminal: info.id, data }));
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.className = 'terminal-tab';
    tab.textContent = info.title;
    tab.dataset.testid = `terminal-tab-${info.id}`;
    tab.setAttribute('role', 'tab');
    tab.addEventListener('click', () => this.show(info.id, true));
    this.tabs.append(tab);
    this.views.set(info.id, { id: info.id, title: info.title, term, fit, element, tab, ended: false });
    this.empty.hidden = true;
    if (focus || this.activeId === null) this.show(info.id, focus);
  }

  show(id, fromUser = false) {
    this.activeId = id;
    for (const view of this.views.values()) {
      const active = view.id === id;
      view.element.hidden = !active;
      view.tab.classList.toggle('active', active);
      view.tab.setAttribute('aria-selected', String(active));
    }
    this.root.dataset.active = String(id);
    this.fitActive(fromUser);
    if (fromUser) this.views.get(id)?.term.focus();
  }

  // Fit the view to the panel; an editor's new size becomes the terminal's (the last to fit sets it for all).
  fitActive(tell) {
    const view = this.views.get(this.activeId);
    if (!view || view.ended || view.element.hidden) return;
    const dims = view.fit.proposeDimensions();
    if (!dims || !dims.cols || !dims.rows) return;
    if (dims.cols === view.term.cols && dims.rows === view.term.rows) return;
    view.fit.fit();
    if (tell && this.app.canEdit) this.socket.send({ type: 'resize', terminal: view.id, cols: dims.cols, rows: dims.rows });
  }

  showTyping({ terminal, user }) {
    const view = this.views.get(terminal);
    if (!view) return;
    this.typing.textContent = `${user} is typing in ${view.title}`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => (this.typing.textContent = ''), TYPING_SHOWN_MS);
  }

  markEnded(id, reason) {
    const view = this.views.get(id);
    if (!view) return;
    view.ended = true;
    view.tab.classList.add('ended');
    view.tab.title = `Ended: ${reason}`;
  }

  remove(id) {
    const view = this.views.get(id);
    if (!view) return;
    view.term.dispose();
    view.element.remove();
    view.tab.remove();
    this.views.delete(id);
    if (this.activeId === id) {
      this.activeId = null;
      const next = this.views.keys().next();
      if (!next.done) this.show(next.value);
    }
    this.empty.hidden = this.views.size > 0;
  }
}

export default {
  name: 'terminal',
  install(app) {
    app.terminals = new TerminalPanel(app);
  },
};
