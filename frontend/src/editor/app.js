/**
 * The `app` object: the editor page's state and the API every plugin receives in `install(app)`.
 *
 *   app.config              parsed #sparkroom-config ({workspace:{id,name}, user:{id,username,color}, role, canEdit, files, openFileId})
 *   app.user                app.config.user
 *   app.canEdit             true for owners and editors (viewers get a read-only editor)
 *   app.monaco              the monaco namespace (the one bundled copy)
 *   app.editor              the monaco IStandaloneCodeEditor
 *   app.currentFile()       {id, path, language} of the open file, or null
 *   app.getDoc()            Y.Doc of the open file (text in getDoc().getText('content')), or null
 *   app.getText()           current text of the open file ('' when none)
 *   app.getProvider()       y-websocket WebsocketProvider of the open file, or null
 *   app.getAwareness()      its awareness, or null
 *   app.isSynced()          true once the open file has synced with the server
 *   app.openFile(id)        open a file (Promise); closes the previous one
 *   app.files()             the current file tree entries [{id, path, name, is_folder, language}]
 *   app.on(event, cb)       'file-opened' (file), 'file-closed' (file), 'file-renamed' (file),
 *                           'files-changed' (files), 'presence' (users); returns an unsubscribe function
 *   app.ws.send(obj)        send JSON on the workspace channel (/ws/workspace/<id>)
 *   app.ws.request(type, data) -> Promise of the "<type>.ok" reply (matched by request_id); rejects with
 *                           the "error" reply's message
 *   app.ws.on(type, cb)     server events of that type ('*' for every message); returns an unsubscribe function
 *   app.panels.addTab(id, title) -> HTMLElement: a tab in the right side panel; fill the returned element
 *   app.panels.show(id)     bring a tab to the front
 *   app.toast(message, kind) kind: 'info' | 'success' | 'error'
 *
 * window.sparkroom is this object; window.sparkroomReady becomes true once plugins are installed.
 */

import * as monaco from 'monaco-editor';

import { FileSession } from './collab.js';
import { Emitter } from './events.js';
import { FileTree } from './filetree.js';
import { languageForPath } from './languages.js';
import { Panels } from './panels.js';
import { PresenceView } from './presence.js';
import { toast } from './toast.js';
import { WorkspaceChannel } from './workspace-channel.js';

// Document socket close codes (workspace/collab/access.py): document too large, file deleted.
const CLOSE_TOO_BIG = 4413;
const CLOSE_GONE = 4410;
const PING_INTERVAL_MS = 30000;

export function createApp(config, dom) {
  const events = new Emitter();
  const wsBase = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
  const channel = new WorkspaceChannel(`${wsBase}/ws/workspace/${config.workspace.id}`);
  let session = null;
  let openSeq = 0;

  const editor = monaco.editor.create(dom.editorHost, {
    model: null,
    theme: 'vs-dark',
    automaticLayout: true,
    readOnly: !config.canEdit,
    readOnlyMessage: { value: 'You are a viewer in this workspace: the file is read-only.' },
    fontSize: 14,
    fontFamily: "'JetBrains Mono', 'Fira Code', 'DejaVu Sans Mono', Menlo, monospace",
    minimap: { enabled: true, scale: 1 },
    scrollBeyondLastLine: false,
    smoothScrolling: true,
    padding: { top: 18 }, // room for the name label of a remote cursor on line 1
    renderWhitespace: 'selection',
    tabSize: 4,
  });

  const tree = new FileTree({
    root: dom.fileTree,
    workspaceId: config.workspace.id,
    canEdit: config.canEdit,
    onOpen: (id) => app.openFile(id),
    toast,
  });
  const presence = new PresenceView({
    avatars: dom.avatars,
    statusList: dom.statusPresence,
    currentUserId: config.user.id,
    fileName: (id) => tree.byId(id)?.path,
  });

  const describe = (file) => (file ? { id: file.id, path: file.path, language: file.language } : null);

  const app = {
    config,
    user: config.user,
    canEdit: Boolean(config.canEdit),
    monaco,
    editor,
    panels: new Panels(dom.sidePanel),
    toast,
    ws: {
      send: (message) => channel.send(message),
      request: (type, data) => channel.request(type, data),
      on: (type, callback) => channel.on(type, callback),
      get status() {
        return channel.status;
      },
    },
    on: (name, callback) => events.on(name, callback),
    currentFile: () => describe(session?.file),
    getDoc: () => session?.doc ?? null,
    getText: () => session?.text() ?? '',
    getProvider: () => session?.provider ?? null,
    getAwareness: () => session?.awareness ?? null,
    isSynced: () => Boolean(session?.provider.synced),
    files: () => tree.files,
    openFile,
    closeFile,
  };

  async function openFile(id) {
    const fileId = Number(id);
    if (session?.file.id === fileId) return describe(session.file);
    const seq = ++openSeq;
    let file = tree.byId(fileId);
    if (!file) {
      await tree.refresh();
      file = tree.byId(fileId);
    }
    if (seq !== openSeq) return null;
    if (!file || file.is_folder) {
      toast('That file does not exist (any more).', 'error');
      return null;
    }
    closeFile();
    file = { ...file, language: file.language || languageForPath(file.path) };
    session = new FileSession({ file, editor, wsBase, user: config.user });
    session.provider.on('status', () => renderConnection());
    // y-websocket emits no 'status' when a socket closes before it ever opened (e.g. disconnect() while
    // connecting), so the close itself must re-render too.
    session.provider.on('connection-close', () => renderConnection());
    session.provider.on('sync', () => renderConnection());
    session.provider.on('closed', ({ code, reason }) => {
      if (code === CLOSE_TOO_BIG && session?.file.id === file.id) {
        // The server refused the change (nothing of it stored): show the file as it is stored again.
        toast(`${file.path}: your last change was not saved (${reason || 'too large'}); the file was reloaded.`, 'error', 8000);
        closeFile();
        openFile(file.id);
        return;
      }
      toast(`Disconnected from ${file.path}: ${reason || 'access refused'}`, 'error');
      if (code === CLOSE_GONE && session?.file.id === file.id) closeFile();
      renderConnection();
    });
    tree.setActive(file.id);
    setFileParam(file.id);
    channel.send({ type: 'presence.open_file', file_id: file.id });
    renderFile();
    renderConnection();
    editor.focus();
    events.emit('file-opened', describe(file));
    return describe(file);
  }

  function closeFile() {
    if (!session) return;
    const closed = describe(session.file);
    session.destroy();
    session = null;
    editor.setModel(null);
    tree.setActive(null);
    setFileParam(null);
    renderFile();
    renderConnection();
    events.emit('file-closed', closed);
  }

  function setFileParam(fileId) {
    const url = new URL(location.href);
    if (fileId == null) url.searchParams.delete('file');
    else url.searchParams.set('file', fileId);
    history.replaceState(null, '', url);
  }

  function renderFile() {
    const file = session?.file;
    dom.openFilePath.textContent = file ? file.path : 'No file open';
    dom.statusLanguage.textContent = file ? file.language : '—';
    dom.editorEmpty.hidden = Boolean(file);
    dom.editorHost.classList.toggle('no-file', !file);
  }

  function renderConnection() {
    // The worst of the workspace channel and the open file's document connection.
    const fileStatus = session
      ? session.provider.wsconnected
        ? 'connected'
        : session.provider.shouldConnect
          ? 'connecting'
          : 'disconnected'
      : 'connected';
    const order = ['disconnected', 'connecting', 'connected'];
    const status = order[Math.min(order.indexOf(channel.status), order.indexOf(fileStatus))];
    const synced = !session || session.provider.synced;
    const label = status === 'connected' && !synced ? 'syncing' : status;
    dom.connection.dataset.status = label;
    dom.connection.querySelector('.conn-label').textContent = label;
  }

  function handleFilesChanged(files) {
    tree.setFiles(files);
    if (session) {
      const now = tree.byId(session.file.id);
      if (!now) {
        toast(`${session.file.path} was deleted.`, 'info');
        closeFile();
      } else if (now.path !== session.file.path) {
        session.file = { ...session.file, path: now.path, language: now.language || languageForPath(now.path) };
        monaco.editor.setModelLanguage(session.model, session.file.language);
        renderFile();
        events.emit('file-renamed', describe(session.file));
      }
    }
    presence.render();
    events.emit('files-changed', files);
  }

  channel.on('status', () => renderConnection());
  channel.on('open', () => {
    if (session) channel.send({ type: 'presence.open_file', file_id: session.file.id });
  });
  channel.on('closed', ({ reason }) => toast(`Workspace channel closed: ${reason || 'access refused'}`, 'error'));
  channel.on('files.changed', (message) => handleFilesChanged(message.files || []));
  channel.on('presence', (message) => {
    presence.update(message.users);
    events.emit('presence', message.users);
  });
  setInterval(() => channel.send({ type: 'presence.ping' }), PING_INTERVAL_MS);

  editor.onDidChangeCursorPosition(({ position }) => {
    dom.statusCursor.textContent = `Ln ${position.lineNumber}, Col ${position.column}`;
  });
  dom.newFile?.addEventListener('click', () => tree.create(false).catch((e) => toast(e.message, 'error')));
  dom.newFolder?.addEventListener('click', () => tree.create(true).catch((e) => toast(e.message, 'error')));

  tree.setFiles(config.files || []);
  renderFile();
  renderConnection();
  return app;
}

/** Run each plugin's install(app); one failing plugin must not take the editor down. */
export function installPlugins(app, plugins) {
  for (const plugin of plugins) {
    const install = typeof plugin === 'function' ? plugin : (plugin?.install ?? plugin?.default?.install);
    if (typeof install !== 'function') {
      console.error('plugin without install()', plugin);
      continue;
    }
    try {
      install.call(plugin, app);
    } catch (error) {
      console.error(`plugin ${plugin?.name ?? '?'} failed to install`, error);
      app.toast(`Plugin ${plugin?.name ?? ''} failed to load.`, 'error');
    }
  }
}
