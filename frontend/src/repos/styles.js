// Styles of the Import / Export tab, the stored-file viewer and the tree's kinds (injected once).

const CSS = `
.repos-section { display: grid; gap: 8px; margin-bottom: 16px; }
.repos-section h3 { margin: 0; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--text-dim); }
.repos-section input[type=text], .repos-section textarea { width: 100%; background: var(--bg); color: var(--text);
  border: 1px solid var(--border); border-radius: var(--radius); padding: 6px 8px; font: 13px var(--mono); }
.repos-section textarea { min-height: 70px; resize: vertical; }
.repos-row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.repos-row label { display: flex; gap: 6px; align-items: center; font-size: 13px; }
a.repos-button, .repos-pick { display: inline-block; border: 1px solid var(--border); background: var(--bg-hover);
  border-radius: 6px; padding: 7px 14px; color: var(--text); text-decoration: none; font-size: 13px; cursor: pointer; }
a.repos-button:hover, .repos-pick:hover { background: var(--bg-active); }
.repos-pick { position: relative; overflow: hidden; }
.repos-pick input[type=file] { position: absolute; inset: 0; opacity: 0; cursor: pointer; }
.repos-bar { height: 6px; border-radius: 3px; background: var(--bg-active); overflow: hidden; }
.repos-bar > div { height: 100%; background: var(--accent); transition: width .2s; }
.repos-status { font-size: 12px; color: var(--text-dim); }
.repos-status[data-status=failed] { color: var(--danger); }
.repos-status[data-status=succeeded] { color: var(--ok); }
.repos-summary { font-size: 12px; display: grid; gap: 4px; }
.repos-summary ul { margin: 0; padding-left: 16px; max-height: 200px; overflow: auto; font: 11px var(--mono); }
.repos-summary li span { color: var(--text-dim); }
.tree-size { margin-left: auto; font-size: 11px; color: var(--text-faint); padding-left: 6px; white-space: nowrap; }
.tree-badge { margin-left: 6px; font-size: 9px; padding: 0 5px; }
.tree-row[data-kind=binary] .tree-name, .tree-row[data-kind=readonly] .tree-name { color: var(--text-dim); }
.file-tree.drop-target { outline: 2px dashed var(--accent); outline-offset: -4px; background: var(--accent-soft); }
.stored-overlay { position: fixed; inset: 40px; z-index: 60; display: grid; grid-template-rows: auto 1fr;
  background: var(--bg-panel); border: 1px solid var(--border); border-radius: var(--radius); box-shadow: 0 20px 60px #000a; }
.stored-head { display: flex; gap: 10px; align-items: center; padding: 10px 14px; border-bottom: 1px solid var(--border); }
.stored-name { flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.stored-size { color: var(--text-dim); font-size: 12px; }
.stored-body { overflow: auto; padding: 14px; display: grid; place-items: start center; }
.stored-image { max-width: 100%; image-rendering: auto; background: repeating-conic-gradient(#2a3040 0 25%, #1d2330 0 50%) 0 0 / 16px 16px; }
.stored-image.tiny { width: 128px; image-rendering: pixelated; }
.stored-text { width: 100%; margin: 0; font: 12px var(--mono); white-space: pre-wrap; word-break: break-word; }
.stored-note { color: var(--text-dim); }
`;

export function injectStyles() {
  if (document.getElementById('repos-plugin-styles')) return;
  const style = document.createElement('style');
  style.id = 'repos-plugin-styles';
  style.textContent = CSS;
  document.head.append(style);
}
