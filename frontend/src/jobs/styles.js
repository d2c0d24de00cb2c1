// Styles of the Jobs tab and the review overlay (injected once; uses the app's CSS variables).

const CSS = `
.jobs-form { display: grid; gap: 8px; margin-bottom: 14px; }
.jobs-form textarea { min-height: 64px; resize: vertical; font: 13px var(--mono); }
.jobs-form select, .jobs-form textarea { width: 100%; background: var(--bg); color: var(--text);
  border: 1px solid var(--border); border-radius: var(--radius); padding: 6px 8px; }
.jobs-env { margin-bottom: 14px; font-size: 12px; color: var(--text-dim); }
.jobs-env summary { cursor: pointer; color: var(--text); }
.jobs-env-body { display: grid; gap: 6px; margin-top: 6px; min-width: 0; }
.jobs-env-body p, .jobs-env-body ul { margin: 0; }
.jobs-env-network { display: flex; gap: 6px; align-items: flex-start; }
.jobs-secrets { display: grid; gap: 4px; }
.jobs-secret { display: flex; justify-content: space-between; gap: 6px; align-items: center; min-width: 0; }
.jobs-secret code { min-width: 0; overflow-wrap: anywhere; }
.jobs-secret button { flex: none; overflow-wrap: normal; font-size: 12px; padding: 2px 8px; }
.jobs-secret-form { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr) auto; gap: 4px; }
.jobs-secret-form input { min-width: 0; background: var(--bg); color: var(--text); border: 1px solid var(--border);
  border-radius: var(--radius); padding: 3px 6px; }
.jobs-list { display: grid; grid-template-columns: minmax(0, 1fr); gap: 10px; }
.job-card { border: 1px solid var(--border); border-radius: var(--radius); padding: 10px; background: var(--bg-elevated);
  min-width: 0; }
.job-head { display: flex; gap: 8px; align-items: center; justify-content: space-between; min-width: 0; }
/* Flex items do not shrink below their content unless told: the title gives way, the badge never does. */
.job-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 1 1 auto; min-width: 0; }
.job-status { flex: none; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; padding: 1px 6px; border-radius: 999px;
  background: var(--bg-active); color: var(--text-dim); }
.job-status[data-status=succeeded] { color: var(--ok); }
.job-status[data-status=failed] { color: var(--danger); }
.job-status[data-status=cancelled] { color: var(--warn); }
.job-status[data-status=running] { color: var(--accent); }
.job-bar { height: 6px; border-radius: 3px; background: var(--bg-active); margin: 8px 0 4px; overflow: hidden; }
.job-bar > div { height: 100%; background: var(--accent); transition: width .2s; }
.job-meta { font-size: 12px; color: var(--text-dim); display: flex; flex-wrap: wrap; justify-content: space-between;
  gap: 2px 8px; min-width: 0; }
.job-step { flex: 1 1 10em; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.job-queue, .job-tokens { flex: none; white-space: nowrap; }
.job-spark-link { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.job-error { color: var(--danger); font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 6px; }
.job-actions { display: flex; gap: 6px; margin-top: 8px; flex-wrap: wrap; }
.job-actions button { font-size: 12px; padding: 3px 10px; }
.job-log { margin-top: 8px; max-height: 240px; overflow: auto; font: 12px var(--mono); border-top: 1px solid var(--border); }
.job-log-entry { padding: 3px 0; border-bottom: 1px dashed var(--border); white-space: pre-wrap; overflow-wrap: anywhere; }
.job-log-entry .kind { color: var(--accent); margin-right: 6px; }
.job-log-entry[data-kind=error] .kind { color: var(--danger); }
.jobs-review { position: fixed; inset: 24px; z-index: 50; display: grid; grid-template-rows: auto 1fr;
  background: var(--bg-panel); border: 1px solid var(--border); border-radius: var(--radius); box-shadow: 0 20px 60px #000a; }
.jobs-review-head { display: flex; gap: 10px; align-items: center; padding: 10px 14px; border-bottom: 1px solid var(--border); }
.jobs-review-head .grow { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.jobs-review-body { display: grid; grid-template-columns: 260px 1fr; min-height: 0; }
.jobs-review-files { border-right: 1px solid var(--border); overflow: auto; }
.jobs-review-file { display: block; width: 100%; text-align: left; border: none; border-radius: 0; background: none;
  padding: 8px 12px; color: var(--text); border-bottom: 1px solid var(--border); }
.jobs-review-file.active { background: var(--accent-soft); }
.jobs-review-file small { display: block; color: var(--text-dim); }
.jobs-review-main { display: grid; grid-template-rows: auto 1fr auto; min-height: 0; }
.jobs-review-toolbar .grow { flex: 1; }
.jobs-review-toolbar { display: flex; gap: 8px; align-items: center; padding: 8px 12px; border-bottom: 1px solid var(--border); }
.jobs-review-diff { min-height: 0; }
.jobs-conflicts { max-height: 35vh; overflow: auto; border-top: 1px solid var(--border); padding: 8px 12px; }
.jobs-conflict { border-bottom: 1px dashed var(--border); padding: 6px 0; }
.jobs-conflict-edit { width: 100%; min-height: 80px; font: 12px var(--mono); background: var(--bg); color: var(--text);
  border: 1px solid var(--border); border-radius: var(--radius); margin-top: 6px; }
.jobs-conflict-done { color: var(--ok); font-size: 12px; }
.jobs-conflicts pre { margin: 4px 0 10px; padding: 6px; background: var(--bg); border-radius: 4px; font: 12px var(--mono); white-space: pre-wrap; }
`;

export function injectStyles() {
  if (document.getElementById('jobs-plugin-styles')) return;
  const style = document.createElement('style');
  style.id = 'jobs-plugin-styles';
  style.textContent = CSS;
  document.head.append(style);
}
