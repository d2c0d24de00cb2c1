// The "Team" tab: who is here (colour, current file, Follow), chat, and for owners invites + members.

import { mountChat } from './chat.js';
import { h, STYLE } from './dom.js';
import { FollowMode } from './follow.js';
import { mountMembers } from './members.js';

function mountPresence(app, root) {
  const list = h('ul', { className: 'team-people', testid: 'team-presence' });
  const banner = h('div', { className: 'team-following', testid: 'following-banner', hidden: true });
  const historyLink = h(
    'a',
    { href: `/history/w/${app.config.workspace.id}/`, target: '_blank', testid: 'team-history-link' },
    'Task history ↗',
  );
  root.append(h('section', {}, h('h3', {}, 'Here now'), banner, list, historyLink));
  let users = [];
  const follow = new FollowMode(app, (target) => {
    render();
    const user = users.find((u) => u.user_id === target);
    banner.hidden = target == null;
    banner.replaceChildren(
      h('span', {}, `Following ${user?.username ?? 'someone'}`),
      h('button', { type: 'button', testid: 'stop-following', onClick: () => follow.stop() }, 'Stop'),
    );
  });

  const fileName = (id) => (id == null ? 'no file' : (app.files().find((f) => f.id === id)?.path ?? `file ${id}`));

  function render() {
    list.replaceChildren(
      ...users.map((user) => {
        const me = user.user_id === app.user.id;
        const following = follow.target === user.user_id;
        return h(
          'li',
          { className: 'team-person', testid: `team-person-${user.username}`, 'data-file-id': user.file_id ?? '' },
          h('span', { className: 'team-swatch', style: `--user-color: ${user.color}` }),
          h('strong', {}, me ? `${user.username} (you)` : user.username),
          h('span', { className: 'team-where', testid: `team-file-${user.username}` }, fileName(user.file_id)),
          me
            ? null
            : h(
                'button',
                {
                  type: 'button',
                  testid: `follow-${user.username}`,
                  'aria-pressed': String(following),
                  onClick: () => (following ? follow.stop() : follow.follow(user.user_id, user.file_id)),
                },
                following ? 'Unfollow' : 'Follow',
              ),
        );
      }),
    );
  }

  app.on('presence', (next) => {
    users = next || [];
    follow.userLeft(new Set(users.map((u) => u.user_id)));
    render();
  });
  app.on('files-changed', () => render());
  // The first presence event may have arrived before this plugin was installed: ask for a fresh one.
  app.ws.send({ type: 'presence.open_file', file_id: app.currentFile()?.id ?? null });
}

export default {
  name: 'teams',
  install(app) {
    document.head.append(h('style', {}, STYLE));
    const root = app.panels.addTab('team', 'Team');
    root.classList.add('team-panel');
    mountPresence(app, root);
    mountChat(app, root);
    mountMembers(app, root);
  },
};
