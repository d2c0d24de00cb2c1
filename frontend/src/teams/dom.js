// Tiny DOM helpers for the Team panel.

export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'testid') node.dataset.testid = value;
    else if (key === 'className') node.className = value;
    else if (key === 'style') node.style.cssText = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2).toLowerCase(), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export const STYLE = `
.team-panel { display: flex; flex-direction: column; gap: 14px; padding: 8px; font-size: 13px; }
.team-panel h3 { margin: 0 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; opacity: .75; }
.team-people, .team-members, .team-invites { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 4px; }
.team-person, .team-member { display: flex; align-items: center; gap: 6px; }
.team-swatch { width: 10px; height: 10px; border-radius: 50%; flex: none; background: var(--user-color, #888); }
.team-member select, .team-invite-form select { width: auto; flex: none; }
.team-member .team-name { flex: 1; min-width: 4em; overflow: hidden; text-overflow: ellipsis; }
.team-where { opacity: .7; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 1; }
.team-following { padding: 4px 8px; border-radius: 4px; background: #2d4a7a; display: flex; gap: 8px; align-items: center; }
.team-chat-log { max-height: 260px; overflow-y: auto; display: flex; flex-direction: column; gap: 4px; border: 1px solid #3334; border-radius: 4px; padding: 6px; }
.team-chat-msg .who { font-weight: 600; margin-right: 4px; }
.team-chat-msg time { opacity: .6; font-size: 11px; margin-left: 4px; }
.team-chat-form, .team-invite-form { display: flex; gap: 4px; flex-wrap: wrap; }
.team-chat-form input { flex: 1; min-width: 0; width: auto; }
.team-invite-form input { width: 4.5em; }
.team-chat-log:empty::before { content: 'No messages yet.'; opacity: .6; }
.team-invite-url { width: 100%; font-family: monospace; font-size: 11px; }
`;
