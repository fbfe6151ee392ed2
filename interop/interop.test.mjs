// Interop with the official JavaScript client: an unmodified socket.io-client v4 app must
// work against chat-server over websocket and over HTTP long-polling.
//
// Starts the real `chat-server` binary (CHAT_SERVER_BIN) on a free port with a fresh data
// dir. Event names and error texts are read from the Rust `shared` crate, so they are
// spelled in one place only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
const WAIT_MS = 5000;

/** `pub const NAME: &str = "value";` items of a shared/src file. */
function rustConsts(file) {
  const src = readFileSync(join(here, '..', 'shared', 'src', file), 'utf8');
  return Object.fromEntries([...src.matchAll(/pub const (\w+): &str = "([^"]*)";/g)].map((m) => [m[1], m[2]]));
}
const ev = rustConsts('events.rs');
const errors = rustConsts('errors.rs');
const api = rustConsts('api.rs');

let server;
let dataDir;
let base;

before(async () => {
  const bin = process.env.CHAT_SERVER_BIN ?? join(here, '..', 'target', 'debug', 'chat-server');
  dataDir = mkdtempSync(join(tmpdir(), 'chat-interop-'));
  server = spawn(bin, ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--no-rate-limits'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chat-server did not start')), 20000);
    let seen = '';
    server.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/listening on (http:\/\/[\d.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`chat-server exited with ${code}: ${seen}`)));
  });
});

after(() => {
  server?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

async function post(path, body) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

let counter = 0;
async function newUser() {
  const username = `js_${process.pid}_${++counter}`;
  const password = 'interop-password';
  assert.equal((await post(api.SIGNUP_PATH, { username, password })).status, 201);
  const login = await post(api.LOGIN_PATH, { username, password });
  assert.equal(login.status, 200);
  return { username, token: login.body.token };
}

/** Resolves with the first `event` on `socket` (its first argument), or rejects after WAIT_MS. */
function once(socket, event, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT_MS} ms`)), WAIT_MS);
    const handler = (data) => {
      if (!pred(data)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(data);
    };
    socket.on(event, handler);
  });
}

function connect(opts) {
  return io(base, { reconnection: false, forceNew: true, ...opts });
}

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: connect, echo chat.message to sender and room, user.info by ack`, async () => {
    const ann = await newUser();
    const bob = await newUser();
    const room = `js-${transport}`;
    const a = connect({ transports: [transport], auth: { token: ann.token }, query: { room } });
    const b = connect({ transports: [transport], auth: { token: bob.token }, query: { room } });
    try {
      await Promise.all([once(a, 'connect'), once(b, 'connect')]);
      const text = `hello over ${transport}`;
      const mine = (m) => m.message === text;
      const [echo, seenByBob] = await Promise.all([
        once(a, ev.CHAT_MESSAGE, mine),
        once(b, ev.CHAT_MESSAGE, mine),
        Promise.resolve(a.emit(ev.CHAT_MESSAGE, text)),
      ]);
      assert.equal(echo.username, ann.username);
      assert.equal(seenByBob.username, ann.username);
      assert.equal(seenByBob.room, room);

      const info = await a.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, b.id);
      assert.deepEqual(info, { socketId: b.id, rooms: [room], user: { username: bob.username } });
      assert.equal(await a.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, 'no-such-socket'), null);

      const ack = await a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'acked');
      assert.equal(ack.success, true);
      assert.match(ack.id, /^[0-9a-f]{24}$/);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  test(`${transport}: the auth middleware rejects with the exact messages`, async () => {
    const cases = [
      [undefined, errors.AUTH_NO_TOKEN],
      [{}, errors.AUTH_NO_TOKEN],
      [{ token: 'not-a-jwt' }, errors.AUTH_INVALID_TOKEN],
    ];
    for (const [auth, expected] of cases) {
      const s = connect({ transports: [transport], auth });
      try {
        const err = await once(s, 'connect_error');
        assert.equal(err.message, expected);
        assert.equal(s.connected, false);
      } finally {
        s.disconnect();
      }
    }
  });
}

test('a token in the query string is not accepted', async () => {
  const { token } = await newUser();
  const s = connect({ transports: ['websocket'], query: { token } });
  try {
    assert.equal((await once(s, 'connect_error')).message, errors.AUTH_NO_TOKEN);
  } finally {
    s.disconnect();
  }
});

test('rooms are isolated and bad input yields an error event, the socket staying up', async () => {
  const ann = await newUser();
  const cat = await newUser();
  const a = connect({ transports: ['websocket'], auth: { token: ann.token }, query: { room: 'js-iso-a' } });
  const c = connect({ transports: ['websocket'], auth: { token: cat.token }, query: { room: 'js-iso-c' } });
  try {
    await Promise.all([once(a, 'connect'), once(c, 'connect')]);
    let leaked = false;
    c.on(ev.CHAT_MESSAGE, (m) => {
      if (m.message === 'only for a') leaked = true;
    });
    const err = once(a, ev.ERROR);
    a.emit(ev.CHAT_MESSAGE, '');
    assert.equal((await err).message, errors.MESSAGE_EMPTY);
    const echo = once(a, ev.CHAT_MESSAGE, (m) => m.message === 'only for a');
    a.emit(ev.CHAT_MESSAGE, 'only for a');
    await echo;
    // c would have received it by now had it leaked: a's own echo went through the same fan-out.
    const probe = once(c, ev.CHAT_MESSAGE, (m) => m.message === 'c probe');
    c.emit(ev.CHAT_MESSAGE, 'c probe');
    await probe;
    assert.equal(leaked, false);
  } finally {
    a.disconnect();
    c.disconnect();
  }
});
