// One open file: its Y.Doc, y-websocket provider, Monaco model and y-monaco binding.

import * as monaco from 'monaco-editor';
import { MonacoBinding } from 'y-monaco';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { RemoteCursorStyles } from './cursors.js';

export class FileSession {
  constructor({ file, editor, wsBase, user }) {
    this.file = file;
    this.editor = editor;
    this.doc = new Y.Doc();
    // disableBc: every update goes through the server, which enforces roles.
    // resyncInterval: the server does not echo a client's own awareness, so a lone client would
    // otherwise hear nothing for 30 s and y-websocket would drop and reopen the socket.
    this.provider = new WebsocketProvider(`${wsBase}/ws/yjs`, String(file.id), this.doc, {
      disableBc: true,
      resyncInterval: 10000,
    });
    this.awareness = this.provider.awareness;
    this.awareness.setLocalStateField('user', { name: user.username, color: user.color, id: user.id });
    this.model = monaco.editor.createModel('', file.language, monaco.Uri.parse(`file:///${file.id}/${file.path}`));
    editor.setModel(this.model);
    this.binding = new MonacoBinding(this.doc.getText('content'), this.model, new Set([editor]), this.awareness);
    this.cursors = new RemoteCursorStyles(this.awareness, this.doc.clientID);
  }

  text() {
    return this.doc.getText('content').toString();
  }

  destroy() {
    this.cursors.destroy();
    this.binding.destroy();
    this.provider.destroy();
    if (this.editor.getModel() === this.model) this.editor.setModel(null);
    this.model.dispose();
    this.doc.destroy();
  }
}
