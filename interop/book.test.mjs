// The book's finished frontend (chapters 14–15) on the wire: the official socket.io-client,
// called as that frontend calls it, against chat-server and against a small Node server that
// behaves as chapter 15's backend (servers/book-ch15.mjs), so the test is known to be right.
//
// The frontend connects with `auth: {token}` and no room (so `public`), sends
// `chat.message (room, message)`, joins with `chat.join (room)` and no ack, renders a message
// without `username` as a system line, and lists its rooms (`/rooms`) from `user.info` of its
// own socket id, minus that id.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PASSWORD, WAIT_MS, connect, here, newUser, once, startChatServer, startProcess } from './harness.mjs';
import { defaults, ev, notices } from './shared.mjs';

/** What the frontend keeps of each `chat.message`: chat lines and system lines, in order. */
function transcript(socket) {
  const lines = [];
  socket.on(ev.CHAT_MESSAGE, (m) => {
    lines.push(m.username === undefined ? { system: m.message, room: m.room } : { username: m.username, message: m.message, room: m.room });
  });
  return lines;
}

/** Waits until `lines` has an entry that `pred` accepts; resolves with its index. */
async function seen(lines, pred, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const i = lines.findIndex(pred);
    if (i >= 0) return i;
    if (Date.now() > deadline) throw new Error(`not seen within ${WAIT_MS} ms: ${what}; got ${JSON.stringify(lines)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const systemLine = (username, room) => (l) => l.system === notices.userJoined({ username, room }) && l.room === room;
const chatLine = (username, message, room) => (l) => l.username === username && l.message === message && l.room === room;

/** The frontend's `/rooms`: user.info of its own id, minus that id. */
async function listRooms(socket) {
  const info = await socket.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, socket.id);
  return info.rooms.filter((r) => r !== socket.id).sort();
}

const servers = {
  'chat-server': () => startChatServer(),
  'the chapter 15 Node server': () => startProcess(process.execPath, [join(here, 'servers', 'book-ch15.mjs')]),
};

for (const [name, start] of Object.entries(servers)) {
  describe(`the book's chapter 14–15 frontend against ${name}`, () => {
    let server;
    before(async () => {
      server = await start();
    });
    after(() => server?.stop());

    test('connect without a room, two-argument messages, join without ack, history, /rooms', async () => {
      const [ann, bob, cat] = [await newUser(server.base), await newUser(server.base), await newUser(server.base)];
      // Default transports, as the frontend: long-polling first, then the websocket upgrade.
      const a = connect(server.base, { auth: { token: ann.token } });
      const aLines = transcript(a);
      await once(a, 'connect');
      await seen(aLines, systemLine(ann.username, defaults.ROOM), 'own join notice on connect');

      const b = connect(server.base, { auth: { token: bob.token } });
      const bLines = transcript(b);
      await once(b, 'connect');
      await seen(aLines, systemLine(bob.username, defaults.ROOM), "bob's join notice, seen by ann");

      a.emit(ev.CHAT_MESSAGE, defaults.ROOM, 'hello public');
      await seen(bLines, chatLine(ann.username, 'hello public', defaults.ROOM), 'a two-argument message to public');
      await seen(aLines, chatLine(ann.username, 'hello public', defaults.ROOM), 'the sender gets its own message');

      b.emit(ev.CHAT_JOIN, 'dev');
      await seen(bLines, systemLine(bob.username, 'dev'), "bob's own join notice for dev");
      a.emit(ev.CHAT_JOIN, 'dev');
      await seen(bLines, systemLine(ann.username, 'dev'), "ann's join of dev, seen by bob as a system line");

      a.emit(ev.CHAT_MESSAGE, 'dev', 'hello dev');
      await seen(bLines, chatLine(ann.username, 'hello dev', 'dev'), 'a two-argument message to a joined room');
      assert.equal(aLines.filter(chatLine(ann.username, 'hello dev', 'dev')).length, 1, 'exactly once');
      assert.equal(bLines.filter((l) => l.message === 'hello dev').length, 1, 'exactly once');

      // A later joiner gets the room's history before its own join notice.
      const c = connect(server.base, { auth: { token: cat.token } });
      const cLines = transcript(c);
      await once(c, 'connect');
      c.emit(ev.CHAT_JOIN, 'dev');
      const notice = await seen(cLines, systemLine(cat.username, 'dev'), "cat's join notice");
      const replayed = await seen(cLines, chatLine(ann.username, 'hello dev', 'dev'), 'history replayed to cat');
      assert.ok(replayed < notice, `history before the notice: ${JSON.stringify(cLines)}`);
      await seen(aLines, systemLine(cat.username, 'dev'), "cat's join, seen by ann");

      assert.deepEqual(await listRooms(a), ['dev', defaults.ROOM]);
      assert.deepEqual(await listRooms(c), ['dev', defaults.ROOM]);

      for (const s of [a, b, c]) s.disconnect();
    });

    test('chat-tui --plain signs up, logs in and talks to the room', async () => {
      // The classic protocol's signup answer may carry no id (the book's answers {username}).
      const bin = process.env.CHAT_TUI_BIN ?? join(here, '..', 'target', 'debug', 'chat-tui');
      const home = mkdtempSync(join(tmpdir(), 'chat-tui-home-'));
      const listener = await newUser(server.base);
      const l = connect(server.base, { auth: { token: listener.token } });
      const lines = transcript(l);
      await once(l, 'connect');
      const username = `tui_${process.pid}_${Date.now() % 100000}`;
      const tui = spawn(bin, ['--server', server.base, '--user', username, '--signup', '--plain'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, CHAT_PASSWORD: PASSWORD, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state') },
      });
      let stderr = '';
      let stdout = '';
      tui.stderr.on('data', (d) => (stderr += d));
      tui.stdout.on('data', (d) => (stdout += d));
      try {
        await seen(lines, systemLine(username, defaults.ROOM), `chat-tui's join notice (stderr: ${stderr})`);
        tui.stdin.write('hello from chat-tui\n');
        await seen(lines, chatLine(username, 'hello from chat-tui', defaults.ROOM), 'the line chat-tui sent');
        // And it hears the room, as a line of its output.
        l.emit(ev.CHAT_MESSAGE, 'hello back');
        const heard = `[${defaults.ROOM}] ${listener.username}: hello back`;
        for (let waited = 0; !stdout.includes(heard); waited += 50) {
          assert.ok(waited < WAIT_MS, `chat-tui printed ${JSON.stringify(stdout)}, not ${heard}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        tui.stdin.end();
        const code = await new Promise((resolve) => tui.on('exit', resolve));
        assert.equal(code, 0, `chat-tui exit status (stderr: ${stderr})`);
      } finally {
        tui.kill();
        l.disconnect();
        rmSync(home, { recursive: true, force: true });
      }
    });
  });
}
