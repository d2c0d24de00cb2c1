// Short-lived notifications in the bottom-right corner.

export function toast(message, kind = 'info', timeoutMs = 4000) {
  let host = document.getElementById('toasts');
  if (!host) {
    host = document.createElement('div');
    host.id = 'toasts';
    host.className = 'toasts';
    document.body.append(host);
  }
  const item = document.createElement('div');
  item.className = `toast toast-${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  item.dataset.testid = 'toast';
  item.textContent = message;
  host.append(item);
  setTimeout(() => {
    item.classList.add('leaving');
    setTimeout(() => item.remove(), 300);
  }, timeoutMs);
  return item;
}
