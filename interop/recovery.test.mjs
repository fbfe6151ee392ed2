// Socket.IO connection state recovery with the official client, unmodified: after a short
// disconnect socket.io-client 4.8 reconnects on its own, sends back the session id and offset
// the server gave it, and must come back with `socket.recovered === true`, its rooms, and
// exactly the messages it missed — over websocket and HTTP long-polling. The same across two
// nodes is in nginx.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { WAIT_MS, newUser as newUserOf, once, startChatServer } from './harness.mjs';
import { checkRecovery } from './recovery.mjs';
import { ev } from './shared.mjs';

let server;

before(async () => {
  server = await startChatServer(['--recovery-secs', '120']);
});

after(() => server?.stop());

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: a dropped connection is recovered with its rooms and exactly the missed messages`, async () => {
    await checkRecovery({ transport, first: server.base, newUser: () => newUserOf(server.base) });
  });
}

test('without --recovery-secs (the default) there is no session to recover and messages carry no offset', async () => {
  const off = await startChatServer();
  const ann = await newUserOf(off.base);
  const s = io(off.base, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 50, auth: { token: ann.token } });
  try {
    await once(s, 'connect');
    const args = [];
    s.on(ev.CHAT_MESSAGE, (...a) => args.push(a));
    await s.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, 'no offset');
    await new Promise((r) => setTimeout(r, 200));
    // Our own join notice may come after 'connect' too (it has no id, so no offset either).
    assert.equal(args.filter((a) => a[0].message === 'no offset').length, 1);
    assert.deepEqual(args.map((a) => a.length), args.map(() => 1));
    const back = once(s, 'connect');
    s.io.engine.close();
    await back;
    assert.ok(!s.recovered);
  } finally {
    s.disconnect();
    off.stop();
  }
});
