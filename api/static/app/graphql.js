// A small GraphQL client: queries and mutations with fetch (GraphQL over
// HTTP), subscriptions over WebSocket with the graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'GraphQLError';
    this.errors = errors;
  }
}

/** `apiUrl` is the api's root, e.g. `http://127.0.0.1:8080`. */
export function createClient(apiUrl) {
  const httpUrl = `${apiUrl.replace(/\/+$/, '')}/graphql`;
  const wsUrl = httpUrl.replace(/^http/, 'ws');

  async function request(query, variables = {}) {
    const response = await fetch(httpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
      },
      body: JSON.stringify({ query, variables }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new Error(`HTTP ${response.status} without a GraphQL response`);
    }
    if (body.errors?.length) throw new GraphQLError(body.errors);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return body.data;
  }

  /**
   * Subscribes until the returned function is called, reconnecting with
   * back-off. `onStatus('live')` follows every (re)subscription: data may
   * have been missed before it, so that is the moment to reload.
   */
  function subscribe(query, variables, { next, error, onStatus }) {
    const id = '1';
    let socket;
    let stopped = false;
    let attempt = 0;
    let timer;
    const send = (message) => socket.send(JSON.stringify(message));

    function connect() {
      socket = new WebSocket(wsUrl, 'graphql-transport-ws');
      socket.onopen = () => send({ type: 'connection_init', payload: {} });
      socket.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          socket.close(4400, 'Invalid message received');
          return;
        }
        switch (message.type) {
          case 'connection_ack':
            attempt = 0;
            send({ id, type: 'subscribe', payload: { query, variables } });
            onStatus?.('live');
            break;
          case 'ping':
            send({ type: 'pong', payload: message.payload });
            break;
          case 'next':
            if (message.id === id) next(message.payload);
            break;
          case 'error':
            if (message.id === id) error?.(new GraphQLError(message.payload));
            break;
          case 'complete':
            if (message.id === id) socket.close(1000, 'Completed');
            break;
        }
      };
      socket.onclose = () => {
        if (stopped) return;
        onStatus?.('offline');
        timer = setTimeout(connect, Math.min(30_000, 500 * 2 ** attempt++));
      };
    }

    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (socket.readyState === WebSocket.OPEN) send({ id, type: 'complete' });
      socket.close(1000, 'Normal Closure');
    };
  }

  return { httpUrl, wsUrl, request, subscribe };
}
