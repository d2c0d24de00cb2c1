// File extension -> Monaco language id (mirrors workspace/projects/languages.py).

const BY_EXTENSION = {
  py: 'python', js: 'javascript', mjs: 'javascript', jsx: 'javascript', ts: 'typescript', tsx: 'typescript',
  json: 'json', md: 'markdown', html: 'html', css: 'css', go: 'go', rs: 'rust', java: 'java', c: 'c', h: 'c',
  cpp: 'cpp', sh: 'shell', yml: 'yaml', yaml: 'yaml', toml: 'ini', sql: 'sql', rb: 'ruby',
};

export function languageForPath(path) {
  const name = path.split('/').pop();
  if (!name.includes('.')) return name === 'Makefile' ? 'makefile' : 'plaintext';
  return BY_EXTENSION[name.split('.').pop().toLowerCase()] || 'plaintext';
}
