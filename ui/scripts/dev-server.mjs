// Development server: serves dist/ at / and /assets/*, proxies everything else (HTTP and the
// WebSocket upgrade of /loki/api/v1/tail) to NERVE_URL. No dependencies.
//   NERVE_URL=http://127.0.0.1:19090 PORT=5173 node scripts/dev-server.mjs
import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.env.NERVE_UI_OUT || join(here, '..', 'dist'));
const target = new URL(process.env.NERVE_URL || 'http://127.0.0.1:19090');
const port = Number(process.env.PORT || 5173);
const host = process.env.HOST || '127.0.0.1';

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

async function serveStatic(req, res, path) {
  const file = normalize(join(dist, path));
  if (!file.startsWith(dist)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': types[extname(file)] || 'application/octet-stream',
      'cache-control': 'no-cache',
      'content-length': body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
}

function proxy(req, res) {
  const headers = { ...req.headers, host: target.host };
  const up = http.request(
    { hostname: target.hostname, port: target.port || 80, path: req.url, method: req.method, headers },
    (r) => {
      res.writeHead(r.statusCode || 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`dev-server: nerve at ${target.origin} unreachable: ${e.message}`);
  });
  req.pipe(up);
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url || '/', 'http://x').pathname;
  if (path === '/' || path === '/index.html') return serveStatic(req, res, 'index.html');
  if (path.startsWith('/assets/')) return serveStatic(req, res, path);
  return proxy(req, res);
});

// WebSocket (and any other) upgrade: a raw TCP pipe to nerve after replaying the request head.
server.on('upgrade', (req, socket, head) => {
  const up = net.connect(Number(target.port || 80), target.hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i];
      lines.push(`${k}: ${k.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
    }
    up.write(lines.join('\r\n') + '\r\n\r\n');
    if (head && head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
});

server.listen(port, host, () => {
  console.log(`nerve ui dev server: http://${host}:${port}/ (dist ${dist}, proxy to ${target.origin})`);
});
