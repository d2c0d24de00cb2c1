// Stored files (binary, or text too large to edit live) are shown here instead of in Monaco: an image preview
// or the beginning of the text, the size, and a download link. Never a CRDT document.

import { formatSize } from '../editor/filetree.js';
import { h } from './dom.js';

export class StoredFileViewer {
  constructor(app) {
    this.app = app;
    this.overlay = null;
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
  }

  close() {
    this.overlay?.remove();
    this.overlay = null;
  }

  async show(node) {
    this.close();
    const readonly = node.kind === 'readonly';
    const body = h('div', { class: 'stored-body', testid: 'stored-file-body' });
    const download = h(
      'a',
      { class: 'repos-button', href: `/api/files/${node.id}/download`, download: '', testid: 'stored-file-download' },
      'Download',
    );
    this.overlay = h(
      'div',
      { class: 'stored-overlay', testid: 'stored-file-view', 'data-kind': node.kind, role: 'dialog', 'aria-label': node.path },
      h(
        'div',
        { class: 'stored-head' },
        h('span', { class: 'stored-name', testid: 'stored-file-name' }, node.path),
        readonly
          ? h('span', { class: 'badge readonly', testid: 'stored-file-readonly', title: 'Too large to edit live' }, 'read-only')
          : h('span', { class: 'badge' }, 'binary'),
        h('span', { class: 'stored-size', testid: 'stored-file-size' }, formatSize(node.size)),
        download,
        h('button', { type: 'button', testid: 'stored-file-close', onclick: () => this.close() }, 'Close'),
      ),
      body,
    );
    document.body.append(this.overlay);
    const preview = `/api/files/${node.id}/preview`;
    if (readonly) {
      const response = await fetch(preview, { credentials: 'same-origin' });
      const text = response.ok ? await response.text() : '';
      body.append(
        h('p', { class: 'stored-note' }, 'This text file is too large to edit live; its beginning is shown. Download it for all of it.'),
        h('pre', { class: 'stored-text', testid: 'stored-file-text' }, text),
      );
      return;
    }
    const image = h('img', { class: 'stored-image', testid: 'stored-file-image', alt: node.path, src: preview });
    const dimensions = h('p', { class: 'stored-note', testid: 'stored-file-dimensions' });
    image.addEventListener('load', () => {
      dimensions.textContent = `${image.naturalWidth} × ${image.naturalHeight} px`;
      // Small images (icons) are shown enlarged, their pixels kept sharp.
      if (Math.max(image.naturalWidth, image.naturalHeight) < 64) image.classList.add('tiny');
    });
    body.append(dimensions);
    image.addEventListener('error', () =>
      image.replaceWith(h('p', { class: 'stored-note', testid: 'stored-file-no-preview' }, 'No preview for this file: download it.')),
    );
    body.append(image);
  }
}
