// The example front-end (api/static/app/) from another origin, in a real
// browser. Two api processes:
//   "app"  serves the page (SERVE_EXAMPLE_APP=true) at http://127.0.0.1:B/app/
//   "api"  is the API the page talks to (?api=http://127.0.0.1:A), with
//          CORS_ALLOWED_ORIGINS=http://127.0.0.1:B.
// From 127.0.0.1:B the app adds, completes (one, and all), renames, filters
// and clears tasks, and shows changes made from outside. The same page from http://localhost:B
// (another origin, not allowed) gets nothing: the browser refuses the
// responses, and the api refuses its WebSocket.
//
//   API_BIN=target/debug/api node --test clients/browser/app.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  allTasks,
  createTask,
  eventually,
  gql,
  launchBrowser,
  screenshotPath,
  startApi,
} from './helpers.mjs';

let app;
let api;
let browser;

before(async () => {
  app = await startApi('app', { SERVE_EXAMPLE_APP: 'true' });
  api = await startApi('api', { CORS_ALLOWED_ORIGINS: `http://127.0.0.1:${app.port}` });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await api?.stop();
  await app?.stop();
});

const labels = (page) => page.locator('.todo-list li label').allTextContents();
const item = (page, text) => page.locator('.todo-list li').filter({ has: page.getByText(text, { exact: true }) });

async function openApp(origin) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  const log = { console: [], pageErrors: [], requests: [], posts: 0, sockets: [] };
  page.on('console', (msg) => log.console.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => log.pageErrors.push(err.message));
  page.on('websocket', (ws) => log.sockets.push(ws.url()));
  page.on('request', (request) => {
    log.requests.push(request.url());
    if (request.method() === 'POST') log.posts += 1;
  });
  await page.goto(`${origin}/app/?api=${encodeURIComponent(api.url)}`);
  return { context, page, log };
}

test('allowed origin: add, complete, rename, filter, clear, and live updates', async () => {
  const { context, page, log } = await openApp(`http://127.0.0.1:${app.port}`);
  try {
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 15_000 });
    await assert.doesNotReject(page.locator('#api-url').textContent());
    assert.equal(await page.locator('#api-url').textContent(), `${api.url}/graphql`);

    // Add three tasks through the input.
    for (const description of ['Buy milk', 'Walk dog', 'Write report']) {
      await page.locator('#new-description').fill(description);
      await page.locator('#new-description').press('Enter');
      await item(page, description).waitFor();
    }
    assert.deepEqual(await labels(page), ['Buy milk', 'Walk dog', 'Write report']);
    assert.equal(await page.locator('#count').textContent(), '3 items left');
    assert.deepEqual((await allTasks(api)).map((t) => t.description).sort(), ['Buy milk', 'Walk dog', 'Write report']);

    // Complete one.
    await item(page, 'Buy milk').locator('.toggle').click();
    await eventually('Buy milk completed', async () => (await item(page, 'Buy milk').getAttribute('class'))?.includes('completed'));
    assert.equal(await page.locator('#count').textContent(), '2 items left');
    assert.equal((await allTasks(api)).find((t) => t.description === 'Buy milk').done, true);

    // Rename one (double-click, type, Enter).
    await item(page, 'Walk dog').locator('label').dblclick();
    await page.locator('.todo-list li .edit').fill('Walk the dog');
    await page.locator('.todo-list li .edit').press('Enter');
    await item(page, 'Walk the dog').waitFor();
    await eventually('the rename stored', async () => (await allTasks(api)).some((t) => t.description === 'Walk the dog'));

    // Filters.
    await page.locator('a[data-filter="active"]').click();
    await eventually('the active filter', async () => (await labels(page)).join() === 'Walk the dog,Write report');
    await page.locator('a[data-filter="completed"]').click();
    await eventually('the completed filter', async () => (await labels(page)).join() === 'Buy milk');
    await page.locator('a[data-filter="all"]').click();
    await eventually('all tasks again', async () => (await labels(page)).length === 3);

    // Mark all as complete, then none, then just "Buy milk" again. A click,
    // not check(): a live re-render may reset the box before Playwright looks,
    // so the outcome is what is awaited.
    await page.locator('#toggle-all').click();
    await eventually('all completed', async () => (await page.locator('.todo-list li.completed').count()) === 3);
    assert.equal(await page.locator('#count').textContent(), '0 items left');
    assert.ok((await allTasks(api)).every((t) => t.done));
    await page.locator('#toggle-all').click();
    await eventually('none completed', async () => (await page.locator('.todo-list li.completed').count()) === 0);
    assert.ok((await allTasks(api)).every((t) => !t.done));
    await item(page, 'Buy milk').locator('.toggle').click();
    await eventually('Buy milk completed again', async () => (await page.locator('#count').textContent()) === '2 items left');

    // Clear completed.
    await page.locator('#clear-completed').click();
    await eventually('Buy milk cleared', async () => (await labels(page)).join() === 'Walk the dog,Write report');
    assert.deepEqual((await allTasks(api)).map((t) => t.description).sort(), ['Walk the dog', 'Write report']);
    assert.equal(await page.locator('#clear-completed').isHidden(), true);

    // Changes from outside arrive over the subscription, with no request by
    // the page. Nothing says when the server has started the subscription,
    // so tasks are created until one shows up.
    const postsBefore = log.posts;
    let n = 0;
    const outside = await eventually(
      'a task created from outside to appear',
      async () => {
        const task = await createTask(api, `From outside ${++n}`);
        try {
          await item(page, task.description).waitFor({ timeout: 1000 });
          return task;
        } catch {
          return false;
        }
      },
      20_000,
    );
    await gql(api, 'mutation($id: ID!) { updateTask(input: {id: $id, done: true}) { task { id } } }', { id: outside.id });
    await eventually('the outside task completed', async () =>
      (await item(page, outside.description).getAttribute('class'))?.includes('completed'),
    );
    const shot = screenshotPath('example-app.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await gql(api, 'mutation($id: ID!) { deleteTask(input: {id: $id}) { deletedTaskIds } }', { id: outside.id });
    await eventually('the outside task gone', async () => (await item(page, outside.description).count()) === 0);
    assert.equal(log.posts, postsBefore, 'live updates came without HTTP requests');

    // The page came from B and talked to A: a cross-origin app.
    for (const url of log.requests) {
      const origin = new URL(url).origin;
      assert.ok(origin === app.origin || origin === api.origin || url.startsWith('data:'), url);
    }
    assert.ok(log.requests.some((u) => u === `${api.url}/graphql`));
    assert.deepEqual(log.sockets, [`${api.url.replace(/^http/, 'ws')}/graphql`]);
    assert.equal(await page.locator('#status').textContent(), '');
    assert.deepEqual(log.pageErrors, []);
    assert.deepEqual(log.console.filter((m) => m.startsWith('error')), []);
  } finally {
    await context.close();
  }
});

test('origin not allowed: the browser refuses the API responses', async () => {
  // Data the refused page must not see.
  await createTask(api, 'Secret from another origin');
  const refusedOrigin = `http://localhost:${app.port}`;
  const { context, page, log } = await openApp(refusedOrigin);
  try {
    await page.getByText('Could not load the tasks').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('.todo-list li').count(), 0);

    // Chromium says why in the console.
    const cors = await eventually('a CORS error in the console', () =>
      log.console.find((m) => m.startsWith('error') && m.includes('blocked by CORS policy')),
    );
    assert.match(cors, new RegExp(`from origin '${refusedOrigin}'`));

    // And a fetch from the page fails outright.
    const outcome = await page.evaluate(async (url) => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ tasks { totalCount } }' }),
        });
        return `answered ${response.status}`;
      } catch (err) {
        return `${err.name}: ${err.message}`;
      }
    }, `${api.url}/graphql`);
    assert.equal(outcome, 'TypeError: Failed to fetch');

    // The preflight was answered, just without permission for this origin.
    const preflight = await fetch(`${api.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: refusedOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);

    // Browsers apply no CORS to WebSockets; the api checks their Origin
    // against the same list and refuses the handshake (403).
    await page.locator('#live[data-state="offline"]').waitFor({ timeout: 10_000 });
    assert.ok(log.sockets.length >= 1, 'the page tried a WebSocket');
    const ws = await eventually('a refused WebSocket in the console', () =>
      log.console.find((m) => m.startsWith('error') && m.includes('WebSocket connection') && m.includes('403')),
    );
    console.log(`refused origin: fetch "${outcome}"; ${cors}; ${ws}`);

    const shot = screenshotPath('example-app-refused.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
  } finally {
    await context.close();
  }
});

test('same origin: /app on the api itself needs no ?api= and no CORS', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${app.url}/app`); // redirected to /app/
    assert.equal(page.url(), `${app.url}/app/`);
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#api-url').textContent(), `${app.url}/graphql`);
    await page.locator('#new-description').fill('Served by the api itself');
    await page.locator('#new-description').press('Enter');
    await item(page, 'Served by the api itself').waitFor();
    assert.deepEqual((await allTasks(app)).map((t) => t.description), ['Served by the api itself']);
  } finally {
    await context.close();
  }
});
