// The workspace dashboard's "Who wrote the code" section: share of lines by person and by model, AI-written lines
// and those not yet reviewed, for the whole workspace and per file (GET /api/workspaces/<id>/authorship).

function cell(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function shares(summary) {
  return summary.authors.map((a) => `${a.name} ${Math.round(a.share * 100)}%`).join(', ') || '—';
}

export function renderAuthorship(root, data) {
  const total = data.total;
  const heading = cell('h2', 'Who wrote the code');
  const line = cell(
    'p',
    `${total.lines} lines · ${shares(total)} · AI-written ${total.ai_lines}, unreviewed ${total.unreviewed_ai_lines}`,
    { 'data-testid': 'authorship-total' },
  );
  const table = document.createElement('table');
  table.className = 'history-table';
  const head = document.createElement('tr');
  for (const title of ['File', 'Lines', 'By', 'AI-written', 'Unreviewed']) head.append(cell('th', title));
  table.append(head);
  for (const file of data.files) {
    const row = document.createElement('tr');
    row.dataset.testid = 'authorship-file';
    row.append(
      cell('td', file.path),
      cell('td', String(file.lines)),
      cell('td', shares(file)),
      cell('td', String(file.ai_lines)),
      cell('td', String(file.unreviewed_ai_lines)),
    );
    table.append(row);
  }
  root.replaceChildren(heading, line, table);
}
