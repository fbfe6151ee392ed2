// The connection state recovery check that recovery.test.mjs runs on one node and
// nginx.test.mjs across two.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import { WAIT_MS, once } from './harness.mjs';
import { ev } from './shared.mjs';

/** Resolves once `check()` is true; rejects after WAIT_MS. */
async function until(what, check) {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends `message` to `room` from `socket`; resolves with the stored message's id. */
async function send(socket, room, message) {
  const ack = await socket.timeout(WAIT_MS).emitWithAck(ev.CHAT_MESSAGE, { room, message });
  assert.equal(ack.success, true, JSON.stringify(ack));
  return ack.id;
}

/**
 * Bob, an official client with its own reconnection logic, is in two rooms on `first`; his
 * connection drops (the engine closes under him, as when a network goes away); while he is
 * away Ann (on `sender`) writes to both rooms; he reconnects by himself — to `second`, as a
 * load balancer may send him elsewhere — and must be recovered: `socket.recovered`, both
 * rooms, each missed message once and in order, nothing replayed twice, then live ones.
 */
export async function checkRecovery({ transport, first, second = first, sender = first, newUser, agent }) {
  const [ann, bob] = [await newUser(), await newUser()];
  const tag = randomBytes(4).toString('hex');
  const [room, other] = [`rec-${transport}-${tag}`, `rec2-${transport}-${tag}`];
  const opts = { forceNew: true, transports: [transport], query: { room }, ...(agent ? { agent } : {}) };
  const a = io(sender, { ...opts, reconnection: false, auth: { token: ann.token } });
  const b = io(first, {
    ...opts,
    reconnectionDelay: 300,
    reconnectionDelayMax: 300,
    randomizationFactor: 0,
    auth: { token: bob.token },
  });
  const got = [];
  b.on(ev.CHAT_MESSAGE, (message, ...rest) => {
    if (message.username) got.push({ message, rest });
  });
  try {
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    assert.equal(b.recovered, false, 'a first connection is not a recovery');
    for (const s of [a, b]) assert.equal((await s.timeout(WAIT_MS).emitWithAck(ev.CHAT_JOIN, other)).success, true);
    const seen = [await send(a, room, 'seen 1'), await send(a, other, 'seen 2')];
    await until('the messages before the drop', () => seen.every((id) => got.some((g) => g.message.id === id)));
    // Each message carries its id as its offset, an argument after the payload.
    for (const { message, rest } of got) assert.deepEqual(rest, [message.id]);
    got.length = 0;

    const down = once(b, 'disconnect');
    if (second !== first) b.io.uri = second;
    b.io.engine.close();
    // The client's word for closing its own engine; the server sees the transport close.
    assert.equal(await down, 'forced close');
    const back = once(b, 'connect');
    const missed = { [room]: [], [other]: [] };
    for (const [r, text] of [[room, 'missed 1'], [other, 'missed 2'], [room, 'missed 3']]) {
      missed[r].push(await send(a, r, text));
    }
    await back;
    assert.equal(b.recovered, true, 'the official client says it recovered');
    const live = await send(a, room, 'live after recovery');
    await until('the missed and live messages', () => got.some((g) => g.message.id === live));
    await new Promise((r) => setTimeout(r, 200));

    const ids = got.map((g) => g.message.id);
    assert.equal(new Set(ids).size, ids.length, `no message twice: ${JSON.stringify(ids)}`);
    assert.deepEqual(got.filter((g) => g.message.room === room).map((g) => g.message.id), [...missed[room], live]);
    assert.deepEqual(got.filter((g) => g.message.room === other).map((g) => g.message.id), missed[other]);
    for (const { message, rest } of got) {
      assert.equal(message.replayed, undefined, 'missed packets come as they were sent');
      assert.deepEqual(rest, [message.id]);
    }
    const info = await a.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, b.id);
    assert.deepEqual([...info.rooms].sort(), [room, other].sort(), 'the rooms are restored');
  } finally {
    a.disconnect();
    b.disconnect();
  }
}
