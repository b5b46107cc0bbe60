// Composes the supergraph the gateway serves, with @theguild/federation-composition:
//   todo   the checked-in ../../schema.federation.graphql (what `api schema
//          --federation` prints); with API_URL, the running api's
//          `_service { sdl }` must equal it
//   users  the users subgraph (users-subgraph.mjs): its live `_service { sdl }`
//          with USERS_URL, else its type definitions printed here
// Any composition error fails (exit 1), so a schema change that breaks the
// supergraph fails CI. Also checks that composition does catch a conflict: a
// users subgraph that redefines User.tasks with another type must be refused.
//
//   API_URL=http://127.0.0.1:8080 USERS_URL=http://127.0.0.1:4001 \
//   AUTH_JWT_SECRET=... node compose.mjs --out supergraph.graphql
// API_URL/USERS_URL also become the subgraph URLs in the supergraph (defaults
// http://127.0.0.1:8080 and :4001). The api answers `_service` only with a
// token, so one is signed with AUTH_JWT_SECRET.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { SignJWT } from 'jose';

import { typeDefs as usersTypeDefs } from './users-subgraph.mjs';

const { values: args } = parseArgs({ options: { out: { type: 'string' } } });
const apiUrl = (process.env.API_URL ?? '').replace(/\/+$/, '');
const usersUrl = (process.env.USERS_URL ?? '').replace(/\/+$/, '');
const checkedIn = readFileSync(new URL('../../schema.federation.graphql', import.meta.url), 'utf8');

async function serviceSdl(url, authorization) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`${url}: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body.data._service.sdl;
}

let failed = false;
function fail(message) {
  console.error(`FAIL ${message}`);
  failed = true;
}

if (apiUrl) {
  const secret = process.env.AUTH_JWT_SECRET;
  if (!secret) throw new Error('set AUTH_JWT_SECRET: the api answers _service only with a token');
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('composition')
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
  const live = await serviceSdl(apiUrl, `Bearer ${token}`);
  if (live === checkedIn) {
    console.log(`ok   the api's _service { sdl } equals schema.federation.graphql (${live.length} bytes)`);
  } else {
    fail("the api's _service { sdl } differs from schema.federation.graphql (stale API_BIN or schema file?)");
  }
} else {
  console.log('--   API_URL unset: the live _service { sdl } is not compared');
}

const usersSdl = usersUrl
  ? await serviceSdl(usersUrl)
  : printSubgraphSchema(buildSubgraphSchema({ typeDefs: usersTypeDefs }));

const todo = {
  name: 'todo',
  typeDefs: parse(checkedIn),
  url: `${apiUrl || 'http://127.0.0.1:8080'}/graphql`,
};
const users = { name: 'users', typeDefs: parse(usersSdl), url: `${usersUrl || 'http://127.0.0.1:4001'}/graphql` };

const result = composeServices([todo, users]);
if (result.errors) {
  for (const error of result.errors) console.error(`  ${error.extensions?.code ?? 'ERROR'}: ${error.message}`);
  fail(`composition: ${result.errors.length} error(s)`);
} else {
  const entities = [...result.supergraphSdl.matchAll(/^type (\w+)[^{]*@join__type\(graph: USERS, key:/gm)].map(
    (m) => m[1],
  );
  console.log(
    `ok   composed todo + users: supergraph ${result.supergraphSdl.length} bytes, ` +
      `entities shared with users: ${entities.join(', ')}`,
  );
  for (const [type, field] of [
    ['User', 'tasks'],
    ['User', 'name'],
    ['User', 'pinnedTask'],
    ['Task', 'owner'],
  ]) {
    const re = new RegExp(`^type ${type}\\b[^]*?^}`, 'm');
    const block = result.publicSdl.match(re)?.[0] ?? '';
    if (!new RegExp(`^\\s+${field}\\b`, 'm').test(block)) fail(`the public schema has no ${type}.${field}`);
  }
  if (!/^type Subscription\b[^]*?taskEvents/m.test(result.publicSdl)) fail('the public schema has no Subscription.taskEvents');
  if (args.out) {
    writeFileSync(args.out, result.supergraphSdl);
    console.log(`ok   wrote ${args.out}`);
  }
}

// Composition must refuse a subgraph that contradicts ours.
const conflicting = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  type Query { me: User }
  type User @key(fields: "id") { id: ID! tasks: [String!]! }
`);
const refused = composeServices([todo, { name: 'users', typeDefs: conflicting, url: users.url }]);
if (refused.errors?.length) {
  console.log(`ok   a users subgraph redefining User.tasks is refused (${refused.errors[0].extensions?.code})`);
} else {
  fail('a users subgraph redefining User.tasks as [String!]! composed without an error');
}

if (failed) process.exit(1);
console.log('composition: all checks passed');
