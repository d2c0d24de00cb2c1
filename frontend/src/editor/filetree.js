// The left file tree: nested folders (collapsible), file selection, create / rename / delete.

import { api } from './http.js';

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
    if (node.is_folder) row.setAttribute('aria-expanded', String(!this.collapsed.has(node.path)));
    if (this.canEdit) {
      const actions = document.createElement('span');
      actions.className = 'tree-actions';
      if (node.is_folder) actions.append(actionButton('new-in', '+', `New file in ${node.path}`));
      actions.append(actionButton('rename', '✎', `Rename ${node.path}`), actionButton('delete', '✕', `Delete ${node.path}`));
      row.append(actions);
    }
    return row;
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
      else if (node.is_folder) this.toggle(node.path);
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

function fileIcon(path) {
  const ext = path.includes('.') ? path.split('.').pop().toLowerCase() : '';
  return { py: 'py', js: 'js', mjs: 'js', ts: 'ts', json: '{}', md: 'md', html: '<>', css: '#' }[ext] || '·';
}
