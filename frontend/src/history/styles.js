// Styles of the History tab and its version diff dialog (the git diff dialog's look).

export const STYLE = `
.history-panel { display: flex; flex-direction: column; gap: 10px; padding: 8px; font-size: 13px; }
.history-panel h3 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; opacity: .75; }
.history-list { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.history-version { display: grid; gap: 2px; padding: 4px 6px; border-left: 3px solid var(--border); }
.history-version.live-log { border-left-color: var(--ok); }
.history-row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.history-row .grow { flex: 1; }
.history-when { font-family: var(--mono); font-size: 12px; }
.history-counts { font: 11px var(--mono); color: var(--text-dim); }
.history-who { color: var(--text-dim); padding-left: 20px; }
.history-panel button, .history-hunks button { padding: 2px 8px; font-size: 12px; }
.history-restores { list-style: none; margin: 0; padding: 0; display: grid; gap: 4px; font-size: 12px; }
.history-diff { position: fixed; inset: 6% 6%; z-index: 50; display: flex; flex-direction: column; background: var(--bg);
  border: 1px solid var(--border); border-radius: 8px; box-shadow: 0 10px 40px rgba(0,0,0,.5); }
.history-diff-head { display: flex; gap: 12px; align-items: center; padding: 8px 12px; border-bottom: 1px solid var(--border); }
.history-diff-head .grow { flex: 1; color: var(--text-dim); }
.history-diff-body { flex: 1; min-height: 0; display: flex; }
.history-diff-host { flex: 1; min-width: 0; }
.history-hunks { width: 220px; overflow: auto; border-left: 1px solid var(--border); padding: 8px; display: grid;
  gap: 6px; align-content: start; font-size: 12px; }
`;
