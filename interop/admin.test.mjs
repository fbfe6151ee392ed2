// The Socket.IO Admin UI's protocol (@socket.io/admin-ui 0.5.1, production mode) spoken with the
// official socket.io-client, as the dashboard does: log in with a username and a password whose
// bcrypt hash the server holds, get a session, the config and server_stats, reconnect with the
// session, and join, leave and disconnect a chat socket; read-only mode refuses the operations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { io } from 'socket.io-client';
import { WAIT_MS, connect, newUser, once, startChatServer } from './harness.mjs';
import { ev } from './shared.mjs';

const ADMIN = 'admin';
const ADMIN_PASSWORD = 'dashboard password';
const HASH = bcrypt.hashSync(ADMIN_PASSWORD, 10);

let server;
let readonly;

before(async () => {
  const args = ['--admin-ui', '--admin-username', ADMIN];
  server = await startChatServer(args, { ADMIN_PASSWORD_HASH: HASH });
  readonly = await startChatServer([...args, '--admin-readonly'], { ADMIN_PASSWORD_HASH: HASH });
});

after(() => {
  server?.stop();
  readonly?.stop();
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
    assert.match(sessionId, /^[0-9a-f]{16}$/);
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
    try {
      await once(again, 'connect');
      assert.ok((await once(again, 'config')).supportedFeatures.includes('JOIN'));
    } finally {
      again.disconnect();
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
  try {
    assert.deepEqual((await once(d, 'config')).supportedFeatures, ['AGGREGATED_EVENTS']);
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
