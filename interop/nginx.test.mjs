// The official client through nginx (deploy/nginx.conf) in front of two chat-server nodes that
// share a Redis of the test's own (the adapter) and a MongoDB database (the store), over
// websocket and over long-polling, with the two clients on different nodes; and the nodes'
// per-address limits counting each client behind nginx (--trusted-proxy), not nginx itself.
//
// Needs nginx and redis-server (scripts/install-test-deps.sh) and TEST_MONGODB_URL (as the
// Rust MongoDB tests: skipped without it, a failure under CHAT_REQUIRE_MONGO=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { io } from 'socket.io-client';
import { PASSWORD, WAIT_MS, connect, here, newUser, once, startChatServer } from './harness.mjs';
import { checkRecovery } from './recovery.mjs';
import { api, ev } from './shared.mjs';

const mongoUrl = process.env.TEST_MONGODB_URL;
const skip = !mongoUrl && process.env.CHAT_REQUIRE_MONGO !== '1' && 'TEST_MONGODB_URL is unset';

function freePort() {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until `port` accepts connections. */
async function listening(port) {
  const deadline = Date.now() + 10000;
  for (;;) {
    // nginx's own answer (it names the node), not whatever else might hold the port.
    const ok = await fetch(`http://127.0.0.1:${port}${api.HEALTH_PATH}`).then((r) => r.headers.has('x-chat-node'), () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const processes = [];
let dir;
let base;
/** Local addresses whose requests nginx sends to different nodes. */
let addrA;
let addrB;
/** The nodes' own addresses, behind nginx. */
let nodeBases;
const ADMIN_PASSWORD = 'dashboard password';

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'chat-nginx-'));
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  processes.push(() => redis.kill('SIGKILL'));
  const db = new URL(mongoUrl);
  db.pathname = `/chat_interop_${randomBytes(6).toString('hex')}`;
  const nodeArgs = [
    '--adapter', 'redis', '--redis-url', `redis://127.0.0.1:${redisPort}`, '--database-url', db.toString(),
    // nginx connects from 127.0.0.1; the clients of these tests come from 127.0.0.2 and up.
    '--trusted-proxy', '127.0.0.1', '--max-failed-logins', '3', '--http-requests-per-minute', '10000',
    // The Admin UI in development mode, to see every node's stats and sockets from one dashboard.
    '--admin-ui', '--admin-username', 'admin', '--admin-mode', 'development',
    // Connection state recovery, taken up by whichever node the client comes back to.
    '--recovery-secs', '120',
  ];
  const env = { JWT_SECRET: randomBytes(32).toString('hex'), ADMIN_PASSWORD_HASH: bcrypt.hashSync(ADMIN_PASSWORD, 8) };
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    // Redis may still be starting: a node that cannot reach it exits, so try again.
    for (let attempt = 0; ; attempt++) {
      try {
        nodes.push(await startChatServer(nodeArgs, env, { rateLimits: true }));
        break;
      } catch (e) {
        if (attempt > 20) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    processes.push(nodes[i].stop);
  }
  // deploy/nginx.conf itself, with these nodes and a free port.
  const port = await freePort();
  const upstream = nodes.map((n) => `        server ${new URL(n.base).host};`).join('\n');
  const conf = readFileSync(join(here, '..', 'deploy', 'nginx.conf'), 'utf8')
    .replace(/(upstream chat_nodes \{\n\s*hash [^\n]*\n)(?:\s*server [^\n]*\n)+/, `$1${upstream}\n`)
    .replace(/listen \d+;/, `listen 127.0.0.1:${port};`)
    .replace('events {}', `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')};\nevents {}`)
    .replace('http {', `http {\n    access_log off;`);
  assert.ok(conf.includes(upstream), 'the upstream block of deploy/nginx.conf was found');
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
  processes.push(() => nginx.kill('SIGTERM'));
  await listening(port);
  base = `http://127.0.0.1:${port}`;

  // Find two client addresses that the hash sends to different nodes.
  const seen = new Map();
  for (let last = 2; last < 60 && seen.size < 2; last++) {
    const localAddress = `127.0.0.${last}`;
    const node = await new Promise((resolve, reject) => {
      get(`${base}${api.HEALTH_PATH}`, { agent: new Agent({ localAddress }) }, (res) => {
        res.resume();
        resolve(res.headers['x-chat-node']);
      }).on('error', reject);
    });
    if (!seen.has(node)) seen.set(node, localAddress);
  }
  assert.equal(seen.size, 2, 'two client addresses reach two nodes');
  nodeBases = nodes.map((n) => n.base);
  [addrA, addrB] = [...seen.values()];
});

after(() => {
  for (const stop of processes.reverse()) stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const transport of ['websocket', 'polling']) {
  test(`${transport} through nginx: clients on two nodes share a room and find each other`, { skip }, async () => {
    const [ann, bob] = [await newUser(base), await newUser(base)];
    const room = `nginx-${transport}`;
    const from = (localAddress) => ({ agent: new Agent({ localAddress, keepAlive: true }) });
    const a = connect(base, { transports: [transport], auth: { token: ann.token }, query: { room }, ...from(addrA) });
    const b = connect(base, { transports: [transport], auth: { token: bob.token }, query: { room }, ...from(addrB) });
    try {
      await Promise.all([once(a, 'connect'), once(b, 'connect')]);
      const text = `across nodes over ${transport}`;
      const mine = (m) => m.message === text;
      const [echo, seenByBob, ack] = await Promise.all([
        once(a, ev.CHAT_MESSAGE, mine),
        once(b, ev.CHAT_MESSAGE, mine),
        a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, text),
      ]);
      assert.equal(ack.success, true);
      assert.equal(echo.id, ack.id);
      assert.equal(seenByBob.username, ann.username);
      const info = await a.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, b.id);
      assert.deepEqual(info, { socketId: b.id, rooms: [room], user: { username: bob.username } });
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });
}

/** POSTs JSON to `base + path` from `localAddress`; resolves with the status. */
function postFrom(localAddress, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: a client recovered on another node gets its rooms and exactly the missed messages`, { skip }, async () => {
    // Straight to the nodes: the client's own reconnection, pointed at the other node as a
    // load balancer would send it there; its missed messages come from a sender on that node.
    await checkRecovery({ transport, first: nodeBases[0], second: nodeBases[1], sender: nodeBases[1], newUser: () => newUser(base) });
  });
}

test('through nginx, guessing a password locks out the guesser, not everyone behind the proxy', { skip }, async () => {
  const { username } = await newUser(base);
  const guess = { username, password: 'not the password' };
  // Both client addresses, whichever node nginx picks: the limit must count the client.
  for (let i = 0; i < 3; i++) assert.equal(await postFrom(addrA, api.LOGIN_PATH, guess), 401);
  assert.equal(await postFrom(addrA, api.LOGIN_PATH, { username, password: PASSWORD }), 429);
  assert.equal(await postFrom(addrB, api.LOGIN_PATH, { username, password: PASSWORD }), 200);
});

test('one Admin UI dashboard sees every node: their server_stats, their sockets, and its session on any node', { skip }, async () => {
  // A chat socket on the second node, before the dashboard logs in to the first.
  const user = await newUser(nodeBases[1]);
  const chat = connect(nodeBases[1], { auth: { token: user.token }, query: { room: 'far-away' }, transports: ['websocket'] });
  await once(chat, ev.CHAT_MESSAGE, (m) => !m.username);
  const dashboard = (base, auth) => io(`${base}/admin`, { reconnection: false, forceNew: true, transports: ['websocket'], auth });
  const d = dashboard(nodeBases[0], { username: 'admin', password: ADMIN_PASSWORD });
  const servers = new Set();
  d.on('server_stats', (s) => servers.add(s.serverId));
  const session = once(d, 'session');
  const all = once(d, 'all_sockets');
  let again;
  try {
    const far = (await all).find((s) => s.id === chat.id);
    assert.ok(far, 'the other node\'s socket in all_sockets');
    assert.ok(far.rooms.includes('far-away'), JSON.stringify(far.rooms));
    for (let waited = 0; servers.size < 2; waited += 100) {
      assert.ok(waited < 3 * WAIT_MS, `stats from ${[...servers]} only`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The session the first node handed out lets the dashboard in on the second.
    again = dashboard(nodeBases[1], { sessionId: await session });
    await once(again, 'connect');
  } finally {
    d.disconnect();
    again?.disconnect();
    chat.disconnect();
  }
});
