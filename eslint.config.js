import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'dist-bench/**', 'src/generated/**', '.tap/**', 'coverage/**'] }),
  {
    rules: {
      // Token claims, Redis fields and JSON bodies are snake_case by contract (docs/session-contract.md).
      camelcase: ['error', { properties: 'never', ignoreDestructuring: true }],
      // `void promise` marks a deliberately unawaited background task.
      'no-void': ['error', { allowAsStatement: true }],
      // Benchmarks and probes loop on a flag that another task clears; the rule cannot see that.
      'no-unmodified-loop-condition': 'off',
    },
  },
]
