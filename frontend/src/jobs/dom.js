// Tiny DOM helpers for the Jobs plugin: build elements without innerHTML (job text is untrusted).

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'style') node.style.cssText = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatTokens(job) {
  const cost = job.cost_usd ? ` · $${Number(job.cost_usd).toFixed(4)}` : '';
  return `${job.tokens_in || 0} in · ${job.tokens_out || 0} out${cost}`;
}

export function isActive(job) {
  return job.status === 'queued' || job.status === 'running';
}
