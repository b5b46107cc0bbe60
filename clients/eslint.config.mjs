// Relay conventions on the checked-in schema, with @graphql-eslint's four
// relay rules (the plugin's `flat/schema-relay` set). Run from the repository
// root, so that ESLint's base path holds schema.graphql:
//   clients/node_modules/.bin/eslint -c clients/eslint.config.mjs --max-warnings 0 schema.graphql
//
// One optional sub-check is off: relay-edge-types' `listTypeCanWrapOnlyEdgeType`
// (on by default) wants every list in the schema to be a list of edges. That is
// not part of the Relay connection spec, and this schema has lists on purpose
// (run with RELAY_STRICT=1 to see them): the `nodes` shortcut beside `edges` on
// CategoryConnection and TaskConnection, Query.nodes(ids:), Task.categories
// (a small, bounded set), and the payload lists
// DeleteTaskPayload.deletedTaskIds, DeleteCompletedTasksPayload.deletedTaskIds,
// SetTasksDonePayload.tasks and SetTasksDonePayload.nextOccurrences.
import graphqlPlugin from '@graphql-eslint/eslint-plugin';

const strict = process.env.RELAY_STRICT === '1';

export default [
  {
    files: ['schema.graphql'],
    languageOptions: {
      parser: graphqlPlugin.parser,
      parserOptions: {
        graphQLConfig: { schema: 'schema.graphql' },
      },
    },
    plugins: { '@graphql-eslint': graphqlPlugin },
    rules: {
      '@graphql-eslint/relay-connection-types': 'error',
      '@graphql-eslint/relay-edge-types': [
        'error',
        { withEdgeSuffix: true, shouldImplementNode: true, listTypeCanWrapOnlyEdgeType: strict },
      ],
      '@graphql-eslint/relay-page-info': 'error',
      '@graphql-eslint/relay-arguments': ['error', { includeBoth: true }],
    },
  },
];
