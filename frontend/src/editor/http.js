// JSON calls to the Django API, with the CSRF token Django expects on unsafe methods.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  // Fallback: the token Django rendered into the page (e.g. the log-out form).
  return document.querySelector('input[name=csrfmiddlewaretoken]')?.value || '';
}

export async function api(method, url, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken();
  const response = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.detail || data.message || `${method} ${url} failed (${response.status})`);
    error.status = response.status; // e.g. 409: the answer (`data`) says what to confirm
    error.data = data;
    throw error;
  }
  return data;
}
