// Trusted documents against a server started with the checked-in manifest
// and TRUSTED_DOCUMENTS_MODE=only (run-all.sh starts it): Apollo Client
// sends a manifest document by its manifest hash, read from the document's
// `__meta__.hash` as client-preset's generated documents carry it
// (codegen's recipe for Apollo's link), and it runs at once; an ad-hoc
// document is refused with PERSISTED_QUERY_NOT_TRUSTED, by hash (the link
// does not retry) and by text.
//
//   API_URL=http://127.0.0.1:18080 node --test trusted/only.test.mjs
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { parse, print } from 'graphql';

import { httpUrl } from '../test/helpers.mjs';

const manifest = JSON.parse(
  readFileSync(new URL('../../persisted-documents.json', import.meta.url), 'utf8'),
);
/** Each manifest document, parsed, with its hash where codegen puts it. */
const byName = new Map();
for (const [hash, text] of Object.entries(manifest)) {
  const document = { ...parse(text), __meta__: { hash } };
  const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
  byName.set(operation.name.value, { document, hash, text });
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function client(log) {
  const persisted = new PersistedQueryLink({
    generateHash: (document) => document.__meta__?.hash ?? sha256(print(document)),
  });
  const recording = async (url, init = {}) => {
    const entry = { body: JSON.parse(init.body) };
    log.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    entry.answer = await response.clone().json();
    return response;
  };
  return new ApolloClient({
    link: persisted.concat(new HttpLink({ uri: httpUrl(), fetch: recording })),
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'no-cache' } },
  });
}

test('a manifest document runs by its hash alone', async () => {
  const log = [];
  const apollo = client(log);
  const created = await apollo.mutate({
    mutation: byName.get('CreateTask').document,
    variables: { input: { description: `trusted ${Date.now()}` } },
  });
  assert.ok(created.data.createTask.task.id);
  const { document, hash } = byName.get('ListTasks');
  const listed = await apollo.query({ query: document, variables: { first: 5 } });
  assert.ok(listed.data.tasks.totalCount >= 1);
  assert.equal(log.length, 2, 'no retries: the server knows the manifest');
  for (const entry of log) {
    assert.equal(entry.body.query, undefined, 'only the hash was sent');
    assert.equal(entry.status, 200, JSON.stringify(entry.answer));
  }
  assert.equal(log[1].body.extensions.persistedQuery.sha256Hash, hash);
});

test('the manifest text itself runs too', async () => {
  const { text } = byName.get('ListTasks');
  const response = await fetch(httpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: text, variables: { first: 1 } }),
  });
  const body = await response.json();
  assert.equal(response.status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body));
});

test('an ad-hoc document is refused, by hash and by text', async () => {
  const log = [];
  const apollo = client(log);
  const adhoc = parse('query Adhoc { tasks { totalCount } }');
  await assert.rejects(apollo.query({ query: adhoc }), (error) => {
    assert.ok(CombinedGraphQLErrors.is(error), String(error));
    assert.equal(error.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_TRUSTED');
    return true;
  });
  assert.equal(log.length, 1, 'not a PersistedQueryNotFound: the link does not retry');
  assert.equal(log[0].status, 400);

  const response = await fetch(httpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: print(adhoc) }),
  });
  const body = await response.json();
  assert.equal(response.status, 200);
  assert.equal(body.data, undefined);
  assert.equal(body.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_TRUSTED');
});
