// The Socket.IO Admin UI's protocol (@socket.io/admin-ui 0.5.1, production mode) spoken with the
// official socket.io-client, as the dashboard does: log in with a username and a password whose
// bcrypt hash the server holds, get a session, the config and server_stats, reconnect with the
// session, and join, leave and disconnect a chat socket; read-only mode refuses the operations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { io } from 'socket.io-client';
import { join } from 'node:path';
import { WAIT_MS, connect, here, newUser, once, startChatServer } from './harness.mjs';
import { ev } from './shared.mjs';

const ADMIN = 'admin';
const ADMIN_PASSWORD = 'dashboard password';
const HASH = bcrypt.hashSync(ADMIN_PASSWORD, 10);

let server;
let readonly;
let development;

before(async () => {
  const args = ['--admin-ui', '--admin-username', ADMIN];
  // The dashboard's own files, from the npm package this folder installs.
  const ui = join(here, 'node_modules', '@socket.io', 'admin-ui', 'ui', 'dist');
  server = await startChatServer([...args, '--admin-ui-dir', ui], { ADMIN_PASSWORD_HASH: HASH });
  readonly = await startChatServer([...args, '--admin-readonly'], { ADMIN_PASSWORD_HASH: HASH });
  development = await startChatServer([...args, '--admin-mode', 'development'], { ADMIN_PASSWORD_HASH: HASH });
});

after(() => {
  server?.stop();
  readonly?.stop();
  development?.stop();
});

const dashboard = (base, auth) => io(`${base}/admin`, { reconnection: false, forceNew: true, transports: ['websocket'], auth });

test('wrong credentials get the module\'s connect_error', async () => {
  for (const auth of [{ username: ADMIN, password: 'wrong' }, { username: 'other', password: ADMIN_PASSWORD }, {}, { sessionId: 'made-up' }]) {
    const d = dashboard(server.base, auth);
    try {
      assert.equal((await once(d, 'connect_error')).message, 'invalid credentials', JSON.stringify(auth));
    } finally {
      d.disconnect();
    }
  }
});

test('a dashboard gets a session, the config and server_stats, and can reconnect with the session', async () => {
  const user = await newUser(server.base);
  const chat = connect(server.base, { auth: { token: user.token }, transports: ['websocket'] });
  await once(chat, 'connect');
  const d = dashboard(server.base, { username: ADMIN, password: ADMIN_PASSWORD });
  const session = once(d, 'session');
  const config = once(d, 'config');
  const stats = once(d, 'server_stats');
  try {
    const sessionId = await session;
    assert.equal(typeof sessionId, 'string');
    assert.deepEqual((await config).supportedFeatures, ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT', 'AGGREGATED_EVENTS']);
    const s = await stats;
    for (const key of ['serverId', 'hostname', 'pid', 'uptime', 'clientsCount', 'pollingClientsCount', 'aggregatedEvents', 'namespaces']) {
      assert.ok(key in s, `server_stats.${key}`);
    }
    assert.deepEqual(s.namespaces.map((n) => n.name), ['/', '/admin']);
    assert.ok(s.namespaces[0].socketsCount >= 1, JSON.stringify(s));
    d.disconnect();
    // The session lets the dashboard back in without the password.
    const again = dashboard(server.base, { sessionId });
    // Listened for before the connection: the config follows the CONNECT at once.
    const againConfig = once(again, 'config');
    try {
      await once(again, 'connect');
      assert.ok((await againConfig).supportedFeatures.includes('JOIN'));
    } finally {
      again.disconnect();
    }
    // Sessions are signed with the server's secret: another server (another secret) refuses it.
    const elsewhere = dashboard(readonly.base, { sessionId });
    try {
      assert.equal((await once(elsewhere, 'connect_error')).message, 'invalid credentials');
    } finally {
      elsewhere.disconnect();
    }
  } finally {
    d.disconnect();
    chat.disconnect();
  }
});

test('join, leave and _disconnect reach the socket the dashboard names', async () => {
  const user = await newUser(server.base);
  const chat = connect(server.base, { auth: { token: user.token }, transports: ['websocket'] });
  await once(chat, 'connect');
  const d = dashboard(server.base, { username: ADMIN, password: ADMIN_PASSWORD });
  await once(d, 'config');
  const rooms = () => chat.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, chat.id).then((info) => info.rooms);
  const until = async (what, check) => {
    for (let waited = 0; !(await check()); waited += 50) {
      assert.ok(waited < WAIT_MS, what);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    d.emit('join', '/', 'from-dashboard', chat.id);
    await until('joined from the dashboard', async () => (await rooms()).includes('from-dashboard'));
    d.emit('leave', '/', 'from-dashboard', chat.id);
    await until('left from the dashboard', async () => !(await rooms()).includes('from-dashboard'));
    const gone = once(chat, 'disconnect');
    d.emit('_disconnect', '/', true, chat.id);
    assert.equal(await gone, 'io server disconnect');
  } finally {
    d.disconnect();
    chat.disconnect();
  }
});

test('read-only mode offers no operation and performs none', async () => {
  const user = await newUser(readonly.base);
  const chat = connect(readonly.base, { auth: { token: user.token }, transports: ['websocket'] });
  await once(chat, 'connect');
  const d = dashboard(readonly.base, { username: ADMIN, password: ADMIN_PASSWORD });
  const config = once(d, 'config');
  try {
    assert.deepEqual((await config).supportedFeatures, ['AGGREGATED_EVENTS']);
    d.emit('_disconnect', '/', true, chat.id);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(chat.connected, true);
    const ok = await chat.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'still here');
    assert.equal(ok.success, true);
  } finally {
    d.disconnect();
    chat.disconnect();
  }
});

test('development mode: all sockets on login, then sockets, rooms and events live', async () => {
  const user = await newUser(development.base);
  const early = connect(development.base, { auth: { token: user.token }, transports: ['websocket'] });
  // Its join notice: the socket is in its room by then.
  await once(early, ev.CHAT_MESSAGE, (m) => !m.username);
  const d = dashboard(development.base, { username: ADMIN, password: ADMIN_PASSWORD });
  const config = once(d, 'config');
  const all = once(d, 'all_sockets');
  const seen = [];
  d.onAny((event, ...args) => seen.push([event, ...args]));
  const waitFor = async (what, pred) => {
    for (let waited = 0; !seen.some(pred); waited += 50) {
      assert.ok(waited < WAIT_MS, `${what}; seen ${JSON.stringify(seen.map((e) => e[0]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let late;
  try {
    assert.ok((await config).supportedFeatures.includes('ALL_EVENTS'));
    const sockets = await all;
    const mine = sockets.find((s) => s.id === early.id);
    assert.ok(mine, `the early socket in all_sockets: ${JSON.stringify(sockets)}`);
    assert.equal(mine.nsp, '/');
    assert.ok(mine.rooms.includes('public'), JSON.stringify(mine.rooms));
    assert.equal(mine.handshake.headers.authorization, undefined);
    // The client's own headers stay; those only the websocket upgrade needed are not kept.
    assert.ok(mine.handshake.headers.host, JSON.stringify(mine.handshake.headers));
    assert.equal(mine.handshake.headers['sec-websocket-key'], undefined);

    // Default transports: long-polling first, then the upgrade, which the dashboard is told of.
    late = connect(development.base, { auth: { token: user.token } });
    await once(late, 'connect');
    await waitFor('socket_connected', ([e, s]) => e === 'socket_connected' && s.id === late.id && s.transport === 'polling');
    await waitFor('socket_updated', ([e, u]) => e === 'socket_updated' && u.id === late.id && u.transport === 'websocket');
    await late.timeout(WAIT_MS).emitWithAck(ev.CHAT_JOIN, 'dev-mode');
    await waitFor('room_joined', ([e, nsp, room, id]) => e === 'room_joined' && room === 'dev-mode' && id === late.id);
    late.emit(ev.CHAT_MESSAGE, 'seen by the dashboard');
    await waitFor('event_received', ([e, nsp, id, args]) => e === 'event_received' && id === late.id && args[1] === 'seen by the dashboard');
    // The broadcast back to the sender, as Node's onAnyOutgoing reports it; and a direct emit.
    await waitFor('event_sent', ([e, nsp, id, args]) => e === 'event_sent' && nsp === '/' && id === late.id && args[0] === ev.CHAT_MESSAGE && args[1].message === 'seen by the dashboard');
    late.emit(ev.CHAT_MESSAGE, 42);
    await waitFor('event_sent of the error', ([e, nsp, id, args]) => e === 'event_sent' && id === late.id && args[0] === ev.ERROR);
    const lateId = late.id;
    late.disconnect();
    await waitFor('socket_disconnected', ([e, nsp, id]) => e === 'socket_disconnected' && id === lateId);
  } finally {
    d.disconnect();
    early.disconnect();
    late?.disconnect();
  }
});

test('the server serves the dashboard itself under /admin-ui/', async () => {
  const page = await fetch(`${server.base}/admin-ui/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match(await page.text(), /<title>Socket.IO Admin UI<\/title>/);
  const icon = await fetch(`${server.base}/admin-ui/favicon.png`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/png');
  const bare = await fetch(`${server.base}/admin-ui`, { redirect: 'manual' });
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.get('location'), '/admin-ui/');
  // Not without --admin-ui-dir.
  assert.equal((await fetch(`${readonly.base}/admin-ui/`)).status, 404);
});
