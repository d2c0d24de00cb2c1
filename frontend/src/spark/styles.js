// Styles of the Spark plugin, injected once (the shared app.css belongs to the editor shell).

const CSS = `
.spark-inline{background:var(--bg-elevated,#161a23);border:1px solid var(--accent,#7c8cff);border-radius:8px;padding:6px;
  display:flex;gap:6px;align-items:center;box-shadow:0 6px 24px rgba(0,0,0,.45);width:460px;z-index:20}
.spark-inline input{flex:1;background:var(--bg,#0f1117);color:var(--text,#e4e8f0);border:1px solid var(--border,#262d3b);
  border-radius:6px;padding:5px 8px;font:13px var(--font,sans-serif)}
.spark-inline .hint{color:var(--text-faint,#6b7385);font-size:11px;white-space:nowrap}
.spark-bar{position:absolute;top:8px;right:24px;z-index:15;display:flex;gap:8px;align-items:center;
  background:var(--bg-elevated,#161a23);border:1px solid #f5a623;border-radius:8px;padding:4px 10px;font-size:12px;
  color:var(--text,#e4e8f0);box-shadow:0 4px 16px rgba(0,0,0,.4)}
.spark-bar{flex-direction:column;align-items:stretch;gap:4px;max-width:440px}
.spark-bar .row{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.spark-bar .thread{margin:0;padding-left:18px;color:var(--text-dim,#9aa3b5);max-height:48px;overflow:auto;font-size:11px}
.spark-bar .thread[hidden],.spark-bar input[hidden]{display:none}
.spark-bar input{background:var(--bg,#0f1117);color:var(--text,#e4e8f0);border:1px solid var(--border,#262d3b);
  border-radius:6px;padding:4px 8px;font:12px var(--font,sans-serif)}
.spark-bar[hidden]{display:none}
.spark-inline{flex-wrap:wrap}
.spark-inline .offer{flex-basis:100%;display:flex;gap:6px;align-items:center;color:#f5a623;font-size:12px}
.spark-inline .offer[hidden]{display:none}
.spark-pending-region{background:rgba(245,166,35,.10)}
.spark-hunk-new{background:rgba(46,160,67,.18)}
.spark-hunk-old{background:rgba(248,81,73,.16);color:var(--text-dim,#9aa3b5);text-decoration:line-through;
  white-space:pre;font:13px var(--mono,monospace);padding-left:4px;overflow:hidden}
.spark-hunk-actions{display:flex;gap:4px;margin-left:12px;font-size:11px;z-index:10}
.spark-hunk-actions button{padding:0 6px;font-size:11px}
.spark-panel .completions label,.spark-panel .refine{display:flex;gap:6px;align-items:center;font-size:12px}
.spark-panel .refine[hidden]{display:none}
.spark-bar .figures{color:var(--text-dim,#9aa3b5);font-variant-numeric:tabular-nums}
.spark-bar .error{color:var(--danger,#f06a6a);max-width:380px}
.spark-panel{display:flex;flex-direction:column;gap:10px;padding:10px;font-size:13px;height:100%;box-sizing:border-box}
.spark-panel .notice{background:rgba(240,106,106,.12);border:1px solid var(--danger,#f06a6a);border-radius:6px;padding:8px}
.spark-panel .row{display:flex;gap:6px;flex-wrap:wrap}
.spark-chat{flex:1;overflow:auto;display:flex;flex-direction:column;gap:8px;min-height:120px}
.spark-msg{border-radius:6px;padding:6px 8px;white-space:pre-wrap;word-break:break-word}
.spark-msg.user{background:var(--accent-soft,rgba(124,140,255,.14))}
.spark-msg.assistant{background:var(--bg-hover,#1d2330)}
.spark-msg pre{background:var(--bg,#0f1117);padding:6px;border-radius:4px;overflow:auto;margin:4px 0;font:12px var(--mono,monospace)}
.spark-panel textarea{width:100%;box-sizing:border-box;min-height:54px;background:var(--bg,#0f1117);color:var(--text,#e4e8f0);
  border:1px solid var(--border,#262d3b);border-radius:6px;padding:6px;font:13px var(--font,sans-serif)}
.spark-history{list-style:none;margin:0;padding:0;max-height:180px;overflow:auto;font-size:12px}
.spark-history li{padding:3px 0;border-bottom:1px solid var(--border,#262d3b);color:var(--text-dim,#9aa3b5)}
.spark-history .status-failed{color:var(--danger,#f06a6a)}
`;

export function injectStyles() {
  if (document.querySelector('style[data-role="spark"]')) return;
  const style = document.createElement('style');
  style.dataset.role = 'spark';
  style.textContent = CSS;
  document.head.append(style);
}
