/**
 * Network access approvals with the real Codex (0.169 and 0.171) and the scripted model, offline: a sandboxed
 * `curl` reaches an HTTP server this test starts on 127.0.0.1 through Codex's managed network proxy.
 *
 * What it takes (read in codex-rs and measured on both versions):
 * - the proxy: `features.network_proxy` on (`-c features.network_proxy.enabled=true`) and a sandbox with
 *   network access (`-c sandbox_workspace_write.network_access=true`); Codex then starts an HTTP and a SOCKS
 *   proxy on loopback and sets `HTTP(S)_PROXY`/`ALL_PROXY` for the commands it runs (`core/src/config`:
 *   `network_proxy_toml_config`, `apply_network_proxy_feature_config`);
 * - loopback as a destination: `features.network_proxy.allow_local_binding=true` (else the proxy refuses it
 *   outright, `not_allowed_local`, without asking), and `curl --noproxy ""` (with local binding allowed, Codex
 *   puts `localhost,127.0.0.1,::1,…` in `NO_PROXY`, and a direct connection from the sandbox's own network
 *   namespace is refused);
 * - asking at all: an allowlist miss becomes a question only when the proxy has a policy decider, and Codex
 *   gives it one only when a *managed requirements* layer has a network table
 *   (`core/src/session/session.rs`: `managed_network_requirements_configured =
 *   config_layer_stack.requirements_toml().network.is_some()`, passed to `NetworkProxySpec::start_proxy` as
 *   `enable_network_approval_flow`; without it the miss is a plain deny, `Domain not in allowlist`, and no
 *   request reaches the client). On Linux that layer is `/etc/codex/requirements.toml` (or cloud requirements
 *   for a ChatGPT login); no `-c` override or `CODEX_HOME` file stands in for it. So Codex runs in a private
 *   mount namespace (`unshare --mount`, `--map-root-user` when not root) with an overlay on `/etc` that holds
 *   `codex/requirements.toml` = `[experimental_network] enabled = true`: the machine's `/etc` is not touched.
 *   Where the namespace cannot be made (e.g. unprivileged user namespaces refused), the suite is skipped and
 *   says why.
 *
 * Codex 0.169 and 0.171 ask the same way: `item/commandExecution/requestApproval` with `itemId`
 * `network#local#http#<host>#<port>#<uuid>`, no `command`, `networkApprovalContext {host, protocol}`,
 * `proposedNetworkPolicyAmendments` (allow and deny for that host) and `availableDecisions`
 * (`accept`, `acceptForSession`, the allow amendment, `cancel`). The allow amendment is persisted by Codex
 * as `network_rule(host=…, protocol=…, decision="allow")` in `$CODEX_HOME/rules/default.rules`.
 */
import { CodexAgent, CodexHome, ScriptedModel } from "@deputy/codex"
import { AgentSpawner, ApprovalRequest, Approvals, Delegate, type PolicyRule } from "@deputy/core"
import type { Event, ReviewDecision } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { awaitNoLeftovers, codexVersions, provideNode } from "./utils.js"

const requirementsToml = "[experimental_network]\nenabled = true\n"

/** The `-c` overrides that start Codex's managed proxy and let it reach loopback (after asking). */
const proxyArgs = [
  "-c",
  "features.network_proxy.enabled=true",
  "-c",
  "features.network_proxy.allow_local_binding=true",
  "-c",
  "sandbox_workspace_write.network_access=true",
  "-c",
  "suppress_unstable_features_warning=true"
]

/** Removes a directory tree, overlayfs's work directory (mode 000) included. */
const removeTree = (dir: string): void => {
  const open = (entry: string) => {
    try {
      const stat = fs.lstatSync(entry)
      if (!stat.isDirectory()) return
      fs.chmodSync(entry, 0o700)
      for (const name of fs.readdirSync(entry)) open(path.join(entry, name))
    } catch {
      // gone meanwhile
    }
  }
  open(dir)
  fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * Writes `<dir>/codex-managed`, which runs its arguments in a private mount namespace where `/etc` is an
 * overlay holding `codex/requirements.toml`.
 */
const writeWrapper = (dir: string): string => {
  fs.mkdirSync(path.join(dir, "upper", "codex"), { recursive: true })
  fs.mkdirSync(path.join(dir, "work"))
  fs.writeFileSync(path.join(dir, "upper", "codex", "requirements.toml"), requirementsToml)
  const unshare = process.getuid?.() === 0
    ? "unshare --mount --propagation private"
    : "unshare --map-root-user --mount --propagation private"
  const overlay = `lowerdir=/etc,upperdir=${dir}/upper,workdir=${dir}/work`
  const wrapper = path.join(dir, "codex-managed")
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\nexec ${unshare} -- sh -c 'mount -t overlay overlay -o ${overlay} /etc && exec "$@"' codex-managed "$@"\n`,
    { mode: 0o755 }
  )
  return wrapper
}

/** Whether the private `/etc` overlay can be made here (and why not). */
const probe = ((): { readonly ok: true } | { readonly ok: false; readonly reason: string } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-codex-netprobe-"))
  try {
    const result = childProcess.spawnSync(writeWrapper(dir), ["cat", "/etc/codex/requirements.toml"], {
      encoding: "utf8",
      timeout: 10_000
    })
    return result.status === 0 && result.stdout === requirementsToml
      ? { ok: true }
      : { ok: false, reason: (result.stderr || result.error?.message || `exit ${result.status}`).trim() }
  } finally {
    removeTree(dir)
  }
})()

/** A wrapper for `binary` in a scratch directory removed with the scope. */
const managedBinary = (binary: string) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-codex-netwrap-"))),
      (dir) => Effect.sync(() => removeTree(dir))
    )
    const wrapper = writeWrapper(dir)
    const script = path.join(dir, "codex")
    fs.writeFileSync(script, `#!/bin/sh\nexec ${wrapper} ${binary} "$@"\n`, { mode: 0o755 })
    return script
  })

/** An HTTP server on 127.0.0.1 that records the paths it is asked for. */
const targetServer = Effect.acquireRelease(
  Effect.async<{ readonly server: http.Server; readonly port: number; readonly hits: Array<string> }>((resume) => {
    const hits: Array<string> = []
    const server = http.createServer((request, response) => {
      hits.push(request.url ?? "")
      response.end("target-ok\n")
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed({ server, port: (server.address() as { port: number }).port, hits }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
)

const curl = (url: string) => `curl -sS -m 5 --noproxy '' ${url}`

/**
 * Runs one delegate turn of `commands` (one exec each, then a message) over the wrapped Codex, in the default
 * `untrusted` policy: commands are approved, network requests answered by `network`.
 */
const run = (
  binary: string,
  commands: (port: number) => ReadonlyArray<string>,
  network: (request: ApprovalRequest.CommandApproval) => ReviewDecision.ReviewDecision,
  managed = true,
  rulesDirectory = true
) =>
  Effect.gen(function*() {
    const target = yield* targetServer
    const model = yield* ScriptedModel.make(ScriptedModel.scenario([
      ...commands(target.port).map((command, index) => ScriptedModel.exec(command, { callId: `net_${index + 1}` })),
      ScriptedModel.message("done")
    ]))
    const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
    // as a used Codex home has it: Codex's rules, linked into the overlay Deputy runs Codex on
    if (rulesDirectory) fs.mkdirSync(path.join(home.path, "rules"))
    const spawner = yield* CodexAgent.make({
      binary: managed ? yield* managedBinary(binary) : binary,
      codexHome: home.path,
      env: home.env,
      args: proxyArgs
    })
    const asked: Array<ApprovalRequest.ApprovalRequest> = []
    const approvals = Approvals.layerTest({
      command: (request) =>
        Effect.sync(() => {
          asked.push(request)
          return ApprovalRequest.networkAccess(request) === undefined ? "approved" : network(request)
        })
    })
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-codex-netcwd-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(cwd, { recursive: true, force: true })))
    const { ended, events } = yield* Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source: "review", input: "fetch it", cwd, drainTimeout: "3 seconds" })
      const events: Array<Event.Event> = Array.from(yield* Stream.runCollect(handle.events))
      return { events, ended: yield* handle.ended }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(Layer.succeed(AgentSpawner.AgentSpawner, spawner), approvals))
    )
    const networkAsked = asked.flatMap((request) => {
      const access = ApprovalRequest.networkAccess(request)
      return access === undefined || request.kind !== "command" ? [] : [{ request, access }]
    })
    const rulesFile = path.join(home.path, "rules", "default.rules")
    const rules = fs.existsSync(rulesFile) ? fs.readFileSync(rulesFile, "utf8") : ""
    return { ended, events, hits: target.hits, networkAsked, rules, modelRequests: yield* model.requests }
  })

/** The network amendment that allows, as Codex offers it (never one Deputy made up). */
const offeredAllow = (request: ApprovalRequest.CommandApproval): ReviewDecision.ReviewDecision => {
  const offered = (request.event.available_decisions ?? []).find((decision) =>
    typeof decision === "object" && "network_policy_amendment" in decision &&
    decision.network_policy_amendment.network_policy_amendment.action === "allow"
  )
  assert.isDefined(offered, `Codex offered no allow amendment: ${JSON.stringify(request.event.available_decisions)}`)
  return offered!
}

/** The output the model was given for a call, as text. */
const outputOf = (requests: ReadonlyArray<ScriptedModel.RecordedRequest>, callId: string): string =>
  requests.flatMap((request) =>
    ((request.body as { input?: Array<Record<string, unknown>> }).input ?? []).filter((item) =>
      item.call_id === callId && String(item.type).endsWith("_output")
    )
  ).map((item) => JSON.stringify(item.output)).at(-1) ?? ""

describe.runIf(probe.ok).each(codexVersions)("network approvals, real Codex $version", ({ binary }) => {
  it.scopedLive(
    "the request names the host and protocol; approved, the connection goes through",
    () =>
      provideNode(Effect.gen(function*() {
        const result = yield* run(binary, (port) => [curl(`http://127.0.0.1:${port}/approved`)], () => "approved")
        assert.strictEqual(result.ended.reason, "completed")
        assert.strictEqual(result.networkAsked.length, 1)
        const [{ access, request }] = result.networkAsked
        assert.deepStrictEqual(access, { host: "127.0.0.1", protocol: "http" })
        // Codex sends no command with it (the running one asks through the proxy): Deputy makes none up
        assert.deepStrictEqual(request.event.command, [])
        assert.strictEqual(ApprovalRequest.describe(request), "reach 127.0.0.1 (http)")
        assert.match(request.event.reason ?? "", /Network access to 127\.0\.0\.1 requires approval/)
        assert.match(request.event.call_id, /^network#local#http#127\.0\.0\.1#\d+#/)
        // what Codex proposes to remember: that host only, allow or deny
        assert.deepStrictEqual(request.event.proposed_network_policy_amendments, [
          { host: "127.0.0.1", action: "allow" },
          { host: "127.0.0.1", action: "deny" }
        ])
        assert.deepStrictEqual(result.hits, ["/approved"])
        assert.include(outputOf(result.modelRequests, "net_1"), "target-ok")
        assert.strictEqual(result.rules, "")
      })),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "denied: the server never sees the connection and the model is told",
    () =>
      provideNode(Effect.gen(function*() {
        const result = yield* run(binary, (port) => [curl(`http://127.0.0.1:${port}/denied`)], () => "denied")
        assert.strictEqual(result.ended.reason, "completed")
        assert.strictEqual(result.networkAsked.length, 1)
        assert.deepStrictEqual(result.hits, [])
        assert.notInclude(outputOf(result.modelRequests, "net_1"), "target-ok")
        assert.include(outputOf(result.modelRequests, "net_1"), "rejected by user")
      })),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "Codex's amendment answered as offered: the same host is not asked again, another host is; Codex writes that host only into its rules",
    () =>
      provideNode(Effect.gen(function*() {
        const result = yield* run(
          binary,
          (port) => [
            curl(`http://127.0.0.1:${port}/first`),
            curl(`http://127.0.0.1:${port}/again`),
            curl(`http://localhost:${port}/other`)
          ],
          (request) => ApprovalRequest.networkAccess(request)!.host === "127.0.0.1" ? offeredAllow(request) : "denied"
        )
        assert.strictEqual(result.ended.reason, "completed")
        assert.deepStrictEqual(result.networkAsked.map(({ access }) => access), [
          { host: "127.0.0.1", protocol: "http" },
          { host: "localhost", protocol: "http" }
        ])
        assert.deepStrictEqual(result.hits, ["/first", "/again"])
        // Codex keeps the rule in its home's rules (through the overlay's link): exactly the proposal, nothing broader
        const rules = result.rules.split("\n").filter((line) => line.trim() !== "")
        assert.deepStrictEqual(rules.map((line) => line.replace(/, justification="[^"]*"/, "")), [
          `network_rule(host="127.0.0.1", protocol="http", decision="allow")`
        ])
      })),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "Codex's amendment in a home without rules yet: the rule is kept there after the run",
    () =>
      provideNode(Effect.gen(function*() {
        const result = yield* run(
          binary,
          (port) => [curl(`http://127.0.0.1:${port}/first`)],
          offeredAllow,
          true,
          false
        )
        assert.deepStrictEqual(result.hits, ["/first"])
        assert.match(result.rules, /^network_rule\(host="127\.0\.0\.1", protocol="http", decision="allow"/)
      })),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "approve and remember in Deputy (as the terminal does): the offered rule as a session rule, Codex gets a plain approve; the same host is decided by the rule, another host is asked, Codex's rules untouched",
    () =>
      provideNode(Effect.gen(function*() {
        const remembered: Array<PolicyRule> = []
        let parentAsked = 0
        const result = yield* run(
          binary,
          (port) => [
            curl(`http://127.0.0.1:${port}/first`),
            curl(`http://127.0.0.1:${port}/again`),
            curl(`http://localhost:${port}/other`)
          ],
          (request) => {
            const rule = remembered.find((rule) => Approvals.ruleMatches(rule, request))
            if (rule !== undefined) return rule.action === "approve" ? "approved" : "denied"
            parentAsked++
            if (ApprovalRequest.networkAccess(request)!.host !== "127.0.0.1") return "denied"
            const offered = offeredAllow(request)
            if (typeof offered !== "object" || !("network_policy_amendment" in offered)) return "denied"
            const { host } = offered.network_policy_amendment.network_policy_amendment
            remembered.push({ kind: "command", host, action: "approve", source: "remembered" })
            return "approved"
          }
        )
        assert.strictEqual(result.ended.reason, "completed")
        // Codex asks each time (a plain approve is for that connection); the parent only twice
        assert.deepStrictEqual(result.networkAsked.map(({ access }) => access.host), [
          "127.0.0.1",
          "127.0.0.1",
          "localhost"
        ])
        assert.strictEqual(parentAsked, 2)
        assert.deepStrictEqual(remembered.map((rule) => rule.host), ["127.0.0.1"])
        assert.deepStrictEqual(result.hits, ["/first", "/again"])
        assert.strictEqual(result.rules, "")
      })),
    { timeout: 90_000 }
  )
  it.scopedLive(
    "approved for the session: the host is not asked again, and nothing is written to Codex's rules",
    () =>
      provideNode(Effect.gen(function*() {
        const result = yield* run(
          binary,
          (port) => [curl(`http://127.0.0.1:${port}/first`), curl(`http://127.0.0.1:${port}/again`)],
          () => "approved_for_session"
        )
        assert.strictEqual(result.ended.reason, "completed")
        assert.strictEqual(result.networkAsked.length, 1)
        assert.deepStrictEqual(result.hits, ["/first", "/again"])
        assert.strictEqual(result.rules, "")
      })),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an amendment for another host than the one asked is denied by Deputy before Codex sees it: no connection, no rule",
    () =>
      provideNode(Effect.gen(function*() {
        // what a hostile or buggy parent could send: a rule Codex did not propose
        const result = yield* run(
          binary,
          (port) => [curl(`http://127.0.0.1:${port}/asked`)],
          () => ({ network_policy_amendment: { network_policy_amendment: { host: "localhost", action: "allow" } } })
        )
        assert.strictEqual(result.ended.reason, "completed")
        assert.strictEqual(result.networkAsked.length, 1)
        assert.deepStrictEqual(result.hits, [])
        // Codex itself refused it ("blocked by policy") before Deputy checked what it offers
        assert.include(outputOf(result.modelRequests, "net_1"), "rejected by user")
        assert.strictEqual(result.rules, "")
      })),
    { timeout: 60_000 }
  )

  it.live("leaves no Codex process behind", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }))
})

describe.skipIf(fs.existsSync("/etc/codex/requirements.toml")).each(codexVersions)(
  "network access without a managed requirements layer, real Codex $version",
  ({ binary }) => {
    it.scopedLive(
      "the proxy denies the host outright: nothing is asked, the server sees nothing",
      () =>
        provideNode(Effect.gen(function*() {
          const result = yield* run(
            binary,
            (port) => [curl(`http://127.0.0.1:${port}/unasked`)],
            () => "approved",
            false
          )
          assert.strictEqual(result.ended.reason, "completed")
          assert.deepStrictEqual(result.networkAsked, [])
          assert.deepStrictEqual(result.hits, [])
          assert.include(outputOf(result.modelRequests, "net_1"), "domain is not on the allowlist")
        })),
      { timeout: 60_000 }
    )
  }
)

describe.skipIf(probe.ok)("network approvals, real Codex", () => {
  it.skip(
    `Codex asks network approvals only under a managed requirements file, and no private /etc overlay can be made here (${
      probe.ok ? "" : probe.reason
    })`,
    () => {}
  )
})
