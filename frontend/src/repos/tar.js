// A tar archive (POSIX ustar, with pax headers for long or non-ASCII paths) of dropped or picked files, built
// as a Blob of headers and the File objects themselves: the browser reads each file only while uploading it.

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value, length) {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

function header(name, size, type, mtime) {
  const block = new Uint8Array(BLOCK);
  const put = (text, offset, length) => block.set(encoder.encode(text).subarray(0, length), offset);
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  put('        ', 148, 8); // the checksum is computed with its own field as spaces
  put(type, 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

function paxRecord(key, value) {
  // "<length> <key>=<value>\n", where the length counts its own digits.
  const body = encoder.encode(` ${key}=${value}\n`).length;
  let length = body + String(body).length;
  while (length !== body + String(length).length) length = body + String(length).length;
  return `${length} ${key}=${value}\n`;
}

function padding(size) {
  const rest = size % BLOCK;
  return rest ? new Uint8Array(BLOCK - rest) : null;
}

/** files: [{path, file}] -> Blob (application/x-tar). */
export function tarOf(files) {
  const parts = [];
  for (const { path, file } of files) {
    const mtime = Math.floor((file.lastModified || Date.now()) / 1000);
    const ascii = /^[\x20-\x7e]*$/.test(path);
    if (!ascii || encoder.encode(path).length > 100) {
      const pax = encoder.encode(paxRecord('path', path));
      parts.push(header('././@PaxHeader', pax.length, 'x', mtime), pax);
      const pad = padding(pax.length);
      if (pad) parts.push(pad);
    }
    const fallback = ascii ? path.slice(-100) : path.replace(/[^\x20-\x7e]/g, '_').slice(-100);
    parts.push(header(fallback, file.size, '0', mtime), file);
    const pad = padding(file.size);
    if (pad) parts.push(pad);
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return new Blob(parts, { type: 'application/x-tar' });
}
