// Uploads with progress (XMLHttpRequest reports upload progress; fetch does not), CSRF-protected like api().
// The archive is the request body itself, not a multipart form: Daphne's HTTP layer would parse a multipart body
// once more in its event loop (the server reads the format from the archive's first bytes anyway).

import { csrfToken } from '../editor/http.js';

const TYPES = [
  [/\.zip$/i, 'application/zip'],
  [/\.tar$/i, 'application/x-tar'],
  [/\.(tgz|gz)$/i, 'application/gzip'],
  [/\.bz2$/i, 'application/x-bzip2'],
  [/\.xz$/i, 'application/x-xz'],
];

export function archiveType(name) {
  return TYPES.find(([pattern]) => pattern.test(name))?.[1] ?? 'application/octet-stream';
}

/** POST a file as the body; onProgress(fraction 0..1) while it uploads. Resolves with the JSON answer. */
export function upload(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', archiveType(file.name));
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      const data = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new Error(data.detail || `upload failed (${xhr.status})`));
    });
    xhr.addEventListener('error', () => reject(new Error('the upload was interrupted')));
    xhr.addEventListener('abort', () => reject(new Error('the upload was cancelled')));
    xhr.send(file);
  });
}
