/**
 * What a stage asks of an object store: an HTTP pass-through in front of Azurite / versitygw that counts requests
 * by kind and the bytes each way. It runs in a child process, so its own CPU time is not charged to the worker
 * being measured (and is reported on its own).
 *
 * Everything is forwarded unchanged, Host header included: S3 SigV4 signs the Host the client used, and the
 * server checks the signature against the header it receives, not against its own address. Azure Shared Key
 * signs the path (account + blob), which the pass-through keeps.
 *
 *   const t = await startStoreTraffic('http://127.0.0.1:7070');   // t.url: point the clients here
 *   const before = await t.snapshot(); …; const used = diffTraffic(await t.snapshot(), before);
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';

export interface Traffic {
  /** Requests by kind: GET (whole object), GET-range, HEAD, PUT, PUT-conditional, PUT-block / PUT-blocklist (Azure), POST-multipart (S3), LIST, DELETE, other. */
  requests: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  /** CPU seconds of the pass-through itself. */
  cpuSeconds: number;
}

export interface StoreTraffic {
  /** The pass-through's base URL (http://127.0.0.1:PORT). */
  url: string;
  snapshot(): Promise<Traffic>;
  close(): void;
}

/** The kind of one request, from its method, query and headers (Azure Blob and S3 REST APIs). */
export function requestKind(method: string, url: string, headers: http.IncomingHttpHeaders): string {
  const q = new URL(url, 'http://x').searchParams;
  if (method === 'GET' && (q.get('comp') === 'list' || q.has('list-type') || (q.has('prefix') && !q.has('comp')))) return 'LIST';
  if (method === 'GET') return headers.range || headers['x-ms-range'] ? 'GET-range' : 'GET';
  if (method === 'HEAD') return 'HEAD';
  if (method === 'DELETE') return 'DELETE';
  if (method === 'PUT' && q.get('comp') === 'block') return 'PUT-block';
  if (method === 'PUT' && q.get('comp') === 'blocklist') return 'PUT-blocklist';
  if (method === 'PUT' && q.has('partNumber')) return 'PUT-part';
  if (method === 'PUT') return headers['if-none-match'] ? 'PUT-conditional' : 'PUT';
  if (method === 'POST' && (q.has('uploads') || q.has('uploadId'))) return 'POST-multipart';
  return `${method}-other`;
}

export function diffTraffic(after: Traffic, before: Traffic): Traffic {
  const requests: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.requests)) {
    const d = v - (before.requests[k] ?? 0);
    if (d) requests[k] = d;
  }
  return { requests, bytesUp: after.bytesUp - before.bytesUp, bytesDown: after.bytesDown - before.bytesDown, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
}

export const totalRequests = (t: Traffic): number => Object.values(t.requests).reduce((a, b) => a + b, 0);

export async function startStoreTraffic(upstream: string): Promise<StoreTraffic> {
  const child: ChildProcess = fork(__filename, [upstream], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`store traffic counter exited (${code})`)));
  });
  let seq = 0;
  return {
    url: `http://127.0.0.1:${port}`,
    snapshot: () =>
      new Promise<Traffic>((resolve) => {
        const id = ++seq;
        const on = (m: unknown) => {
          const msg = m as { id: number; traffic: Traffic };
          if (msg.id !== id) return;
          child.off('message', on);
          resolve(msg.traffic);
        };
        child.on('message', on);
        child.send({ id });
      }),
    close: () => {
      child.kill('SIGTERM');
    },
  };
}

/** The child: listens on an ephemeral port of 127.0.0.1, forwards to argv[2], answers snapshot requests. */
function serve(upstream: URL): void {
  const traffic: Traffic = { requests: {}, bytesUp: 0, bytesDown: 0, cpuSeconds: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const kind = requestKind(req.method ?? 'GET', req.url ?? '/', req.headers);
    traffic.requests[kind] = (traffic.requests[kind] ?? 0) + 1;
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.rawHeaders);
        ur.on('data', (c: Buffer) => (traffic.bytesDown += c.length));
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.on('data', (c: Buffer) => (traffic.bytesUp += c.length));
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('message', (m) => {
    const cpu = process.cpuUsage();
    process.send!({ id: (m as { id: number }).id, traffic: { ...traffic, requests: { ...traffic.requests }, cpuSeconds: (cpu.user + cpu.system) / 1e6 } });
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) serve(new URL(process.argv[2]!));
