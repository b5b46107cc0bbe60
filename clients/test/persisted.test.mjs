// Automatic persisted queries with Apollo Client's own link
// (@apollo/client/link/persisted-queries) against the real server: the first
// request sends only the hash and gets PersistedQueryNotFound, the link sends
// the full text once, and the next run of the same query is hash-only again;
// over POST and over GET (useGETForHashedQueries). A fetch wrapper records
// what went over the wire.
//
//   API_URL=http://127.0.0.1:18080 node --test test/persisted.test.mjs
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { parse } from 'graphql';

import { createTask, httpUrl } from './helpers.mjs';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** A fetch that records each request (method, URL, body) and its answer. */
function recordingFetch(log) {
  return async (url, init = {}) => {
    const entry = {
      method: init.method ?? 'GET',
      url: new URL(String(url)),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    log.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    entry.answer = await response.clone().json();
    return response;
  };
}

function client(log, options = {}) {
  const persisted = new PersistedQueryLink({ sha256, ...options });
  return new ApolloClient({
    link: persisted.concat(new HttpLink({ uri: httpUrl(), fetch: recordingFetch(log) })),
    cache: new InMemoryCache(),
    // Every run goes to the server: the wire is what this test looks at.
    defaultOptions: { query: { fetchPolicy: 'no-cache' } },
  });
}

/** The hash the link sent: in the body (POST) or the URL (GET). */
function sentExtensions(entry) {
  if (entry.method === 'GET') return JSON.parse(entry.url.searchParams.get('extensions'));
  return entry.body.extensions;
}

function assertNotFound(entry) {
  // Apollo Client 4 asks for application/graphql-response+json, so the
  // refusal is a 400 with the error in the body, which the link reads.
  assert.equal(entry.status, 400, JSON.stringify(entry.answer));
  assert.equal(entry.answer.errors[0].message, 'PersistedQueryNotFound');
  assert.equal(entry.answer.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_FOUND');
}

/** A query no earlier run registered on this server. */
function freshQuery(name) {
  const nonce = `n${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  return parse(`
    query ${name}($search: String) {
      ${nonce}: tasks(filter: { search: $search }) { totalCount nodes { description } }
    }
  `);
}

/** The link hashes the text it sends (Apollo adds __typename first). */
function assertHashOfText(entry, hash) {
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(sha256(entry.body.query), hash, 'sha256Hash is the hash of the exact text sent');
}

test('Apollo APQ over POST: not found, the full text once, then the hash alone', async () => {
  const description = `apq post ${Date.now()}`;
  await createTask(description);
  const log = [];
  const apollo = client(log);
  const query = freshQuery('ApqPost');
  const variables = { search: description };

  const first = await apollo.query({ query, variables });
  assert.equal(Object.values(first.data)[0].totalCount, 1);
  assert.equal(log.length, 2, 'one hash-only request, one retry');
  const [hashOnly, withText] = log;
  assert.equal(hashOnly.method, 'POST');
  assert.equal(hashOnly.body.query, undefined, 'the first request sends no text');
  const hash = sentExtensions(hashOnly).persistedQuery.sha256Hash;
  assert.deepEqual(sentExtensions(hashOnly).persistedQuery, { version: 1, sha256Hash: hash });
  assertNotFound(hashOnly);
  assert.equal(withText.method, 'POST');
  assertHashOfText(withText, hash);
  assert.equal(sentExtensions(withText).persistedQuery.sha256Hash, hash);
  assert.equal(withText.status, 200);

  const second = await apollo.query({ query, variables });
  assert.deepEqual(second.data, first.data);
  assert.equal(log.length, 3, 'the second run is one request');
  assert.equal(log[2].method, 'POST');
  assert.equal(log[2].body.query, undefined, 'the second run sends only the hash');
  assert.equal(sentExtensions(log[2]).persistedQuery.sha256Hash, hash);
  assert.equal(log[2].status, 200);

  // Another client (a new page load) knows nothing yet, but the server
  // does: its very first request is hash-only and runs.
  const otherLog = [];
  const other = await client(otherLog).query({ query, variables });
  assert.deepEqual(other.data, first.data);
  assert.equal(otherLog.length, 1);
  assert.equal(otherLog[0].body.query, undefined);
});

test('Apollo APQ over GET (useGETForHashedQueries): the retry is a POST, then GET by hash', async () => {
  const description = `apq get ${Date.now()}`;
  await createTask(description);
  const log = [];
  const apollo = client(log, { useGETForHashedQueries: true });
  const query = freshQuery('ApqGet');
  const variables = { search: description };

  const first = await apollo.query({ query, variables });
  assert.equal(Object.values(first.data)[0].totalCount, 1);
  assert.equal(log.length, 2);
  const [hashOnly, withText] = log;
  assert.equal(hashOnly.method, 'GET');
  assert.equal(hashOnly.url.searchParams.get('query'), null, 'no text in the URL');
  const hash = sentExtensions(hashOnly).persistedQuery.sha256Hash;
  assert.equal(JSON.parse(hashOnly.url.searchParams.get('variables')).search, description);
  assertNotFound(hashOnly);
  assert.equal(withText.method, 'POST');
  assertHashOfText(withText, hash);

  const second = await apollo.query({ query, variables });
  assert.deepEqual(second.data, first.data);
  assert.equal(log.length, 3);
  assert.equal(log[2].method, 'GET');
  assert.equal(log[2].url.searchParams.get('query'), null);
  assert.equal(sentExtensions(log[2]).persistedQuery.sha256Hash, hash);
  assert.equal(log[2].status, 200);
});
