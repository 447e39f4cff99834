import { type ApprovalRequest, Approvals, Delegate, ShellCommand, TestAgent } from "@deputy/core"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { execRequest } from "./helpers.js"

const command = (argv: ReadonlyArray<string>): ApprovalRequest.CommandApproval => ({
  id: "d/command/c",
  delegateId: "d",
  turnId: "t",
  callId: "c",
  source: "review",
  kind: "command",
  event: { ...execRequest("c"), command: argv }
})

/** What the policy decides for an argv: the action of the first rule that applies, or "fallback". */
const decide = (rules: ReadonlyArray<Approvals.PolicyRule>, argv: ReadonlyArray<string>): string =>
  Option.match(Approvals.firstMatch(rules, command(argv)), { onNone: () => "fallback", onSome: (rule) => rule.action })

const bash = (script: string) => ["bash", "-lc", script]

beforeAll(async () => {
  await Effect.runPromise(ShellCommand.parser)
})

describe("policy on commands: an approve rule approves only what it looked at", () => {
  const touch: ReadonlyArray<Approvals.PolicyRule> = [{ commandPrefix: ["touch"], action: "approve" }]

  it("a touch rule does not approve a script that also runs rm", () => {
    for (
      const script of [
        "touch a && rm -f b",
        "touch a; rm -f b",
        "touch a || rm -f b",
        "touch a | rm -f b",
        "touch a\nrm -f b",
        "touch a & rm -f b"
      ]
    ) {
      assert.strictEqual(decide(touch, bash(script)), "fallback", script)
      assert.strictEqual(decide(touch, ["sh", "-c", script]), "fallback", script)
    }
  })

  it("what cannot be proven plain is never approved by a prefix rule", () => {
    for (
      const script of [
        "touch $(rm -f b)",
        "touch `rm -f b`",
        "touch \"$(rm -f b)\"",
        "touch a > ~/.bashrc",
        "touch a >> x",
        "(touch a)",
        "{ touch a; }",
        "touch <(rm b)",
        "touch a <<EOF\nx\nEOF",
        "touch <<< x",
        "eval touch a",
        "$T a",
        "touch $HOME",
        "LD_PRELOAD=/tmp/evil.so touch a",
        "PATH=/tmp/evil touch a",
        "if true; then touch a; fi",
        "touch 'open",
        "/tmp/evil/touch a",
        "./touch a",
        "/bin/t*ch a",
        "sudo touch a",
        "env FOO=1 touch a",
        "xargs touch",
        "touch a < /dev/tcp/example.com/80",
        "touch a 2>/tmp/log"
      ]
    ) {
      assert.strictEqual(decide(touch, bash(script)), "fallback", script)
    }
  })

  it("plain sequences whose every command is approved are approved, through harmless wrappers", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [
      { commandPrefix: ["git", "status"], action: "approve" },
      { commandPrefix: ["ls"], action: "approve" }
    ]
    for (
      const script of [
        "git status && ls -la",
        "ls; git status --short",
        "ls | ls",
        "\"git\" status",
        "/usr/bin/git status 2>/dev/null",
        "ls 2>&1 >/dev/null < input.txt",
        "command ls",
        "nohup ls",
        "timeout 5 ls",
        "nice -n 5 ls",
        "time ls",
        "exec ls",
        "ls # a comment"
      ]
    ) {
      assert.strictEqual(decide(rules, bash(script)), "approve", script)
    }
    assert.strictEqual(decide(rules, ["ls", "-la"]), "approve")
    assert.strictEqual(decide(rules, ["/bin/bash", "-e", "-c", "ls"]), "approve")
    assert.strictEqual(decide(rules, ["git", "status", "&&", "rm"]), "approve") // one argv: && is an argument
    assert.strictEqual(decide(rules, bash("git status && git push")), "fallback")
  })

  it("a program that is not the standard one is matched only by a rule that names its path", () => {
    assert.strictEqual(
      decide([{ commandPrefix: ["ls"], action: "approve" }], ["/tmp/evil/bash", "-c", "ls -la"]),
      "fallback"
    )
    assert.strictEqual(
      decide([{ commandPrefix: ["bash"], action: "approve" }], ["/tmp/evil/bash", "-c", "ls"]),
      "fallback"
    )
    // a rule naming the path covers that program, but what it runs behind an unknown program is never approvable
    assert.strictEqual(
      decide([{ commandPrefix: ["/tmp/evil/tool"], action: "approve" }], ["/tmp/evil/tool", "x"]),
      "approve"
    )
    assert.strictEqual(
      decide([{ commandPrefix: ["/tmp/evil/bash"], action: "approve" }], ["/tmp/evil/bash", "-c", "ls"]),
      "fallback"
    )
    assert.strictEqual(decide([{ commandPrefix: ["rm"], action: "deny" }], ["/tmp/evil/bash", "-c", "rm x"]), "deny")
  })

  it("rules stay ordered, and a prefix never changes how the rest is decided", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [
      { commandPrefix: ["git", "status"], action: "approve" },
      { commandPrefix: ["npm"], action: "defer" },
      { commandPrefix: ["npm", "test"], action: "approve" }
    ]
    assert.strictEqual(decide(rules, bash("npm test")), "defer")
    assert.strictEqual(decide(rules, bash("git status && npm test")), "defer")
    assert.strictEqual(
      decide([{ commandPrefix: ["env"], action: "approve" }, { commandPrefix: ["rm"], action: "deny" }], [
        "env",
        "rm",
        "x"
      ]),
      "approve"
    )
  })
})

describe("policy on commands: a deny rule finds its program wherever it hides", () => {
  const rm: ReadonlyArray<Approvals.PolicyRule> = [
    { commandPrefix: ["touch"], action: "approve" },
    { commandPrefix: ["rm"], action: "deny" }
  ]
  const hostile: ReadonlyArray<ReadonlyArray<string>> = [
    bash("\"rm\" -rf x"),
    bash("'rm' -rf x"),
    bash("\\rm -rf x"),
    bash("r\"m\" -rf x"),
    bash("/bin/rm -rf x"),
    ["/bin/rm", "-rf", "x"],
    ["/usr/bin/../bin/rm", "x"],
    bash("env rm x"),
    ["env", "-i", "FOO=1", "rm", "x"],
    bash("env -S 'rm x'"),
    bash("command rm x"),
    bash("command -p rm x"),
    bash("exec rm x"),
    bash("nohup rm x"),
    bash("timeout -s KILL 5 rm x"),
    bash("nice -n 10 rm x"),
    bash("sudo -u root rm x"),
    bash("find . | xargs rm"),
    bash("find . -print0 | xargs -0 -n 1 rm -f"),
    bash("FOO=1 rm x"),
    ["sh", "-c", "rm x"],
    ["bash", "-e", "-c", "rm x"],
    ["bash", "-xc", "rm x"],
    ["bash", "--norc", "-c", "rm x"],
    ["bash", "-o", "pipefail", "-c", "rm x"],
    ["zsh", "-c", "touch a\nrm x"],
    ["dash", "-c", "touch a; rm x"],
    bash("bash -c 'sh -c \"rm x\"'"),
    bash("touch $(rm x)"),
    bash("echo `rm x`"),
    bash("(rm x)"),
    bash("{ rm x; }"),
    bash("if true; then rm x; fi"),
    bash("f() { rm x; }; f"),
    bash("eval 'rm x'"),
    bash("find . -exec rm {} ;"),
    bash("r? x"),
    bash("/bin/r* x"),
    bash("touch a &\nrm x"),
    bash("time rm x"),
    bash("! rm x"),
    bash("touch a && rm x 2>/dev/null"),
    // tree-sitter-bash 0.25 reads a newline before `\\` as part of the next word: one command `touch a rm x`
    bash("touch a\n\\rm x"),
    bash("touch a\n\\\nrm x"),
    bash("ls\n \\rm x"),
    bash("echo é😀\n\\rm x"),
    ["zsh", "-c", "touch a\n\\rm x"]
  ]

  it("rm in every disguise is denied", () => {
    for (const argv of hostile) assert.strictEqual(decide(rm, argv), "deny", JSON.stringify(argv))
  })

  it("a deny prefix with arguments also matches computed and globbed arguments", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [{ commandPrefix: ["git", "push"], action: "deny" }]
    assert.strictEqual(decide(rules, bash("git pu* origin")), "deny")
    assert.strictEqual(decide(rules, bash("git $SUB origin")), "deny")
    assert.strictEqual(decide(rules, bash("git pull")), "fallback")
  })

  const program = FastCheck.constantFrom(
    "rm",
    "\"rm\"",
    "'rm'",
    "\\rm",
    "/bin/rm",
    "/usr/bin/rm",
    "r\"\"m",
    "/tmp/evil/rm"
  )
  const wrapper = FastCheck.constantFrom(
    "",
    "env ",
    "env -i ",
    "command ",
    "exec ",
    "nohup ",
    "timeout 3 ",
    "nice ",
    "sudo ",
    "xargs ",
    "FOO=1 ",
    "env A=b "
  )
  const harmless = FastCheck.constantFrom("touch a", "ls", "git status", "true", "echo hi")
  const operator = FastCheck.constantFrom(" && ", " || ", "; ", " | ", "\n", " & ")
  const around = FastCheck.constantFrom(
    (s: string) => s,
    (s: string) => `(${s})`,
    (s: string) => `echo $(${s})`,
    (s: string) => `{ ${s}; }`,
    (s: string) => `bash -c ${JSON.stringify(s)}`,
    (s: string) => `sh -ec '${s.replace(/'/g, "'\\''")}'`
  )

  it.effect.prop(
    "generated scripts with a denied program are never approved, and denied",
    [
      FastCheck.array(harmless, { maxLength: 3 }),
      program,
      wrapper,
      FastCheck.array(wrapper, { maxLength: 2 }),
      operator,
      around,
      FastCheck.nat(3)
    ],
    ([before, name, wrap, more, op, wrapIn, position]) =>
      Effect.sync(() => {
        const denied = wrapIn(`${more.join("")}${wrap}${name} -rf target`)
        const parts = [...before]
        parts.splice(Math.min(position, parts.length), 0, denied)
        const script = parts.join(op)
        const rules: ReadonlyArray<Approvals.PolicyRule> = [
          { commandPrefix: ["touch"], action: "approve" },
          { commandPrefix: ["ls"], action: "approve" },
          { commandPrefix: ["git", "status"], action: "approve" },
          { commandPrefix: ["true"], action: "approve" },
          { commandPrefix: ["echo"], action: "approve" },
          { commandPrefix: ["rm"], action: "deny" }
        ]
        const ordered = decide(rules, bash(script))
        assert.strictEqual(ordered, "deny", script)
        // and with no deny rule, it is never approved
        assert.strictEqual(decide(rules.slice(0, 5), bash(script)), "fallback", script)
      }),
    { timeout: 120_000, fastCheck: { numRuns: 150 } }
  )
})

describe("policy on commands: what the bash oracle found (ShellOracle.test.ts)", () => {
  // deny rules first: rules are ordered, and an approve rule for `coproc` would approve `coproc rm x`
  const rules: ReadonlyArray<Approvals.PolicyRule> = [
    { commandPrefix: ["git", "push"], action: "deny" },
    { commandPrefix: ["timeout"], action: "deny" },
    { commandPrefix: ["rm"], action: "deny" },
    { commandPrefix: ["touch"], action: "approve" },
    { commandPrefix: ["ls"], action: "approve" },
    { commandPrefix: ["printf"], action: "approve" },
    { commandPrefix: ["sh"], action: "approve" },
    { commandPrefix: ["trap"], action: "approve" },
    { commandPrefix: ["coproc"], action: "approve" }
  ]
  const approveOnly = rules.filter((rule) => rule.action === "approve")

  it("a redirection does not swallow the rest of the line, or the next line", () => {
    // tree-sitter-bash files `rm x` under the redirection to /dev/null: the touch rule approved it
    for (const script of ["touch >/dev/null\n\\rm x", "touch a >/dev/null\n\\rm x", "time A=1 2>&1 rm x"]) {
      assert.strictEqual(decide(rules, bash(script)), "deny", script)
      assert.strictEqual(decide(approveOnly, bash(script)), "fallback", script)
    }
    assert.strictEqual(decide(rules, bash("git >/dev/null push origin")), "deny")
    assert.strictEqual(decide(rules, bash("git 2>&1 push")), "deny")
    assert.strictEqual(decide(rules, bash("ls | A= 2>/dev/null rm x")), "deny")
    assert.strictEqual(decide(rules, bash("ls >/dev/null -la")), "approve", "a plain script stays plain")
  })

  it("words tree-sitter-bash splits otherwise than bash are misread", () => {
    assert.strictEqual(decide(rules, bash(">o t\\\nouch a; \\r\\\nm x")), "deny")
    assert.strictEqual(decide(approveOnly, bash("ls a\rrm x")), "fallback", "a carriage return is a word character")
    assert.strictEqual(decide(approveOnly, bash("ls >/dev/null\r")), "fallback", "this writes /dev/null\\r")
    assert.strictEqual(decide(rules, bash("cat << EOF; rm x\nbody\nEOF")), "deny", "what does not parse")
    assert.strictEqual(decide(rules, bash("cat <(cat <<EOF; rm x\nEOF\n)")), "deny", "an error in a substitution")
    assert.strictEqual(decide(rules, bash("time function h { rm x; } >/dev/null; h")), "deny", "time function")
    assert.strictEqual(decide(rules, bash("[[ -v 'a[$(c=r; ${c}m y)]' ]]")), "deny", "a computed program in text")
  })

  it("a program spelled $'…', or computed, is found by a deny rule", () => {
    for (
      const script of [
        "$'rm' x",
        "$'\\x72m' x",
        "$'\\162m' x",
        "X=rm; $X y",
        "set -- rm y; \"$@\"",
        "a=(rm y); \"${a[@]}\""
      ]
    ) {
      assert.strictEqual(decide(rules, bash(script)), "deny", script)
    }
    assert.strictEqual(decide(rules, bash("set -- push origin; git \"$@\"")), "deny", "a computed word may be several")
    assert.strictEqual(decide(rules, bash("git $E push origin")), "deny", "or none")
    assert.strictEqual(decide(approveOnly, bash("$'ls' -la")), "approve", "$'ls' is ls")
    assert.strictEqual(decide(approveOnly, ["sh", "-c", "ls $'a\\tb'"]), "fallback", "dash reads $'a\\tb' as $a\\tb")
    assert.strictEqual(decide(approveOnly, ["bash", "-c", "ls $'a\\tb'"]), "approve")
    assert.strictEqual(decide(rules, bash("{rm,-f} y")), "deny", "brace expansion of the program")
  })

  it("code held as text is read by deny rules and never approved", () => {
    for (
      const script of [
        "trap 'rm x' EXIT",
        "trap $'r\\x6d x' EXIT",
        "shopt -s expand_aliases\nalias ll='rm x'\nll",
        "PS4='$(rm x)'; set -x; :",
        "v='a[$(rm x)]'; (( v ))",
        "mapfile -C 'rm x' -c 1 <<< y",
        "p='$(rm x)'; : \"${p@P}\"",
        "BASH_ENV='$(rm x)' bash -c :",
        "env BASH_ENV='$(rm x)' bash -c :",
        "bash <<< 'r\\m x'",
        "printf 'rm x' | sh",
        "source /dev/stdin <<< 'r\"\"m x'",
        "printf rm | xargs sh -c"
      ]
    ) {
      assert.strictEqual(decide(rules, bash(script)), "deny", script)
      assert.strictEqual(decide(approveOnly, bash(script)), "fallback", script)
    }
    assert.strictEqual(decide(approveOnly, bash("printf '%s\\n' a")), "approve", "text without code is plain")
  })

  it("a wrapper in front of a shell script is seen by deny rules, and harmless ones still approve", () => {
    assert.strictEqual(decide(rules, bash("timeout 5 bash -c 'ls'")), "deny")
    assert.strictEqual(decide(approveOnly, bash("timeout 5 bash -c 'ls'")), "approve")
    assert.strictEqual(decide(approveOnly, ["nohup", "sh", "-c", "touch a && ls"]), "approve")
    assert.strictEqual(decide(rules, bash("coproc rm x")), "deny", "coproc runs its command")
    assert.strictEqual(decide(approveOnly.slice(0, 2), bash("coproc touch a")), "fallback")
  })
})

describe("ShellCommand without a parser (the sync API before anything loaded it)", () => {
  it("a script is never plain, and a deny rule still finds its program among the script's words", () => {
    const analysis = ShellCommand.analyze(["bash", "-lc", "touch a && \"rm\" -rf b"], undefined)
    assert.isFalse(analysis.plain)
    const found = analysis.commands.some((readings) =>
      readings.some((reading) => ShellCommand.readingHasPrefix(reading, ["rm"], "deny"))
    )
    assert.isTrue(found)
    assert.isTrue(ShellCommand.analyze(["touch", "a"], undefined).plain, "a bare argv needs no parser")
  })
})

describe("through a delegate: the settlement names the rule that decided", () => {
  it.effect("a hostile script denied by rule 2 of its file, and the child gets denied", () =>
    Effect.gen(function*() {
      const settled = yield* Ref.make<ReadonlyArray<ApprovalRequest.ApprovalSettlement>>([])
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({
        source: "review",
        onSettled: (settlement) => Ref.update(settled, (all) => [...all, settlement])
      })
      yield* child.emit(
        { ...execRequest("c1"), command: ["bash", "-lc", "touch a && FOO=1 \\rm -rf ~"] },
        "t"
      )
      const answer = yield* child.awaitOp("exec_approval")
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: "denied" })
      const [settlement] = yield* Ref.get(settled)
      assert.deepStrictEqual(settlement?.decidedBy, {
        _tag: "PolicyRule",
        index: 1,
        rule: { commandPrefix: ["rm"], action: "deny" },
        file: "team.json"
      })
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(
        TestAgent.layer(),
        Approvals.layerPolicy([
          { commandPrefix: ["touch"], action: "approve", source: "team.json" },
          { commandPrefix: ["rm"], action: "deny", source: "team.json" }
        ]).pipe(Layer.provide(Approvals.layerApproveAll))
      ))
    ))
})
