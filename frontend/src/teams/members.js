// Owners only: invitation links and member management (change role, remove).

import { api } from '../editor/http.js';
import { h } from './dom.js';

const ROLES = ['viewer', 'editor', 'owner'];

function roleSelect(value, props) {
  return h('select', props, ...ROLES.map((role) => h('option', { value: role, selected: role === value }, role)));
}

export function mountMembers(app, root) {
  const base = `/api/workspaces/${app.config.workspace.id}`;
  const isOwner = app.config.role === 'owner';
  const membersList = h('ul', { className: 'team-members', testid: 'team-members' });
  app.ws.on('access.revoked', () => app.toast('You were removed from this workspace.', 'error', 15000));
  root.append(h('section', {}, h('h3', {}, 'Members'), membersList));
  if (!isOwner) {
    load();
    app.ws.on('members.changed', (event) => render(event.members));
    return;
  }

  const role = roleSelect('editor', { testid: 'invite-role', 'aria-label': 'Role' });
  const days = h('input', { type: 'number', min: '1', max: '90', value: '7', testid: 'invite-days', });
  const uses = h('input', { type: 'number', min: '1', max: '1000', value: '1', testid: 'invite-uses', });
  const urlBox = h('input', { className: 'team-invite-url', readonly: true, testid: 'invite-url', hidden: true });
  const invites = h('ul', { className: 'team-invites', testid: 'team-invites' });
  const form = h(
    'form',
    { className: 'team-invite-form', onSubmit: (event) => createInvite(event) },
    role,
    h('label', {}, 'days ', days),
    h('label', {}, 'uses ', uses),
    h('button', { type: 'submit', testid: 'invite-create' }, 'Create invite link'),
  );
  root.append(h('section', {}, h('h3', {}, 'Invite'), form, urlBox, invites));

  async function createInvite(event) {
    event.preventDefault();
    try {
      const created = await api('POST', `${base}/invitations`, {
        role: role.value,
        days: Number(days.value),
        max_uses: Number(uses.value),
      });
      urlBox.hidden = false;
      urlBox.value = created.url;
      urlBox.select();
      navigator.clipboard?.writeText(created.url).catch(() => {});
      app.toast('Invite link created (shown only once): copy it now.', 'success');
      loadInvites();
    } catch (error) {
      app.toast(error.message, 'error');
    }
  }

  async function loadInvites() {
    const rows = await api('GET', `${base}/invitations`).catch(() => []);
    invites.replaceChildren(
      ...rows
        .filter((i) => i.usable)
        .map((i) =>
          h(
            'li',
            { className: 'team-member', testid: 'invite-row' },
            `${i.role} · ${i.used}/${i.max_uses} used · until ${new Date(i.expires_at).toLocaleDateString()}`,
            h('button', { type: 'button', onClick: () => revoke(i.id) }, 'Revoke'),
          ),
        ),
    );
  }

  async function revoke(id) {
    await api('DELETE', `${base}/invitations/${id}`).catch((error) => app.toast(error.message, 'error'));
    loadInvites();
  }

  async function load() {
    const members = await api('GET', `${base}/members`).catch(() => null);
    if (members) render(members);
  }

  function render(members) {
    membersList.replaceChildren(...members.map((m) => memberRow(m)));
    const mine = members.find((m) => m.user_id === app.user.id);
    if (mine && mine.role !== app.config.role) app.toast(`Your role is now ${mine.role}: reload to apply it.`, 'info');
  }

  function memberRow(member) {
    const name = h('span', { className: 'team-name' }, member.username);
    const swatch = h('span', { className: 'team-swatch', style: `--user-color: ${member.color}` });
    if (!isOwner) return h('li', { className: 'team-member' }, swatch, name, h('span', {}, member.role));
    const select = roleSelect(member.role, {
      testid: `member-role-${member.username}`,
      onChange: async () => {
        try {
          await api('PATCH', `${base}/members/${member.user_id}`, { role: select.value });
        } catch (error) {
          select.value = member.role;
          app.toast(error.message, 'error');
        }
      },
    });
    const remove = h(
      'button',
      {
        type: 'button',
        testid: `member-remove-${member.username}`,
        onClick: async () => {
          if (!confirm(`Remove ${member.username} from this workspace?`)) return;
          await api('DELETE', `${base}/members/${member.user_id}`).catch((error) => app.toast(error.message, 'error'));
        },
      },
      'Remove',
    );
    return h('li', { className: 'team-member', testid: `member-row-${member.username}` }, swatch, name, select, remove);
  }

  app.ws.on('members.changed', (event) => {
    render(event.members);
    loadInvites(); // a join used up an invitation
  });
  load();
  loadInvites();
}
