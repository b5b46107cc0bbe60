// A second subgraph written for the federation checks: it owns `User.name`
// and references the to-do service's tasks, so a gateway has to join the two.
//
//   User @key(fields: "id")   id is the JWT subject, as in the to-do service
//   Query.me                  the caller, read from the forwarded Authorization
//                             header (HS256, the api's AUTH_JWT_SECRET)
//   User.pinnedTask: Task     a Task stub (resolvable: false): the gateway must
//                             fetch its fields from the to-do service's _entities
//   Mutation.pinTask(taskId)  pins a task id for the caller (kept in memory; the
//                             id is not checked: another user's task id is the
//                             to-do service's to refuse)
//
//   AUTH_JWT_SECRET=... PORT=4001 node users-subgraph.mjs
// Served on plain node:http: POST /graphql (JSON), GET /healthz.
import { createServer } from 'node:http';

import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, graphql, parse } from 'graphql';
import { jwtVerify } from 'jose';

export const NAMES = {
  alice: 'Alice Liddell',
  bob: 'Bob Cratchit',
};

export const typeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "The caller (the token's subject); null without a token."
    me: User
  }

  type Mutation {
    "Pins a task for the caller; null unpins."
    pinTask(taskId: ID): User!
  }

  type User @key(fields: "id") {
    id: ID!
    name: String!
    pinnedTask: Task
  }

  type Task @key(fields: "id", resolvable: false) {
    id: ID!
  }
`);

const user = (id) => ({ id, name: NAMES[id] ?? id });

export function createUsersSubgraph({ secret }) {
  const key = new TextEncoder().encode(secret);
  const pinned = new Map();

  const resolvers = {
    Query: {
      me: (_root, _args, ctx) => (ctx.subject ? user(ctx.subject) : null),
    },
    Mutation: {
      pinTask: (_root, { taskId }, ctx) => {
        if (!ctx.subject) {
          throw new GraphQLError('a bearer token is required', { extensions: { code: 'UNAUTHENTICATED' } });
        }
        if (taskId) pinned.set(ctx.subject, taskId);
        else pinned.delete(ctx.subject);
        return user(ctx.subject);
      },
    },
    User: {
      __resolveReference: (ref) => user(ref.id),
      pinnedTask: (u) => (pinned.has(u.id) ? { __typename: 'Task', id: pinned.get(u.id) } : null),
    },
  };
  const schema = buildSubgraphSchema({ typeDefs, resolvers });

  async function subjectOf(authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) return null;
    const { payload } = await jwtVerify(match[1], key, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token without sub');
    return payload.sub;
  }

  const send = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  return createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && pathname === '/healthz') return send(res, 200, { ok: true });
    if (req.method !== 'POST' || pathname !== '/graphql') return send(res, 404, { error: 'POST /graphql' });
    let body;
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, { errors: [{ message: 'the body is not JSON' }] });
    }
    let subject;
    try {
      subject = await subjectOf(req.headers.authorization);
    } catch (err) {
      return send(res, 200, {
        errors: [{ message: `invalid token: ${err.message}`, extensions: { code: 'UNAUTHENTICATED' } }],
      });
    }
    const result = await graphql({
      schema,
      source: body.query,
      variableValues: body.variables,
      operationName: body.operationName,
      contextValue: { subject },
    });
    send(res, 200, result);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.AUTH_JWT_SECRET;
  if (!secret) throw new Error('set AUTH_JWT_SECRET (the api uses the same)');
  const port = Number(process.env.PORT ?? 4001);
  const server = createUsersSubgraph({ secret });
  server.listen(port, '127.0.0.1', () => console.log(`users subgraph at http://127.0.0.1:${port}/graphql`));
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
}
