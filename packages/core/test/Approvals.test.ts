import { ApprovalInbox, type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import type { ReviewDecision } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { execRequest, patchRequest, permissionsRequest, userInputRequest } from "./helpers.js"

/** The value of an answer, whoever decided it. */
const value = <A>(answer: DecidedBy.Answer<A>): A => DecidedBy.split(answer, "test").value

const provenance = (kind: string, callId: string) => ({
  id: `d/${kind}/${callId}`,
  delegateId: "d",
  turnId: "t",
  callId,
  source: "review" as const
})
const command = (argv: ReadonlyArray<string>): ApprovalRequest.CommandApproval => ({
  ...provenance("command", "c"),
  kind: "command",
  event: { ...execRequest("c"), command: argv }
})
const patch = (...paths: ReadonlyArray<string>): ApprovalRequest.PatchApproval => ({
  ...provenance("patch", "p"),
  kind: "patch",
  event: {
    ...patchRequest("p"),
    changes: Object.fromEntries(paths.map((path) => [path, { type: "add" as const, content: "" }]))
  }
})
const permissions: ApprovalRequest.PermissionsRequest = {
  ...provenance("permissions", "q"),
  kind: "permissions",
  event: permissionsRequest("q")
}
const question: ApprovalRequest.UserInputRequest = {
  ...provenance("user_input", "u"),
  kind: "user_input",
  event: userInputRequest("u")
}

describe("Approvals.layerPolicy", () => {
  const rules: ReadonlyArray<Approvals.PolicyRule> = [
    { commandPrefix: ["git", "status"], action: "approve" },
    { commandPrefix: ["rm"], action: "abort" },
    { kind: "patch", pathGlob: "/repo/docs/**", action: "approve_for_session" },
    { kind: "patch", pathGlob: "**/*.lock", action: "deny" },
    { kind: "permissions", action: "deny" }
  ]
  const policy = Approvals.layerPolicy(rules).pipe(Layer.provideMerge(Approvals.layerTest({ command: "denied" })))

  it.effect("the first matching rule decides; unmatched requests go to the approvals below", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.Approvals
      const recorder = yield* Approvals.TestApprovals
      assert.strictEqual(value(yield* approvals.command(command(["git", "status", "--short"]))), "approved")
      assert.strictEqual(value(yield* approvals.command(command(["rm", "-rf", "/"]))), "abort")
      assert.strictEqual(value(yield* approvals.command(command(["git", "push"]))), "denied")
      assert.strictEqual(
        value(yield* approvals.patch(patch("/repo/docs/a.md", "/repo/docs/deep/b.md"))),
        "approved_for_session"
      )
      assert.strictEqual(value(yield* approvals.patch(patch("/repo/Cargo.lock"))), "denied")
      assert.strictEqual(value(yield* approvals.patch(patch("/repo/docs/a.md", "/repo/src/x.ts"))), "approved") // fallback default
      assert.deepStrictEqual(value(yield* approvals.permissions(permissions)), Option.none())
      assert.deepStrictEqual(value(yield* approvals.userInput(question)), Option.none())
      assert.deepStrictEqual((yield* recorder.asked).map((request) => request.kind), ["command", "patch", "user_input"])
    }).pipe(Effect.provide(policy)))

  it("a shell -c command is matched on its script's words too", () => {
    const rule: Approvals.PolicyRule = { commandPrefix: ["git", "status"], action: "approve" }
    assert.isTrue(Approvals.ruleMatches(rule, command(["bash", "-lc", "git status --short"])))
    assert.isTrue(Approvals.ruleMatches(rule, command(["/bin/sh", "-c", "  git   status"])))
    assert.isFalse(Approvals.ruleMatches(rule, command(["bash", "-lc", "git statusx"])))
    assert.isFalse(Approvals.ruleMatches(rule, command(["bash", "-lc", "echo git status"])))
  })

  it("globs: * stays in a directory, ** spans directories, ? is one character", () => {
    const matches = (glob: string, path: string) =>
      Approvals.ruleMatches({ kind: "patch", pathGlob: glob, action: "approve" }, patch(path))
    assert.isTrue(matches("src/*.ts", "src/a.ts"))
    assert.isFalse(matches("src/*.ts", "src/deep/a.ts"))
    assert.isTrue(matches("src/**/*.ts", "src/deep/er/a.ts"))
    assert.isTrue(matches("**/*.md", "README.md"))
    assert.isTrue(matches("a?.txt", "ab.txt"))
    assert.isFalse(matches("a?.txt", "a/.txt"))
    assert.isFalse(matches("src/(x).ts", "src/x.ts"))
    assert.isTrue(matches("src/(x).ts", "src/(x).ts"))
  })

  it.effect("approve-all and deny-all", () =>
    Effect.gen(function*() {
      const all = yield* Effect.provide(Approvals.Approvals, Approvals.layerApproveAll)
      const none = yield* Effect.provide(Approvals.Approvals, Approvals.layerDenyAll)
      assert.strictEqual(value(yield* all.command(command(["ls"]))), "approved")
      assert.deepStrictEqual(
        value(yield* all.permissions(permissions)),
        Option.some(Approvals.grantRequested(permissions))
      )
      assert.strictEqual(value(yield* none.patch(patch("a"))), "denied")
      assert.deepStrictEqual(value(yield* none.permissions(permissions)), Option.none())
    }))
})

describe("ApprovalInbox", () => {
  it.effect("a UI sees requests arrive and leave; respond settles exactly once", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const approvals = yield* Approvals.Approvals
      const snapshots = yield* inbox.changes.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      const settlements = yield* inbox.settlements.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow() // the readers subscribe before anything happens
      const asking = yield* Effect.fork(approvals.command(command(["make"])))
      const pending = yield* inbox.awaitPending()
      assert.strictEqual(pending.request.id, "d/command/c")
      yield* inbox.respond("d/command/c", ApprovalInbox.decision("approved_for_session"))
      assert.deepStrictEqual(
        yield* Fiber.join(asking),
        DecidedBy.decided<ReviewDecision.ReviewDecision>("approved_for_session", {
          _tag: "InboxClient",
          client: "inbox"
        })
      )
      const lengths = Array.from(yield* Fiber.join(snapshots), (list) => list.length)
      assert.deepStrictEqual(lengths, [0, 1, 0])
      const [settled] = yield* Fiber.join(settlements)
      assert.deepStrictEqual([settled!.outcome, settled!.by, settled!.decidedBy], ["approved_for_session", "inbox", {
        _tag: "InboxClient",
        client: "inbox"
      }])
    }).pipe(Effect.provide(ApprovalInbox.layer)))

  it.effect("unknown ids and answers of the wrong kind are typed errors; the request stays pending", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const approvals = yield* Approvals.Approvals
      yield* Effect.fork(approvals.userInput(question))
      yield* inbox.awaitPending()
      const unknown = yield* Effect.flip(inbox.respond("nope", ApprovalInbox.decision("approved")))
      assert.strictEqual(unknown._tag, "ApprovalNotPending")
      assert.match(unknown.message, /no pending request has id nope/)
      const mismatch = yield* Effect.flip(inbox.respond("d/user_input/u", ApprovalInbox.decision("approved")))
      assert.strictEqual(mismatch._tag, "ApprovalAnswerMismatch")
      assert.strictEqual((yield* inbox.pending).length, 1)
    }).pipe(Effect.provide(ApprovalInbox.layer)))

  it.effect("a per-kind deadline settles the request timed_out", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const approvals = yield* Approvals.Approvals
      const asking = yield* Effect.fork(approvals.patch(patch("a")))
      const pending = yield* inbox.awaitPending()
      assert.isDefined(pending.deadline)
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(
        yield* Fiber.join(asking),
        DecidedBy.decided<ReviewDecision.ReviewDecision>("timed_out", { _tag: "Deadline", afterMs: 30_000 })
      )
      assert.deepStrictEqual(yield* inbox.pending, [])
      const late = yield* Effect.flip(inbox.respond(pending.request.id, ApprovalInbox.decision("approved")))
      assert.strictEqual(late._tag === "ApprovalNotPending" && late.settled, "timed_out")
    }).pipe(Effect.provide(ApprovalInbox.layerWith({ deadlines: { patch: "30 seconds" } }))))

  it.effect("an interrupted wait removes its entry and is announced as aborted", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const approvals = yield* Approvals.Approvals
      const settlements = yield* inbox.settlements.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow()
      const asking = yield* Effect.fork(approvals.permissions(permissions))
      yield* inbox.awaitPending()
      yield* Fiber.interrupt(asking)
      assert.deepStrictEqual(yield* inbox.pending, [])
      const [settled] = yield* Fiber.join(settlements)
      assert.deepStrictEqual([settled!.outcome, settled!.decidedBy._tag], ["aborted", "Cancelled"])
    }).pipe(Effect.provide(ApprovalInbox.layer)))
})

describe("who decided, from every ready layer", () => {
  it.effect("approve-all and deny-all are Fixed, layerTest is Script, a policy rule is PolicyRule with its file", () =>
    Effect.gen(function*() {
      const all = yield* Effect.provide(Approvals.Approvals, Approvals.layerApproveAll)
      const none = yield* Effect.provide(Approvals.Approvals, Approvals.layerDenyAll)
      const scripted = yield* Effect.provide(Approvals.Approvals, Approvals.layerTest({ patch: "denied" }))
      assert.deepStrictEqual(
        yield* all.command(command(["ls"])),
        DecidedBy.decided<ReviewDecision.ReviewDecision>("approved", { _tag: "Fixed", setting: "approve-all" })
      )
      assert.deepStrictEqual(DecidedBy.split(yield* none.permissions(permissions), "x").decidedBy, {
        _tag: "Fixed",
        setting: "deny-all"
      })
      assert.deepStrictEqual(
        yield* scripted.patch(patch("a")),
        DecidedBy.decided<ReviewDecision.ReviewDecision>("denied", { _tag: "Script" })
      )
      const rule: Approvals.PolicyRule = { commandPrefix: ["ls"], action: "approve", source: "team.json" }
      const policy = yield* Effect.provide(
        Approvals.Approvals,
        Approvals.layerPolicy([{ commandPrefix: ["rm"], action: "deny" }, rule]).pipe(
          Layer.provide(Approvals.layerDenyAll)
        )
      )
      assert.deepStrictEqual(
        yield* policy.command(command(["bash", "-lc", "ls -la"])),
        DecidedBy.decided<ReviewDecision.ReviewDecision>("approved", {
          _tag: "PolicyRule",
          index: 1,
          rule: { commandPrefix: ["ls"], action: "approve" },
          file: "team.json"
        })
      )
      // what no rule decides carries the fallback's attribution
      assert.deepStrictEqual(
        DecidedBy.split(yield* policy.command(command(["make"])), "x").decidedBy,
        { _tag: "Fixed", setting: "deny-all" }
      )
    }))

  it.effect("an inbox answer names its client (\"inbox\" by default); a deadline is Deadline", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const approvals = yield* Approvals.Approvals
      const settlements = yield* inbox.settlements.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow()
      const first = yield* Effect.fork(approvals.command(command(["make"])))
      yield* inbox.awaitPending()
      yield* inbox.respond("d/command/c", ApprovalInbox.decision("denied"), { client: "web" })
      assert.deepStrictEqual(DecidedBy.split(yield* Fiber.join(first), "x").decidedBy, {
        _tag: "InboxClient",
        client: "web"
      })
      const second = yield* Effect.fork(approvals.userInput(question))
      yield* inbox.awaitPending()
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(DecidedBy.split(yield* Fiber.join(second), "x").decidedBy, {
        _tag: "Deadline",
        afterMs: 5000
      })
      const all = Array.from(
        yield* Fiber.join(settlements),
        (settled) => [settled.outcome, settled.decidedBy._tag, settled.by]
      )
      assert.deepStrictEqual(all, [["denied", "InboxClient", "inbox"], ["timed_out", "Deadline", "deadline"]])
    }).pipe(Effect.provide(ApprovalInbox.layerWith({ deadlines: { user_input: "5 seconds" } }))))
})
