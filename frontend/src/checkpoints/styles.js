// Styles of the Checkpoints tab (injected once).

const CSS = `
.cp-create { display: flex; gap: 8px; margin-bottom: 12px; }
.cp-create button { white-space: nowrap; }
.cp-create input { flex: 1; min-width: 0; background: var(--bg); color: var(--text); border: 1px solid var(--border);
  border-radius: var(--radius); padding: 6px 8px; font: 13px var(--mono); }
.cp-list, .cp-deleted { display: grid; gap: 6px; margin-bottom: 12px; }
.cp-item { border: 1px solid var(--border); border-radius: var(--radius); padding: 6px 8px; font-size: 13px; }
.cp-item[data-kind=auto] .cp-title { color: var(--text-dim); }
.cp-title { font-weight: 600; }
.cp-meta { color: var(--text-dim); font-size: 12px; }
.cp-actions { display: flex; gap: 6px; flex-wrap: wrap; margin-top: 4px; }
.cp-actions button { font-size: 12px; }
.cp-files { margin: 4px 0 0; padding-left: 16px; font: 12px var(--mono); }
.cp-files [data-state=differs] { color: #e2b340; } .cp-files [data-state=missing] { color: var(--danger); }
.cp-heading { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--text-dim); margin: 8px 0 4px; }
.cp-empty { margin: 0; font-size: 12px; color: var(--text-faint); }
.cp-status { font-size: 12px; color: var(--text-dim); white-space: pre-wrap; }
.cp-status[data-status=failed] { color: var(--danger); }
.cp-status[data-status=succeeded] { color: var(--ok); }
.cp-status[data-status=conflict] { color: #e2b340; }
`;

let injected = false;

export function injectStyles() {
  if (injected) return;
  injected = true;
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
}
