// The history table rows and the pager.

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text ?? '—';
  return td;
}

const number = (value, digits = 0) => (value == null ? '—' : Number(value).toFixed(digits));

export function detailUrl(row) {
  return row.kind === 'spark' ? `/history/spark/${row.id}/` : `/history/jobs/${row.id}/`;
}

export function renderRows(tbody, rows, showWorkspace) {
  tbody.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'history-row';
      tr.dataset.kind = row.kind;
      tr.dataset.id = row.id;
      tr.dataset.status = row.status;
      const when = cell(new Date(row.created_at).toLocaleString());
      const link = document.createElement('a');
      link.href = detailUrl(row);
      link.textContent = when.textContent;
      when.replaceChildren(link);
      tr.append(when);
      if (showWorkspace) tr.append(cell(row.workspace));
      const prompt = cell(row.prompt.length > 80 ? `${row.prompt.slice(0, 80)}…` : row.prompt, 'prompt');
      prompt.title = row.prompt;
      tr.append(
        cell(row.user || '—'),
        cell(row.files.join(', ') || '—'),
        cell(`${row.kind === 'spark' ? 'Spark' : 'Deep'} · ${row.mode}`),
        cell(row.model || '—'),
        cell(row.status, `status status-${row.status}`),
        cell(number(row.ttft_ms)),
        cell(number(row.tokens_per_second, 1)),
        cell(number(row.duration_ms)),
        cell(number(row.overhead_ms, 1)),
        cell(row.outcome || '—'),
        prompt,
      );
      if (row.error) tr.title = row.error;
      return tr;
    }),
  );
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = cell('No requests or jobs match.');
    td.colSpan = showWorkspace ? 13 : 12;
    tr.append(td);
    tbody.append(tr);
  }
}

export function renderPager(nav, page, onGo) {
  const button = (label, target, disabled) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.disabled = disabled;
    b.dataset.testid = `pager-${label === '‹' ? 'prev' : 'next'}`;
    b.addEventListener('click', () => onGo(target));
    return b;
  };
  const info = document.createElement('span');
  info.dataset.testid = 'pager-info';
  info.textContent = `Page ${page.page} of ${page.pages} · ${page.total} record${page.total === 1 ? '' : 's'}`;
  nav.replaceChildren(button('‹', page.page - 1, page.page <= 1), info, button('›', page.page + 1, page.page >= page.pages));
}
