// The gateway: Hive Gateway's runtime (@graphql-hive/gateway-runtime, the
// library the `hive-gateway` CLI is built on) serving the supergraph that
// compose.mjs wrote, on node:http, with graphql-ws for client subscriptions.
//
//   Queries and mutations go to the subgraphs over HTTP with the client's
//   Authorization header (propagateHeaders).
//   Subscriptions go to the to-do service over its WebSocket (graphql-ws,
//   protocol graphql-transport-ws), with the client's Authorization in the
//   connection_init payload: { "authorization": "Bearer <jwt>" }. A client on
//   the gateway's own WebSocket puts it in its connectionParams; the runtime
//   merges those into the headers it interpolates.
//
//   SUPERGRAPH=supergraph.graphql PORT=4000 node gateway.mjs
// GET /readiness answers 200 once the supergraph is loaded; /graphql serves HTTP and
// WebSocket (graphql-transport-ws).
import { createServer } from 'node:http';

import { createGatewayRuntime, getGraphQLWSOptions } from '@graphql-hive/gateway-runtime';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

export function createGateway({ supergraph, logging = 'warn' }) {
  return createGatewayRuntime({
    supergraph,
    logging,
    // Subgraph errors pass through with their message, path and extensions;
    // the gateway's own unexpected errors read "Unexpected error." unless
    // GATEWAY_UNMASK=1 (for debugging).
    maskedErrors: process.env.GATEWAY_UNMASK === '1' ? false : undefined,
    propagateHeaders: {
      fromClientToSubgraphs({ request }) {
        const authorization = request?.headers.get('authorization');
        return authorization ? { authorization } : {};
      },
    },
    transportEntries: {
      todo: {
        options: {
          subscriptions: {
            kind: 'ws',
            location: '/graphql',
            options: {
              // The api authenticates the socket from connection_init.
              connectionParams: { authorization: '{context.headers.authorization}' },
            },
          },
        },
      },
    },
  });
}

export function serveGateway(gateway, port, host = '127.0.0.1') {
  const server = createServer(gateway);
  const wsServer = new WebSocketServer({ server, path: gateway.graphqlEndpoint });
  const wsCleanup = useServer(
    getGraphQLWSOptions(gateway, (ctx) => ({ req: ctx.extra?.request, socket: ctx.extra?.socket })),
    wsServer,
  );
  return {
    server,
    listening: new Promise((resolve) => server.listen(port, host, resolve)),
    async close() {
      await wsCleanup.dispose();
      await new Promise((resolve) => server.close(resolve));
      await gateway.dispose();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const supergraph = process.env.SUPERGRAPH;
  if (!supergraph) throw new Error('set SUPERGRAPH to the file compose.mjs wrote');
  const port = Number(process.env.PORT ?? 4000);
  const gateway = createGateway({ supergraph, logging: process.env.GATEWAY_LOG ?? 'warn' });
  // The runtime loads the supergraph on the first HTTP request; a WebSocket
  // subscription arriving first would meet no schema ("Expected null to be a
  // GraphQL schema"). Load it now, and fail here if it does not load.
  if (!(await gateway.getSchema())) throw new Error(`no schema from ${supergraph}`);
  const served = serveGateway(gateway, port);
  await served.listening;
  console.log(`gateway at http://127.0.0.1:${port}${gateway.graphqlEndpoint}`);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => served.close().then(() => process.exit(0)));
  }
}
