// Entry point of the editor page (/w/<id>/): builds the app, opens the first file, installs plugins.

import './editor/monaco-env.js';

import { createApp, installPlugins } from './editor/app.js';
import { plugins } from './editor/plugins.js';

function element(selector) {
  return document.querySelector(selector);
}

async function start() {
  const config = JSON.parse(element('#sparkroom-config').textContent);
  const app = createApp(config, {
    editorHost: element('.editor-host'),
    editorEmpty: element('.editor-empty'),
    fileTree: element('.file-tree'),
    sidePanel: element('.side-panel'),
    avatars: element('[data-testid="presence-list"]'),
    connection: element('[data-testid="connection-status"]'),
    openFilePath: element('[data-testid="open-file-path"]'),
    statusLanguage: element('[data-testid="status-language"]'),
    statusCursor: element('[data-testid="status-cursor"]'),
    statusPresence: element('[data-testid="status-presence"]'),
    newFile: element('[data-testid="new-file"]'),
    newFolder: element('[data-testid="new-folder"]'),
  });
  window.sparkroom = app;
  // Stored files (binary, read-only) are not documents: the first text file opens.
  const first = config.openFileId ?? config.files.find((f) => !f.is_folder && (f.kind ?? 'text') === 'text')?.id;
  if (first != null) await app.openFile(first);
  installPlugins(app, plugins);
  window.sparkroomReady = true;
  document.body.dataset.ready = 'true';
}

start().catch((error) => {
  console.error('Sparkroom editor failed to start', error);
  document.body.dataset.ready = 'failed';
});
