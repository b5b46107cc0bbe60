// GraphiQL at / in a real browser, with nothing but the api to talk to:
// the example document it opens with, a query and a mutation typed into the
// editor and run, then a subscription that shows an event for a mutation
// sent from outside. A second test loads
// the same pinned files from GRAPHIQL_ASSETS_URL (answered here from the
// api's embedded copies) and checks that subresource integrity refuses a
// tampered file.
//
//   API_BIN=target/debug/api node --test clients/browser/graphiql.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  allTasks,
  createTask,
  eventually,
  launchBrowser,
  screenshotPath,
  startApi,
} from './helpers.mjs';

let api;
let browser;

before(async () => {
  api = await startApi('graphiql');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await api?.stop();
});

/** The CodeMirror 5 instance of a GraphiQL editor (`query` or `response`). */
const editorValue = (page, which) =>
  page.evaluate((selector) => document.querySelector(selector).CodeMirror.getValue(), `.graphiql-${which}-editor .CodeMirror, .graphiql-${which} .CodeMirror`);

/** Replaces the query editor's text by typing it, then checks it arrived. */
async function typeQuery(page, text) {
  await page.locator('.graphiql-query-editor .CodeMirror').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  // One input event, as a paste would be: no bracket auto-closing on the way.
  await page.keyboard.insertText(text);
  assert.equal(await editorValue(page, 'query'), text);
  // GraphiQL parses the editor shortly after a change, and picks the
  // transport (HTTP, or WebSocket for a subscription) from that parse: wait
  // for it, as a person reaching for the run button would.
  await eventually('GraphiQL to parse the new operation', () =>
    page.evaluate(() => {
      const editor = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
      return editor.documentAST?.loc?.source?.body === editor.getValue();
    }),
  );
}

async function run(page) {
  await page.locator('.graphiql-execute-button').click();
}

/** The response pane, parsed, once `predicate` holds for it. */
async function response(page, what, predicate) {
  return diagnose(page, 'graphiql-failed.png', () => eventually(what, async () => {
    const text = await editorValue(page, 'response');
    if (!text.trim()) return false;
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      return false; // a subscription may show several results
    }
    return predicate(value) ? value : false;
  }));
}

/** Runs `step`; if it fails, keeps a screenshot and adds the panes' text. */
async function diagnose(page, name, step) {
  try {
    return await step();
  } catch (err) {
    const shot = screenshotPath(name);
    await page.screenshot({ path: shot }).catch(() => {});
    const query = await editorValue(page, 'query').catch((e) => e.message);
    const result = await editorValue(page, 'response').catch((e) => e.message);
    err.message += `\nquery pane: ${query}\nresponse pane: ${result}\nscreenshot: ${shot}`;
    throw err;
  }
}

/** Records every request and socket; aborts anything not for `origin`. */
async function onlyOrigin(context, origin) {
  const requests = [];
  const foreign = [];
  const sockets = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.fallback();
    foreign.push(url);
    return route.abort('blockedbyclient');
  });
  context.on('request', (request) => requests.push(request.url()));
  context.on('page', (page) => page.on('websocket', (ws) => sockets.push(ws.url())));
  return { requests, foreign, sockets };
}

test('GraphiQL runs a query, a mutation and a subscription, loading nothing from elsewhere', async () => {
  const embedded = await fetch(`${api.url}/graphiql/react@18.3.1/umd/react.production.min.js`);
  assert.equal(
    embedded.status,
    200,
    'this api binary serves no embedded GraphiQL files (api/static/graphiql/)',
  );

  const context = await browser.newContext({ viewport: { width: 1400, height: 850 } });
  const traffic = await onlyOrigin(context, api.origin);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });

  try {
    await page.goto(`${api.url}/`);
    await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('#graphiql').getAttribute('data-assets'), 'embedded');

    // A first visit opens with the example document (DEFAULT_QUERY in
    // api/src/http/graphiql.rs; tests/it/graphiql_default.rs runs it).
    const first = await editorValue(page, 'query');
    for (const operation of ['query OpenTasks {', 'mutation CreateTask {', 'subscription TaskEvents {']) {
      assert.ok(first.includes(operation), `the editor opens without ${operation}:\n${first}`);
    }

    // A query, typed into the editor.
    await typeQuery(page, '{\n  tasks(first: 5) {\n    totalCount\n  }\n}');
    await run(page);
    const queried = await response(page, 'the query result', (r) => r.data?.tasks);
    assert.equal(typeof queried.data.tasks.totalCount, 'number');
    const before = queried.data.tasks.totalCount;

    // A mutation; the task really is in the database.
    await typeQuery(
      page,
      'mutation {\n  createTask(input: {description: "typed into GraphiQL"}) {\n    task { id description done }\n  }\n}',
    );
    await run(page);
    const created = await response(page, 'the mutation result', (r) => r.data?.createTask);
    assert.equal(created.data.createTask.task.description, 'typed into GraphiQL');
    const stored = await allTasks(api);
    assert.equal(stored.length, before + 1);
    assert.ok(stored.some((t) => t.id === created.data.createTask.task.id));

    // A subscription; mutations from outside until one shows up (nothing
    // tells when the server has started the subscription).
    await typeQuery(page, 'subscription {\n  taskEvents {\n    kind\n    task { description done }\n  }\n}');
    await run(page);
    let n = 0;
    const event = await diagnose(page, 'graphiql-subscription-failed.png', () => eventually(
      'a subscription event in GraphiQL',
      async () => {
        const description = `sent from outside ${++n}`;
        await createTask(api, description);
        const deadline = Date.now() + 1000;
        while (Date.now() < deadline) {
          const text = await editorValue(page, 'response');
          if (text.includes(description)) return JSON.parse(text);
          await new Promise((r) => setTimeout(r, 50));
        }
        return false;
      },
      20_000,
    ));
    assert.equal(event.data.taskEvents.kind, 'CREATED');
    assert.match(event.data.taskEvents.task.description, /^sent from outside \d+$/);

    const shot = screenshotPath('graphiql-subscription.png');
    await page.screenshot({ path: shot });
    console.log(`screenshot: ${shot}`);

    // Stop the subscription (the run button is now a stop button).
    await run(page);

    assert.deepEqual(traffic.foreign, [], 'requests to other hosts');
    assert.ok(traffic.requests.length > 0);
    for (const url of traffic.requests) {
      assert.ok(url.startsWith('data:') || new URL(url).origin === api.origin, url);
    }
    assert.deepEqual(traffic.sockets, [`${api.url.replace(/^http/, 'ws')}/graphql`]);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  } finally {
    await context.close();
  }
});

test('GRAPHIQL_ASSETS_URL: the same pinned files from elsewhere, refused when tampered with', async () => {
  const cdn = 'https://assets.example.test/npm';
  const other = await startApi('graphiql-assets-url', { GRAPHIQL_ASSETS_URL: cdn });
  try {
    for (const tamper of [false, true]) {
      const context = await browser.newContext();
      const served = [];
      // The "CDN": the api's embedded copies, with the CORS header a CDN sends.
      await context.route(`${cdn}/**`, async (route) => {
        const path = route.request().url().slice(cdn.length);
        served.push(path);
        const upstream = await fetch(`${api.url}/graphiql${path}`);
        let body = Buffer.from(await upstream.arrayBuffer());
        if (tamper && path.endsWith('react.production.min.js')) {
          body = Buffer.concat([body, Buffer.from('\n/* changed */\n')]);
        }
        await route.fulfill({
          status: upstream.status,
          headers: {
            'content-type': upstream.headers.get('content-type'),
            'access-control-allow-origin': '*',
          },
          body,
        });
      });
      const page = await context.newPage();
      try {
        await page.goto(`${other.url}/`);
        assert.equal(await page.locator('#graphiql').getAttribute('data-assets'), 'configured');
        if (tamper) {
          await page.getByText('GraphiQL could not be loaded').waitFor({ timeout: 15_000 });
        } else {
          await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
          await typeQuery(page, '{ __typename }');
          await run(page);
          await response(page, 'the query result', (r) => r.data?.__typename === 'Query');
        }
        assert.deepEqual(served.sort(), [
          '/graphiql@4.1.2/graphiql.min.css',
          '/graphiql@4.1.2/graphiql.min.js',
          '/react-dom@18.3.1/umd/react-dom.production.min.js',
          '/react@18.3.1/umd/react.production.min.js',
        ]);
      } finally {
        await context.close();
      }
    }
  } finally {
    await other.stop();
  }
});
