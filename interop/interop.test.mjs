// Interop with the official JavaScript client: an unmodified socket.io-client v4 app must
// work against chat-server over websocket and over HTTP long-polling.
//
// Starts the real `chat-server` binary (CHAT_SERVER_BIN) on a free port with a fresh data
// dir. Event names and error texts are read from the Rust `shared` crate, so they are
// spelled in one place only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT_MS, connect as connectTo, newUser as newUserOf, once, startChatServer } from './harness.mjs';
import { defaults, errorTexts, ev, errors } from './shared.mjs';

let server;
let base;

before(async () => {
  server = await startChatServer();
  base = server.base;
});

after(() => server?.stop());

const newUser = () => newUserOf(base);
const connect = (opts) => connectTo(base, opts);

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
      // Far above any real token: refused as invalid, not by closing the transport.
      [{ token: 'x'.repeat(100_000) }, errors.AUTH_INVALID_TOKEN],
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

  test(`${transport}: a message of 200 KiB gets a failing ack and an error event, the socket staying up`, async () => {
    const ann = await newUser();
    const a = connect({ transports: [transport], auth: { token: ann.token } });
    try {
      await once(a, 'connect');
      const expected = errorTexts.messageTooLong({ max: defaults.MAX_MESSAGE_BYTES });
      const err = once(a, ev.ERROR);
      const ack = await a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'x'.repeat(200 * 1024));
      assert.deepEqual(ack, { success: false, error: expected });
      assert.equal((await err).message, expected);
      const ok = await a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'after the big one');
      assert.equal(ok.success, true);
      assert.equal(a.connected, true);
    } finally {
      a.disconnect();
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

test('chapter 15 forms: anything that is not (room, message) in strings is refused, never reinterpreted', async () => {
  const ann = await newUser();
  const a = connect({ transports: ['websocket'], auth: { token: ann.token } });
  try {
    await once(a, 'connect');
    const cases = [
      [['not-joined', 'hello'], errorTexts.notInRoom({ room: 'not-joined' })],
      [['public', 42], errors.MESSAGE_INVALID],
      [['public', 'a', 'b'], errors.MESSAGE_INVALID],
      [[{ room: 'public' }, 'x'], errors.MESSAGE_INVALID],
    ];
    for (const [args, expected] of cases) {
      const err = once(a, ev.ERROR);
      const ack = await a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, ...args);
      assert.deepEqual(ack, { success: false, error: expected }, JSON.stringify(args));
      assert.equal((await err).message, expected);
    }
    // The socket is still up and the two-argument form works.
    const ok = await a.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'public', 'still here');
    assert.equal(ok.success, true);
  } finally {
    a.disconnect();
  }
});
