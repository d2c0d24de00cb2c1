// A stock y-websocket WebsocketProvider (unmodified, from frontend/node_modules) joining a Sparkroom room.
// Usage: node yclient.mjs <serverUrl ws://host:port/ws/yjs> <fileId> <token> <textToInsert> [expected substrings...]
// Inserts its text once synced, waits until the shared text contains every expected substring,
// prints {"text": ...} as JSON and exits 0; exits 1 after a timeout.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', '..', '..', 'frontend', 'package.json'))
const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')

const [serverUrl, fileId, token, insertText, ...expected] = process.argv.slice(2)
const timeoutMs = parseInt(process.env.YCLIENT_TIMEOUT_MS || '15000')

const doc = new Y.Doc()
const text = doc.getText('content')
const provider = new WebsocketProvider(serverUrl, fileId, doc, {
  params: { token },
  WebSocketPolyfill: WebSocket,
  disableBc: true
})
provider.awareness.setLocalStateField('user', { name: 'node-client', color: '#0a0' })

const finish = (code, extra = {}) => {
  process.stdout.write(JSON.stringify({ text: text.toString(), ...extra }) + '\n')
  provider.destroy()
  setTimeout(() => process.exit(code), 50)
}
const done = () => expected.every(part => text.toString().includes(part))
const timer = setTimeout(() => finish(1, { error: 'timeout', synced: provider.synced }), timeoutMs)

provider.on('connection-close', event => {
  if (event && event.code >= 4000) { clearTimeout(timer); finish(1, { error: `closed ${event.code}` }) }
})
provider.once('sync', synced => {
  if (!synced) return
  if (insertText) text.insert(0, insertText)
  const check = () => { if (done()) { clearTimeout(timer); finish(0) } }
  text.observe(check)
  check()
})
