// The Node baseline chat-bench measures chat-server against: the seeds' Express + Socket.IO +
// JWT backend reduced to its protocol (signup, login, JWT middleware, room from the query,
// `chat.message` to the whole room, `user.info`), users and messages in memory, no logging.
// It exists only to be measured; nothing here is for production.
//
//   PORT=0 HOST=127.0.0.1 JWT_SECRET=… node server.mjs   → prints `listening on http://HOST:PORT`
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import express from 'express';
import { Server } from 'socket.io';
import jwt from 'jsonwebtoken';
import bcrypt from 'bcrypt';

const SECRET = process.env.JWT_SECRET || randomBytes(32).toString('hex');
// The cost the seeds use (bcrypt's default); chat-server's argon2id is tuned to a similar time.
const BCRYPT_COST = 10;

const users = new Map(); // id → {id, username, hash}
const byName = new Map(); // username → id
const messages = []; // what the seeds' backend would store
let nextId = 1;

const app = express();
app.use(express.json({ limit: '16kb' }));

app.post('/api/v1/user/signup', async (req, res) => {
  const { username, password } = req.body ?? {};
  if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) {
    return res.status(400).json({ error: 'username and password are required' });
  }
  if (byName.has(username)) return res.status(409).json({ error: 'Username is already taken' });
  const id = String(nextId++);
  byName.set(username, id);
  users.set(id, { id, username, hash: await bcrypt.hash(password, BCRYPT_COST) });
  res.status(201).json({ message: 'User created' });
});

app.post('/api/v1/user/login', async (req, res) => {
  const { username, password } = req.body ?? {};
  const user = users.get(byName.get(username));
  if (!user || typeof password !== 'string' || !(await bcrypt.compare(password, user.hash))) {
    return res.status(401).json({ error: 'Invalid username or password' });
  }
  const token = jwt.sign({ sub: user.id }, SECRET, { algorithm: 'HS256', expiresIn: '24h' });
  res.json({ token });
});

app.get('/api/v1/users/:id', (req, res) => {
  const user = users.get(req.params.id);
  if (!user) return res.status(404).json({ error: 'User not found' });
  res.json({ username: user.username });
});

const httpServer = createServer(app);
const io = new Server(httpServer);

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (!token) return next(new Error('Authentication failed: no token provided'));
  try {
    const { sub } = jwt.verify(token, SECRET, { algorithms: ['HS256'] });
    const user = users.get(sub);
    if (!user) return next(new Error('Authentication failed: invalid token'));
    socket.data.user = { id: user.id, username: user.username };
    next();
  } catch {
    next(new Error('Authentication failed: invalid token'));
  }
});

io.on('connection', (socket) => {
  const room = typeof socket.handshake.query.room === 'string' ? socket.handshake.query.room : 'public';
  socket.join(room);

  socket.on('chat.message', (message) => {
    if (typeof message !== 'string' || !message.trim()) {
      return socket.emit('error', 'Message must be a non-empty string');
    }
    const stored = { username: socket.data.user.username, message, room, sent: new Date().toISOString() };
    messages.push(stored);
    if (messages.length > 10000) messages.splice(0, 5000);
    io.to(room).emit('chat.message', stored);
  });

  socket.on('user.info', async (socketId, ack) => {
    if (typeof ack !== 'function') return;
    const [found] = await io.in(socketId).fetchSockets();
    ack(found ? { socketId: found.id, rooms: [...found.rooms].filter((r) => r !== found.id), user: found.data.user } : null);
  });
});

httpServer.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = httpServer.address();
  console.error(`node-baseline listening on http://${address}:${port}`);
});
