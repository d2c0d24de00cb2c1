// Follow mode: broadcast where I look (file, cursor, scroll) and mirror another user's view.

const SEND_INTERVAL_MS = 100;

export class FollowMode {
  constructor(app, onChange) {
    this.app = app;
    this.onChange = onChange;
    this.target = null; // user id being followed
    this.lastViews = new Map(); // user id -> latest presence.view event
    this.applying = false;
    this.timer = null;
    app.ws.on('presence.view', (view) => this.received(view));
    app.on('file-opened', () => this.schedule());
    app.editor.onDidChangeCursorPosition(() => this.schedule());
    app.editor.onDidScrollChange(() => this.schedule());
    app.ws.on('open', () => this.schedule());
  }

  schedule() {
    if (this.applying || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.sendView();
    }, SEND_INTERVAL_MS);
  }

  sendView() {
    const file = this.app.currentFile();
    const position = this.app.editor.getPosition();
    this.app.ws.send({
      type: 'presence.view',
      file_id: file ? file.id : null,
      cursor: file && position ? { lineNumber: position.lineNumber, column: position.column } : null,
      scroll_top: Math.max(0, Math.round(this.app.editor.getScrollTop())),
      scroll_left: Math.max(0, Math.round(this.app.editor.getScrollLeft())),
    });
  }

  received(view) {
    if (view.user_id === this.app.user.id) return;
    this.lastViews.set(view.user_id, view);
    if (view.user_id === this.target) this.apply(view);
  }

  follow(userId, fallbackFileId) {
    this.target = userId;
    this.onChange(userId);
    const view = this.lastViews.get(userId) ?? (fallbackFileId ? { file_id: fallbackFileId } : null);
    if (view) this.apply(view);
  }

  stop() {
    this.target = null;
    this.onChange(null);
  }

  userLeft(userIds) {
    if (this.target != null && !userIds.has(this.target)) this.stop();
  }

  // Views are applied one at a time, newest last: a view arriving while a file is still opening
  // must not be applied to the old file, nor be overtaken by an older one.
  async apply(view) {
    this.pendingView = view;
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pendingView) {
        const next = this.pendingView;
        this.pendingView = null;
        await this.applyOne(next);
      }
    } finally {
      this.draining = false;
    }
  }

  async applyOne(view) {
    if (view.file_id == null) return;
    this.applying = true;
    try {
      if (this.app.currentFile()?.id !== view.file_id) await this.app.openFile(view.file_id);
      if (this.target == null || this.app.currentFile()?.id !== view.file_id) return;
      // Until the document has synced the model is empty, and a cursor on line 150 would land on line 1.
      await this.whenSynced();
      const editor = this.app.editor;
      if (view.cursor) {
        editor.setPosition(view.cursor);
        if (view.scroll_top == null) editor.revealPositionInCenterIfOutsideViewport(view.cursor);
      }
      if (view.scroll_top != null) editor.setScrollTop(view.scroll_top);
      if (view.scroll_left != null) editor.setScrollLeft(view.scroll_left);
    } finally {
      // Let the cursor/scroll events caused by mirroring pass without echoing them back.
      setTimeout(() => {
        this.applying = false;
      }, SEND_INTERVAL_MS * 2);
    }
  }

  whenSynced(timeoutMs = 5000) {
    const provider = this.app.getProvider();
    if (!provider || provider.synced) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (synced) => {
        if (!synced) return;
        provider.off('sync', done);
        resolve();
      };
      provider.on('sync', done);
      setTimeout(() => {
        provider.off('sync', done);
        resolve();
      }, timeoutMs);
    });
  }
}
