/**
 * The single list of test projects: one per package. The root `vitest.config.ts` loads it as
 * `test.projects` (vitest 3.2 deprecates reading this file on its own).
 */
export default ["packages/*/vitest.config.ts"]
