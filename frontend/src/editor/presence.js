// Who is online in the workspace (from the channel's "presence" events): topbar avatars + status bar list.

export class PresenceView {
  constructor({ avatars, statusList, currentUserId, fileName }) {
    this.avatars = avatars;
    this.statusList = statusList;
    this.currentUserId = currentUserId;
    this.fileName = fileName;
    this.users = [];
  }

  update(users) {
    this.users = users || [];
    this.render();
  }

  render() {
    this.avatars.replaceChildren(...this.users.map((user) => this.avatar(user)));
    const others = this.users.filter((u) => u.user_id !== this.currentUserId);
    const where = (u) => (u.file_id && this.fileName(u.file_id) ? ` (${this.fileName(u.file_id)})` : '');
    this.statusList.textContent = others.length
      ? `Here: ${others.map((u) => `${u.username}${where(u)}`).join(', ')}`
      : 'Only you here';
  }

  avatar(user) {
    const item = document.createElement('span');
    item.className = 'avatar';
    item.style.setProperty('--user-color', user.color);
    item.dataset.testid = `presence-${user.username}`;
    item.dataset.userId = user.user_id;
    item.dataset.fileId = user.file_id ?? '';
    const where = user.file_id ? this.fileName(user.file_id) : null;
    const you = user.user_id === this.currentUserId ? ' (you)' : '';
    item.title = `${user.username}${you}${where ? ` — ${where}` : ''}`;
    item.textContent = user.username.slice(0, 2).toUpperCase();
    return item;
  }
}
