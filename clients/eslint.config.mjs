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
//
// Two more options are off for one connection, the event feed
// Query.taskEvents (TaskEventConnection): it pages forward only (a change
// feed read from a cursor on; there is nothing to page back to that `after`
// does not give), and its edges carry events, which are not Nodes (an event
// is named by its cursor). The Relay connection spec asks for neither, and
// the rules cannot be switched off for one type, so `includeBoth` and
// `shouldImplementNode` are off here and api/tests/it/schema.rs
// (`connections_page_both_ways_over_nodes`) checks both for every other
// connection instead.
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
        { withEdgeSuffix: true, shouldImplementNode: false, listTypeCanWrapOnlyEdgeType: strict },
      ],
      '@graphql-eslint/relay-page-info': 'error',
      '@graphql-eslint/relay-arguments': ['error', { includeBoth: false }],
    },
  },
];
