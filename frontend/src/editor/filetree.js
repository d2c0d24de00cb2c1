// The left file tree: nested folders (collapsible), file selection, create / rename / delete, downloads.
// Stored files (kind 'binary' or 'readonly') are not live documents: selecting one dispatches
// `sparkroom:open-stored` (detail: the node) on the tree for a plugin to show it; unhandled, it is downloaded.
// Editors can drop files and folders on the tree: `sparkroom:import-drop` (detail: {files: [{path, file}], into})
// carries them, with their relative paths, to whatever imports them (frontend/src/repos).

import { api } from './http.js';

export const OPEN_STORED = 'sparkroom:open-stored';
export const IMPORT_DROP = 'sparkroom:import-drop';

export class FileTree {
  constructor({ root, workspaceId, canEdit, onOpen, toast }) {
    this.root = root;
    this.workspaceId = workspaceId;
    this.canEdit = canEdit;
    this.onOpen = onOpen;
    this.toast = toast;
    this.files = [];
    this.collapsed = new Set();
    this.activeId = null;
    this.root.addEventListener('click', (event) => this.handleClick(event));
    this.root.addEventListener('keydown', (event) => {
      if ((event.key === 'Enter' || event.key === ' ') && event.target.classList.contains('tree-row')) {
        event.preventDefault();
        this.handleClick(event);
      }
    });
    if (this.canEdit) this.acceptDrops();
  }

  acceptDrops() {
    const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
    this.root.addEventListener('dragover', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      this.root.classList.add('drop-target');
    });
    this.root.addEventListener('dragleave', (event) => {
      if (!this.root.contains(event.relatedTarget)) this.root.classList.remove('drop-target');
    });
    this.root.addEventListener('drop', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      this.root.classList.remove('drop-target');
      const row = event.target.closest?.('.tree-row');
      const node = row ? this.byId(row.dataset.id) : null;
      const into = node ? (node.is_folder ? node.path : node.path.split('/').slice(0, -1).join('/')) : '';
      // Entries must be taken while the event is dispatched; reading them may go on afterwards.
      const pending = droppedFiles(event.dataTransfer);
      pending
        .then((files) => {
          if (files.length) this.root.dispatchEvent(new CustomEvent(IMPORT_DROP, { bubbles: true, detail: { files, into } }));
        })
        .catch((error) => this.toast(`Could not read the dropped files: ${error.message}`, 'error'));
    });
  }

  setFiles(files) {
    this.files = [...files].sort((a, b) => a.path.localeCompare(b.path));
    this.render();
  }

  setActive(fileId) {
    this.activeId = fileId;
    for (const row of this.root.querySelectorAll('.tree-row')) {
      row.classList.toggle('active', Number(row.dataset.id) === fileId);
    }
  }

  byId(id) {
    return this.files.find((f) => f.id === Number(id)) || null;
  }

  async refresh() {
    this.setFiles(await api('GET', `/api/workspaces/${this.workspaceId}/files`));
  }

  render() {
    const list = document.createElement('ul');
    list.className = 'tree';
    list.setAttribute('role', 'tree');
    for (const node of this.files) {
      const parts = node.path.split('/');
      const hidden = parts.slice(0, -1).some((_, i) => this.collapsed.has(parts.slice(0, i + 1).join('/')));
      if (hidden) continue;
      list.append(this.renderRow(node, parts.length - 1));
    }
    if (!this.files.length) {
      const empty = document.createElement('li');
      empty.className = 'tree-empty';
      empty.textContent = 'No files yet.';
      list.append(empty);
    }
    this.root.replaceChildren(list);
    this.setActive(this.activeId);
  }

  renderRow(node, depth) {
    const row = document.createElement('li');
    row.className = `tree-row ${node.is_folder ? 'folder' : 'file'}`;
    row.dataset.id = node.id;
    row.dataset.path = node.path;
    row.dataset.testid = `file-${node.path}`;
    row.setAttribute('role', 'treeitem');
    row.tabIndex = 0;
    row.style.paddingLeft = `${8 + depth * 14}px`;
    row.title = node.path;
    const icon = document.createElement('span');
    icon.className = 'tree-icon';
    icon.textContent = node.is_folder ? (this.collapsed.has(node.path) ? '▸' : '▾') : fileIcon(node.path);
    if (!node.is_folder) icon.dataset.ext = node.path.split('.').pop().toLowerCase();
    const name = document.createElement('span');
    name.className = 'tree-name';
    name.textContent = node.path.split('/').pop();
    row.append(icon, name);
    const kind = node.is_folder ? 'folder' : node.kind || 'text';
    row.dataset.kind = kind;
    if (kind === 'binary' || kind === 'readonly') {
      icon.textContent = kind === 'binary' ? '◆' : '▤';
      const size = document.createElement('span');
      size.className = 'tree-size';
      size.dataset.testid = `file-size-${node.path}`;
      size.textContent = formatSize(node.size);
      row.append(size);
    }
    if (kind === 'readonly') {
      const badge = document.createElement('span');
      badge.className = 'badge readonly tree-badge';
      badge.dataset.testid = `readonly-badge-${node.path}`;
      badge.title = 'Too large to edit live: stored read-only (download it)';
      badge.textContent = 'read-only';
      row.append(badge);
    }
    if (node.is_folder) row.setAttribute('aria-expanded', String(!this.collapsed.has(node.path)));
    const actions = document.createElement('span');
    actions.className = 'tree-actions';
    if (this.canEdit && node.is_folder) actions.append(actionButton('new-in', '+', `New file in ${node.path}`));
    actions.append(actionButton('download', '⤓', node.is_folder ? `Download ${node.path} as a zip` : `Download ${node.path}`));
    if (this.canEdit) {
      actions.append(actionButton('rename', '✎', `Rename ${node.path}`), actionButton('delete', '✕', `Delete ${node.path}`));
    }
    row.append(actions);
    return row;
  }

  downloadUrl(node) {
    return node.is_folder
      ? `/api/workspaces/${this.workspaceId}/archive?path=${encodeURIComponent(node.path)}`
      : `/api/files/${node.id}/download`;
  }

  download(node) {
    const link = document.createElement('a');
    link.href = this.downloadUrl(node);
    link.download = '';
    document.body.append(link);
    link.click();
    link.remove();
  }

  openStored(node) {
    const event = new CustomEvent(OPEN_STORED, { bubbles: true, cancelable: true, detail: node });
    // A plugin that shows stored files cancels the event; without one the file is downloaded.
    if (this.root.dispatchEvent(event)) this.download(node);
  }

  async handleClick(event) {
    const row = event.target.closest('.tree-row');
    if (!row) return;
    const node = this.byId(row.dataset.id);
    if (!node) return;
    const action = event.target.closest('[data-action]')?.dataset.action;
    try {
      if (action === 'rename') await this.rename(node);
      else if (action === 'delete') await this.remove(node);
      else if (action === 'new-in') await this.create(false, `${node.path}/`);
      else if (action === 'download') this.download(node);
      else if (node.is_folder) this.toggle(node.path);
      else if (node.kind && node.kind !== 'text') this.openStored(node);
      else this.onOpen(node.id);
    } catch (error) {
      this.toast(error.message, 'error');
    }
  }

  toggle(path) {
    if (this.collapsed.has(path)) this.collapsed.delete(path);
    else this.collapsed.add(path);
    this.render();
  }

  async create(isFolder, prefix = '') {
    const path = window.prompt(isFolder ? 'New folder path' : 'New file path', prefix);
    if (!path || path === prefix) return null;
    const created = await api('POST', `/api/workspaces/${this.workspaceId}/files`, { path, is_folder: isFolder });
    await this.refresh();
    if (!isFolder) this.onOpen(created.id);
    return created;
  }

  async rename(node) {
    const path = window.prompt(`Rename ${node.path} to`, node.path);
    if (!path || path === node.path) return;
    await api('PATCH', `/api/files/${node.id}`, { path });
    await this.refresh();
  }

  async remove(node) {
    const what = node.is_folder ? `the folder ${node.path} and everything in it` : node.path;
    if (!window.confirm(`Delete ${what}?`)) return;
    await api('DELETE', `/api/files/${node.id}`);
    await this.refresh();
  }
}

function actionButton(action, label, title) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'icon-button';
  button.dataset.action = action;
  button.title = title;
  button.setAttribute('aria-label', title);
  button.textContent = label;
  return button;
}

export function formatSize(bytes) {
  if (bytes == null) return '';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** The dropped files with their paths relative to what was dropped (folders walked), as [{path, file}]. */
export async function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer.items || [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.())
    .filter(Boolean);
  if (!entries.length) {
    // No entries (e.g. a DataTransfer made by a script): the files, with the relative path a folder picker gave them.
    return [...(dataTransfer.files || [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
  }
  const files = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      files.push({ path: file.webkitRelativePath || entry.fullPath.replace(/^\/+/, ''), file });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries hands out a directory in chunks until it returns none.
      for (;;) {
        const chunk = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!chunk.length) break;
        for (const child of chunk) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return files;
}

function fileIcon(path) {
  const ext = path.includes('.') ? path.split('.').pop().toLowerCase() : '';
  return { py: 'py', js: 'js', mjs: 'js', ts: 'ts', json: '{}', md: 'md', html: '<>', css: '#' }[ext] || '·';
}
