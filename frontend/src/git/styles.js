// Styles of the Git tab, its diff dialog and the file tree's change marks (injected once).

const CSS = `
.git-head, .git-commit-box { display: grid; gap: 8px; margin-bottom: 12px; }
.git-row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; font-size: 13px; }
.git-row small { color: var(--text-dim); font-family: var(--mono); }
.git-head input[type=text], .git-commit-box textarea { width: 100%; background: var(--bg); color: var(--text);
  border: 1px solid var(--border); border-radius: var(--radius); padding: 6px 8px; font: 13px var(--mono); }
.git-commit-box textarea { min-height: 60px; resize: vertical; }
.git-changes { display: grid; gap: 2px; margin-bottom: 12px; }
.git-change { display: flex; gap: 6px; align-items: center; font-size: 13px; }
.git-open-diff { background: none; border: none; color: var(--text); cursor: pointer; text-align: left; padding: 2px 0;
  font: 13px var(--mono); }
.git-open-diff:hover { text-decoration: underline; }
.git-mark { width: 1.2em; font-weight: 700; font-family: var(--mono); }
.git-mark.added { color: var(--ok); } .git-mark.modified { color: #e2b340; } .git-mark.deleted { color: var(--danger); }
.git-status, .git-clean { font-size: 12px; color: var(--text-dim); }
.git-status[data-status=failed] { color: var(--danger); }
.git-status[data-status=succeeded] { color: var(--ok); }
.git-status[data-status=conflict] { color: #e2b340; }
.tree-row[data-git]::after { margin-left: auto; padding: 0 6px; font: 700 11px var(--mono); }
.tree-row[data-git=added]::after { content: 'A'; color: var(--ok); }
.tree-row[data-git=modified]::after { content: 'M'; color: #e2b340; }
.git-conflict { font-size: 12px; margin-top: 8px; }
.git-conflict pre { margin: 2px 0 6px; padding: 4px 6px; background: var(--bg-hover); font: 12px var(--mono);
  white-space: pre-wrap; }
.git-diff { position: fixed; inset: 6% 6%; z-index: 50; display: flex; flex-direction: column; background: var(--bg);
  border: 1px solid var(--border); border-radius: 8px; box-shadow: 0 10px 40px rgba(0,0,0,.5); }
.git-diff-head { display: flex; gap: 12px; align-items: center; padding: 8px 12px; border-bottom: 1px solid var(--border); }
.git-diff-head .grow { flex: 1; color: var(--text-dim); }
.git-diff-host { flex: 1; min-height: 0; }
`;

let injected = false;

export function injectStyles() {
  if (injected) return;
  injected = true;
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.append(style);
}
