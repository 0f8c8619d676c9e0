/**
 * The subscribers of bench/queue.ts's WebSocket fan-out, in a process of their own (forked by it),
 * so that their receive loop does not run on the load generator's event loop.
 *
 * Protocol (IPC): the parent sends {url, clients, client}; this process connects the clients in
 * batches of 100, answers {type: 'connected', connected, connect_s}, and once every socket has
 * closed (or the parent sends 'stop') answers {type: 'done', recv, closes}, where recv[i] lists
 * [key, receive instant] for every update client i got after its on-connect status (key:
 * status|progress|current_step; instant: performance.timeOrigin + performance.now()).
 *
 * Clients (--ws-client):
 *   raw  (default) a minimal RFC 6455 client on a bare net.Socket. The spread being measured is
 *        the server's, but 1,000 clients share this machine's two cores with the server, and the
 *        `ws` client's per-message work (a Writable stream, events, Buffer copies) shows in it:
 *        on the same server, p99 spreads of 29-34 ms with this client against 31-54 ms with `ws`.
 *   ws   the `ws` library's client, for comparison.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

export interface ClientsRequest {
  url: string;
  clients: number;
  client: 'raw' | 'ws';
}
export type ClientsMessage =
  | { type: 'connected'; connected: number; connect_s: number }
  | { type: 'done'; recv: [string, number][][]; closes: Record<string, number> };

const now = (): number => performance.timeOrigin + performance.now();
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface Handlers {
  onText(text: string, at: number): void;
  onClose(code: number): void;
}

/**
 * A minimal RFC 6455 client on a bare net.Socket: the handshake is checked, the server's unmasked
 * frames are parsed, ping and close are answered. Resolves true once the handshake succeeded.
 */
function rawClient(target: URL, h: Handlers): Promise<boolean> {
  return new Promise((resolve) => {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const socket = connect(Number(target.port), target.hostname);
    socket.setNoDelay(true);
    let open = false;
    let closed = false;
    let buf: Buffer = Buffer.alloc(0);
    const close = (code: number) => {
      if (closed) return;
      closed = true;
      socket.destroy();
      h.onClose(code);
      if (!open) resolve(false);
    };
    const sendFrame = (opcode: number, payload: Buffer) => {
      // client frames are masked (RFC 6455 5.3); the payloads here (pong, close) are under 126 bytes
      const mask = randomBytes(4);
      const out = Buffer.alloc(6 + payload.length);
      out[0] = 0x80 | opcode;
      out[1] = 0x80 | payload.length;
      mask.copy(out, 2);
      for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ mask[i & 3]!;
      socket.write(out);
    };
    socket.on('connect', () =>
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      const at = now();
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').toLowerCase();
        if (
          !head.startsWith('http/1.1 101 ') ||
          !head.includes(`sec-websocket-accept: ${accept.toLowerCase()}`)
        )
          return close(1002);
        open = true;
        resolve(true);
        buf = buf.subarray(end + 4);
      }
      while (buf.length >= 2) {
        const b0 = buf[0]!;
        const b1 = buf[1]!;
        if (b1 & 0x80 || !(b0 & 0x80)) return close(1002); // masked or fragmented: our server sends neither
        let len = b1 & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        const opcode = b0 & 0x0f;
        if (opcode === 1) h.onText(payload.toString('utf8'), at);
        else if (opcode === 9) sendFrame(0xa, payload);
        else if (opcode === 8) {
          sendFrame(0x8, payload.subarray(0, 2));
          return close(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
        }
      }
    });
    socket.on('error', () => close(1006));
    socket.on('close', () => close(1006));
  });
}

function wsClient(url: string, h: Handlers): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data) => h.onText(String(data), now()));
    ws.on('close', (code) => h.onClose(code));
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
}

async function run(req: ClientsRequest): Promise<void> {
  const recv: [string, number][][] = [];
  const closes: Record<string, number> = {};
  let open = 0;
  let connected = 0;
  let finish!: () => void;
  const allClosed = new Promise<void>((r) => (finish = r));
  const t0 = now();
  for (let b = 0; b < req.clients; b += 100) {
    const batch: Promise<boolean>[] = [];
    for (let i = b; i < Math.min(req.clients, b + 100); i++) {
      const got: [string, number][] = [];
      recv.push(got);
      let first = true;
      const seen = new Set<string>();
      open++;
      const handlers: Handlers = {
        onText(text, at) {
          if (first) return void (first = false); // the on-connect status
          const s = JSON.parse(text) as { status: string; progress: number; current_step: unknown };
          const k = `${s.status}|${s.progress}|${JSON.stringify(s.current_step)}`;
          if (!seen.has(k)) {
            seen.add(k);
            got.push([k, at]);
          }
        },
        onClose(code) {
          closes[code] = (closes[code] ?? 0) + 1;
          if (--open === 0) finish();
        },
      };
      batch.push(req.client === 'ws' ? wsClient(req.url, handlers) : rawClient(new URL(req.url), handlers));
    }
    connected += (await Promise.all(batch)).filter(Boolean).length;
  }
  process.send!({ type: 'connected', connected, connect_s: (now() - t0) / 1000 } satisfies ClientsMessage);
  await Promise.race([allClosed, new Promise((r) => process.once('message', r))]);
  process.send!({ type: 'done', recv, closes } satisfies ClientsMessage, () => process.exit(0));
}

if (require.main === module) {
  process.once('message', (req: ClientsRequest) => {
    run(req).catch((err) => {
      console.error(err);
      process.exit(1);
    });
  });
}
