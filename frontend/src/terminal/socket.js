// The terminal socket (/ws/terminal/<workspace id>): JSON text frames out; binary frames in, in order:
// "O" + 4-byte terminal id + the PTY's bytes, or "J" + a JSON control message. Reconnects with back-off;
// the server then sends the list of terminals and replays each one's scrollback.

const OUTPUT = 0x4f; // "O"
const RETRY_MAX_MS = 5000;

export class TerminalSocket {
  constructor(url, { onOutput, onControl, onStatus }) {
    this.url = url;
    this.onOutput = onOutput;
    this.onControl = onControl;
    this.onStatus = onStatus;
    this.retryMs = 250;
    this.decoder = new TextDecoder();
    this.connect();
  }

  connect() {
    const socket = new WebSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.retryMs = 250;
      this.onStatus('open');
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') return;
      const bytes = new Uint8Array(event.data);
      if (bytes[0] === OUTPUT) {
        const id = new DataView(event.data).getUint32(1);
        this.onOutput(id, bytes.subarray(5));
      } else {
        this.onControl(JSON.parse(this.decoder.decode(bytes.subarray(1))));
      }
    });
    socket.addEventListener('close', (event) => {
      this.onStatus('closed', event.code);
      if (event.code === 4401 || event.code === 4403) return;
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
