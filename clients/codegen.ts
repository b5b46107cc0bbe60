// TypeScript for clients, from the checked-in schema and the operations in
// operations/: `npx graphql-codegen --config codegen.ts` writes src/gql/
// (generated, not committed), then `npx tsc --noEmit` checks src/.
//
// It also writes src/gql/persisted-documents.json: the trusted documents'
// manifest (sha256 of each document's exact text -> the text), checked in
// as ../persisted-documents.json for the api's TRUSTED_DOCUMENTS; run-all.sh
// fails while the two differ. Each generated document carries its hash in
// `__meta__.hash`, for a client that sends only the hash. __typename is
// added to every selection first, as Apollo Client and urql add it to what
// they send: the trusted text then returns what their caches need.
import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      documentTransforms: [addTypenameSelectionDocumentTransform],
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      config: {
        scalars: { DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
      },
    },
  },
};

export default config;
