import * as path from "node:path"
import type { UserConfig } from "vitest/config"

const packages = ["protocol", "core", "agent-process", "codex", "cli", "ledger"]

/**
 * Settings every package's vitest config shares: `@deputy/*` imports resolve to the packages' sources,
 * so tests always run against the code in the tree, never a stale build.
 */
export const shared: UserConfig = {
  resolve: {
    alias: packages.map((name) => ({
      find: `@deputy/${name}`,
      replacement: path.join(__dirname, "packages", name, "src", "index.ts")
    }))
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
}
