// A small Node backend that behaves as chapter 15 of the book does (as issue 8 describes it), to
// check that book.test.mjs tests the real protocol: socket.io 4 + jsonwebtoken, users and
// messages in memory. Test use only: passwords are hashed with scrypt, never logged; nothing is
// persisted.
//
// Run: `node servers/book-ch15.mjs` prints `listening on http://127.0.0.1:PORT` on stderr.
import { createServer } from 'node:http';
import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { Server } from 'socket.io';
import jwt from 'jsonwebtoken';
import { api, defaults, errors, ev, notices } from '../shared.mjs';

const SECRET = randomBytes(32).toString('hex');
const HISTORY = 50;
const users = new Map(); // username -> {id, username, salt, hash}
const byId = new Map();
const history = new Map(); // room -> [{username, message, room}]

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return JSON.parse(body);
}

const http = createServer(async (req, res) => {
  if (req.url?.startsWith('/socket.io')) return; // socket.io answers these
  try {
    if (req.method === 'POST' && req.url === api.SIGNUP_PATH) {
      const { username, password } = await readJson(req);
      if (users.has(username)) return send(res, 400, { error: errors.USERNAME_TAKEN });
      const salt = randomBytes(16);
      const user = { id: randomUUID(), username, salt, hash: scryptSync(password, salt, 32) };
      users.set(username, user);
      byId.set(user.id, user);
      return send(res, 201, { username });
    }
    if (req.method === 'POST' && req.url === api.LOGIN_PATH) {
      const { username, password } = await readJson(req);
      const user = users.get(username);
      if (!user || !timingSafeEqual(scryptSync(password, user.salt, 32), user.hash)) {
        return send(res, 401, { error: errors.INVALID_CREDENTIALS });
      }
      return send(res, 200, { token: jwt.sign({ sub: user.id }, SECRET, { expiresIn: '24h' }) });
    }
    send(res, 404, { error: errors.NOT_FOUND });
  } catch {
    send(res, 400, { error: errors.INVALID_BODY });
  }
});

const io = new Server(http, { cors: { origin: '*' } });

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (!token) return next(new Error(errors.AUTH_NO_TOKEN));
  jwt.verify(token, SECRET, { algorithms: ['HS256'] }, (err, claims) => {
    const user = !err && byId.get(claims.sub);
    if (!user) return next(new Error(errors.AUTH_INVALID_TOKEN));
    socket.data.username = user.username;
    next();
  });
});

/** Joins, replays the room's history to the joiner, then tells the room. */
function enter(socket, room) {
  socket.join(room);
  for (const m of history.get(room) ?? []) socket.emit(ev.CHAT_MESSAGE, m);
  io.to(room).emit(ev.CHAT_MESSAGE, { message: notices.userJoined({ username: socket.data.username, room }), room });
}

io.on('connection', (socket) => {
  const home = socket.handshake.query[defaults.ROOM_QUERY_KEY] || defaults.ROOM;
  enter(socket, home);

  socket.on(ev.CHAT_MESSAGE, (...args) => {
    // An ack callback comes last when the client asked for one; this backend never answers it.
    if (typeof args.at(-1) === 'function') args.pop();
    const [room, message] = args.length >= 2 ? args : [home, args[0]];
    if (typeof room !== 'string' || typeof message !== 'string' || !socket.rooms.has(room)) {
      return socket.emit(ev.ERROR, { message: errors.MESSAGE_INVALID });
    }
    const msg = { username: socket.data.username, message, room };
    const log = history.get(room) ?? [];
    log.push(msg);
    history.set(room, log.slice(-HISTORY));
    io.to(room).emit(ev.CHAT_MESSAGE, msg);
  });

  socket.on(ev.CHAT_JOIN, (room) => {
    if (typeof room === 'string' && !socket.rooms.has(room)) enter(socket, room);
  });

  socket.on(ev.USER_INFO, (socketId, callback) => {
    const other = io.sockets.sockets.get(socketId);
    callback(other ? { socketId, rooms: [...other.rooms], user: { username: other.data.username } } : null);
  });
});

http.listen(0, '127.0.0.1', () => {
  console.error(`listening on http://127.0.0.1:${http.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
