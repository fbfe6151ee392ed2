// The Socket.IO Admin UI dashboard itself (@socket.io/admin-ui 0.5.1's `ui/dist`, served by
// chat-server under /admin-ui/) in a real browser: Debian's chromium driven by playwright-core.
// An operator logs in through the dashboard's connection form, sees the test sockets and their
// rooms, and disconnects one; the test checks that the socket really went. The last screen is kept
// as artifacts in target/artifacts/admin-ui-*.png (ARTIFACTS_DIR overrides the folder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { chromium } from 'playwright-core';
import { WAIT_MS, connect, here, newUser, once, startChatServer } from './harness.mjs';
import { ev } from './shared.mjs';

const ADMIN = 'operator';
const ADMIN_PASSWORD = 'dashboard password';
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? join(here, '..', 'target', 'artifacts');
const MDI = join(here, 'node_modules', '@mdi', 'font');

let server;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/install-test-deps.sh installs Debian's chromium`);
  const ui = join(here, 'node_modules', '@socket.io', 'admin-ui', 'ui', 'dist');
  // Development mode: the dashboard's socket and room pages need `all_sockets` and the socket events.
  server = await startChatServer(
    ['--admin-ui', '--admin-username', ADMIN, '--admin-mode', 'development', '--admin-ui-dir', ui],
    { ADMIN_PASSWORD_HASH: bcrypt.hashSync(ADMIN_PASSWORD, 10) },
  );
  // Flags for a machine without internet: without the background-networking ones, chromium keeps
  // opening connections to Google that the closed network refuses.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** A page that serves the dashboard's CDN stylesheet for its icons from the @mdi/font npm package
 * (what the CDN would send) and refuses every other request off this machine (Google Fonts: the
 * page falls back to a local font). */
async function dashboardPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    const url = new URL(route.request().url());
    const file = url.hostname === 'cdn.jsdelivr.net' && url.pathname.match(/\/@mdi\/font@[^/]+\/(css|fonts)\/([\w.-]+)$/);
    return file ? route.fulfill({ body: readFileSync(join(MDI, file[1], file[2])), contentType: mime(file[2]) }) : route.abort();
  });
  return page;
}

/** Keeps what the browser shows as target/artifacts/admin-ui-`name`.png. */
async function snap(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `admin-ui-${name}.png`) });
}

/** Opens a page of the dashboard from its menu. */
async function open(page, name) {
  await page.getByRole('navigation').getByRole('link', { name }).click();
  await settled(page, name);
}

/** Waits until the page transition has ended: only the new page's breadcrumbs, ending in `title`,
 * are left, so the old page's tables cannot answer a query meant for the new one. */
async function settled(page, title) {
  await page.waitForFunction((t) => {
    const crumbs = document.querySelectorAll('main .v-breadcrumbs');
    return crumbs.length === 1 && crumbs[0].innerText.trim().endsWith(t);
  }, title);
}

function mime(name) {
  if (name.endsWith('.css')) return 'text/css';
  if (name.endsWith('.woff2')) return 'font/woff2';
  if (name.endsWith('.woff')) return 'font/woff';
  return 'font/ttf';
}

test('an operator logs in to the served dashboard, sees the sockets and rooms, and disconnects one', async () => {
  const [alice, bob] = [await newUser(server.base), await newUser(server.base)];
  const aliceSocket = connect(server.base, { auth: { token: alice.token }, query: { room: 'dashboard-dev' }, transports: ['websocket'] });
  const bobSocket = connect(server.base, { auth: { token: bob.token }, query: { room: 'dashboard-ops' }, transports: ['polling'] });
  const connected = Promise.all([once(aliceSocket, 'connect'), once(bobSocket, 'connect')]);
  const page = await dashboardPage();
  try {
    await connected;
    // Kept: a socket.io-client socket forgets its id when it disconnects.
    const [aliceId, bobId] = [aliceSocket.id, bobSocket.id];
    page.setDefaultTimeout(WAIT_MS * 2);

    await page.goto(`${server.base}/admin-ui/`);
    await page.getByLabel('Server URL').fill(server.base);
    await page.getByLabel('Username').fill(ADMIN);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('header').getByText(/^connected$/i).filter({ visible: true }).waitFor();

    // The home page's namespace table, from server_stats: the chat namespace and the dashboard's.
    const namespaces = page.locator('main .v-card').filter({ has: page.getByText('Namespaces', { exact: true }) });
    await namespaces.getByRole('cell', { name: '/admin', exact: true }).waitFor();
    await snap(page, 'dashboard');

    await open(page, 'Sockets');
    const table = page.locator('main table');
    await table.getByText(aliceId, { exact: true }).waitFor();
    // Bob's row says how he is connected.
    await table.locator('tr', { hasText: bobId }).getByText('HTTP long-polling').waitFor();

    await open(page, 'Rooms');
    await page.locator('main table').getByText('dashboard-dev', { exact: true }).waitFor();
    await page.locator('main table').getByText('dashboard-ops', { exact: true }).waitFor();

    // Alice's socket page lists her room; its disconnect button ends her socket on the server.
    await open(page, 'Sockets');
    await page.locator('main table').getByText(aliceId, { exact: true }).click();
    await settled(page, 'Socket details');
    const roomsCard = page.locator('main .v-card').filter({ has: page.getByText('Rooms', { exact: true }) });
    await roomsCard.getByText('dashboard-dev', { exact: true }).waitFor();
    await snap(page, 'socket');
    const gone = once(aliceSocket, 'disconnect');
    await page.locator('main button:has(i.mdi-logout)').first().click();
    assert.equal(await gone, 'io server disconnect');
    await page.getByText(/^disconnected$/i).first().waitFor();

    // Really gone: the server no longer knows the socket, and the other one still chats.
    assert.equal(await bobSocket.timeout(WAIT_MS).emitWithAck(ev.USER_INFO, aliceId), null);
    const echo = once(bobSocket, ev.CHAT_MESSAGE, (m) => m.message === 'still here');
    bobSocket.emit(ev.CHAT_MESSAGE, 'still here');
    assert.equal((await echo).username, bob.username);

    // The sockets page now lists only Bob.
    await open(page, 'Sockets');
    await page.locator('main table').getByText(bobId, { exact: true }).waitFor();
    assert.equal(await page.locator('main table').getByText(aliceId, { exact: true }).count(), 0);
  } finally {
    // The last screen, also when a step failed: what the browser showed then.
    await snap(page, 'last').catch(() => {});
    await page.close();
    aliceSocket.disconnect();
    bobSocket.disconnect();
  }
});
