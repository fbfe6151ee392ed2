// What the interop tests share: starting a server process and waiting for its address, HTTP
// helpers, users, and waiting for events with a timeout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { api } from './shared.mjs';

export const here = dirname(fileURLToPath(import.meta.url));
export const WAIT_MS = 5000;
/** The password of every user `newUser` makes. */
export const PASSWORD = 'interop-password';

/** Every server process a test file started and has not seen exit. */
const running = new Set();
// A test that fails before its own `stop()` must not leave a server whose stderr pipe keeps this
// test file's process, and so the whole run, waiting forever.
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `command args` and resolves with `{base, stop}` once it prints `listening on URL`. */
export function startProcess(command, args, { cleanup = () => {}, env = {} } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const stop = () => {
    child.kill('SIGTERM');
    cleanup();
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start`)), 20000);
    let seen = '';
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      // Only a whole line: a pipe read may end inside the address.
      const m = seen.match(/listening on (http:\/\/[\d.]+:\d+)[^\n]*\n/);
      if (m) {
        clearTimeout(timer);
        resolve({ base: m[1], stop });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code}: ${seen}`)));
  });
}

/** The real chat-server binary (CHAT_SERVER_BIN) on a free port with a fresh data dir, with its
 * rate limits off unless `rateLimits`. */
export function startChatServer(extraArgs = [], env = {}, { rateLimits = false } = {}) {
  const bin = process.env.CHAT_SERVER_BIN ?? join(here, '..', 'target', 'debug', 'chat-server');
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-interop-'));
  const limits = rateLimits ? [] : ['--no-rate-limits'];
  const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...limits, ...extraArgs];
  return startProcess(bin, args, { env, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) });
}

/** POSTs JSON; resolves with `{status, body}`. */
export async function post(base, path, body) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

let counter = 0;
/** Signs up and logs in a fresh user; resolves with `{username, token}`. */
export async function newUser(base) {
  const username = `js_${process.pid}_${++counter}`;
  const password = PASSWORD;
  assert.equal((await post(base, api.SIGNUP_PATH, { username, password })).status, 201);
  const login = await post(base, api.LOGIN_PATH, { username, password });
  assert.equal(login.status, 200);
  return { username, token: login.body.token };
}

/** Resolves with the first `event` on `socket` (its first argument) that `pred` accepts, or
 * rejects after WAIT_MS. */
export function once(socket, event, pred = () => true) {
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

/** A socket.io-client socket to `base`, without reconnection. */
export function connect(base, opts) {
  return io(base, { reconnection: false, forceNew: true, ...opts });
}
