/**
 * The policy's reading of a shell script, checked against real bash. Each generated script runs in bash
 * with `PATH` pointing at a directory of stub programs that append their argv to a log (and nothing real
 * on `PATH`), then the log is compared with what `ShellCommand.analyze` found:
 * - soundness: every program bash ran is found by a deny reading (a deny rule naming it matches);
 * - exactness: when the analysis says *plain*, every command bash ran is one of its readings, word for word.
 */
import { ShellCommand, ShellWords } from "@deputy/core"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// ---------------------------------------------------------------------------------------------------------
// The oracle: bash with stub programs.

/** Programs that only log. `false` fails, so `||` and `if` take both ways in some scripts. */
const stubs = ["rm", "touch", "ls", "git", "cat", "echo", "true", "false", "test", "grep", "pwd"]
/** Wrappers that log, then run the real program (which finds the stubs on `PATH`). */
const wrappers: Record<string, string> = {
  env: "/usr/bin/env",
  nohup: "/usr/bin/nohup",
  timeout: "/usr/bin/timeout",
  nice: "/usr/bin/nice",
  xargs: "/usr/bin/xargs",
  bash: "/bin/bash",
  sh: "/bin/sh"
}
/** Builtins turned off (in every bash, through `BASH_ENV`) so that running them goes through a stub. */
const disabledBuiltins = ["echo", "true", "false", "test", "[", "pwd"]
const shellNames = new Set(["bash", "sh"])

interface Sandbox {
  readonly root: string
  readonly bin: string
  readonly work: string
  readonly log: string
  readonly bashEnv: string
}

const makeSandbox = (): Sandbox => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-oracle-"))
  const bin = path.join(root, "bin")
  const work = path.join(root, "work")
  const log = path.join(root, "log")
  const bashEnv = path.join(root, "bash_env")
  fs.mkdirSync(bin)
  fs.mkdirSync(work)
  // the log is named by the run (a straggler of an earlier run writes to its own log); fd 3 is a pipe the
  // test holds, so that the run ends only when every process it started (in the background too) has ended
  const record = `printf '%s\\0' "$#" "\${0##*/}" "$@" >> "$DEPUTY_ORACLE_LOG"`
  for (const name of stubs) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${record}\nexit ${name === "false" ? 1 : 0}\n`, { mode: 0o755 })
  }
  for (const [name, real] of Object.entries(wrappers)) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${record}\nexec ${real} "$@"\n`, { mode: 0o755 })
  }
  fs.writeFileSync(bashEnv, `enable -n ${disabledBuiltins.map((name) => `'${name}'`).join(" ")}\n`)
  return { root, bin, work, log, bashEnv }
}

interface Ran {
  readonly argv: ReadonlyArray<ReadonlyArray<string>>
  readonly timedOut: boolean
}

/** Runs a script in `bash -c` and returns the argv of every stub that ran (never anything real). */
let runs = 0

/**
 * Runs a script in `bash -c` and returns the argv of every stub that ran (never anything real). The run
 * ends when bash and everything it started closed their ends of the pipes (fd 3 is one only the test
 * holds), or after 4 s, when timeout(1) kills its whole process group.
 */
const runInBash = (sandbox: Sandbox, script: string): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const log = `${sandbox.log}.${++runs}`
    fs.writeFileSync(log, "")
    fs.rmSync(sandbox.work, { recursive: true, force: true })
    fs.mkdirSync(sandbox.work)
    const child = spawn("/usr/bin/timeout", ["-s", "KILL", "4", "/bin/bash", "-c", script], {
      cwd: sandbox.work,
      env: {
        PATH: sandbox.bin,
        HOME: sandbox.work,
        BASH_ENV: sandbox.bashEnv,
        LC_ALL: "C.UTF-8",
        DEPUTY_ORACLE_LOG: log
      },
      stdio: ["ignore", "pipe", "pipe", "pipe"]
    })
    for (const stream of [child.stdout, child.stderr, child.stdio[3]]) {
      ;(stream as NodeJS.ReadableStream | null)?.resume()
    }
    child.on("close", (code) => {
      const fields = fs.readFileSync(log, "utf8").split("\0")
      fs.rmSync(log)
      const argv: Array<Array<string>> = []
      let at = 0
      while (at + 1 < fields.length) {
        const count = Number(fields[at])
        argv.push(fields.slice(at + 1, at + 2 + count))
        at += 2 + count
      }
      resume(Effect.succeed({ argv, timedOut: code === 137 }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

// ---------------------------------------------------------------------------------------------------------
// The comparison.

const wordMatches = (word: ShellCommand.Word, text: string) => !word.literal || word.expands || word.text === text

/** Whether a reading is exactly an argv (a word that expands matches what follows it, any number). */
const readingIs = (reading: ShellCommand.Reading, argv: ReadonlyArray<string>): boolean => {
  const { words } = reading
  if (ShellWords.programName(words[0]?.text ?? "").name !== argv[0]) return false
  for (let index = 1; index < words.length; index++) {
    const word = words[index]!
    if (word.expands) return true
    if (index >= argv.length || !wordMatches(word, argv[index]!)) return false
  }
  return words.length === argv.length
}

/** What is wrong with the analysis of a script, compared with what bash ran (empty when nothing). */
const mismatches = (
  analysis: ShellCommand.CommandAnalysis,
  ran: ReadonlyArray<ReadonlyArray<string>>
): Array<string> => {
  const problems: Array<string> = []
  const readings = analysis.commands.flat()
  for (const argv of ran) {
    const name = argv[0]!
    if (shellNames.has(name) && argv.includes("-c")) continue // a shell running a script is that script
    if (!readings.some((reading) => ShellCommand.readingHasPrefix(reading, [name], "deny"))) {
      problems.push(`deny misses ${JSON.stringify(argv)}`)
    } else if (
      !readings.some((reading) => ShellCommand.readingHasPrefix(reading, argv.slice(0, 3), "deny"))
    ) {
      problems.push(`deny misses the arguments of ${JSON.stringify(argv)}`)
    }
    if (analysis.plain && !shellNames.has(name) && !readings.some((reading) => readingIs(reading, argv))) {
      problems.push(`plain, but ${JSON.stringify(argv)} is not what it read`)
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------------
// Hostile scripts.

const programs = ["rm", "touch", "ls", "git", "cat", "echo", "true", "false", "grep"]
const spelling = FastCheck.constantFrom<(name: string) => string>(
  (name) => name,
  (name) => `"${name}"`,
  (name) => `'${name}'`,
  (name) => `\\${name}`,
  (name) => `${name[0]}\\${name.slice(1)}`,
  (name) => `${name[0]}''${name.slice(1)}`,
  (name) => `${name[0]}"${name.slice(1)}"`,
  (name) => `$'${name}'`,
  (name) => `${name[0]}\\\n${name.slice(1)}`
)
const program = FastCheck.tuple(FastCheck.constantFrom(...programs), spelling).map(([name, spell]) => spell(name))
const argument = FastCheck.constantFrom(
  "a",
  "-rf",
  "x",
  "\"a b\"",
  "'c d'",
  "a\\ b",
  "$'a\\tb'",
  "''",
  "\"\"",
  "#c",
  "a#b",
  "\\#x",
  "*",
  "{a,b}",
  "~",
  "a\\\nb",
  "a\rb",
  "--",
  "k=v",
  "\\;",
  "';'",
  "\\&",
  "\\|",
  "'\\'",
  "\"\\\\\"",
  "\"a\\\"b\"",
  "$'\\''",
  "\\\\",
  "a\\\rb",
  "é"
)
const assignment = FastCheck.constantFrom("", "A=1 ", "A='x y' ", "A= ", "A=$'q' ")
const redirection = FastCheck.constantFrom("", ">/dev/null ", "2>&1 ", "<x ", ">o ", "2>/dev/null ", "&>/dev/null ")
const simpleCommand = FastCheck.tuple(
  assignment,
  redirection,
  program,
  FastCheck.array(argument, { maxLength: 3 }),
  redirection
).map(([assign, before, name, args, after]) =>
  `${assign}${before}${name}${args.map((arg) => ` ${arg}`).join("")}${after === "" ? "" : ` ${after.trim()}`}`
)
const separator = FastCheck.constantFrom(
  " ; ",
  ";",
  " && ",
  "||",
  " | ",
  " |& ",
  " & ",
  "&",
  "\n",
  "\r\n",
  ";\n",
  " \\\n",
  "\n\n",
  "\n#c\n",
  " # c\n",
  "\n\\\n",
  "\n \t",
  ";\r\n",
  " &\n"
)

const singleQuoted = (text: string) => `'${text.replace(/'/g, "'\\''")}'`

const { script } = FastCheck.letrec<{ script: string; statement: string }>((tie) => ({
  script: FastCheck.tuple(
    tie("statement"),
    FastCheck.array(FastCheck.tuple(separator, tie("statement")), { maxLength: 2 })
  )
    .map(([first, rest]) => `${first}${rest.map(([sep, next]) => `${sep}${next}`).join("")}`),
  statement: FastCheck.oneof(
    { maxDepth: 2, depthSize: "small", withCrossShrink: true },
    simpleCommand,
    simpleCommand,
    simpleCommand,
    tie("script").map((s) => `( ${s} )`),
    tie("script").map((s) => `{ ${s}; }`),
    tie("script").map((s) => `{ ${s}\n}`),
    tie("script").map((s) => `echo $(${s})`),
    tie("script").map((s) => `echo "$(${s})"`),
    tie("script").filter((s) => !s.includes("`")).map((s) => `echo \`${s}\``),
    tie("script").map((s) => `f() { ${s}; }; f`),
    tie("script").map((s) => `function g { ${s}\n}\ng`),
    FastCheck.tuple(tie("script"), tie("script")).map(([a, b]) => `if ${a}; then ${b}; else ${a}; fi`),
    tie("script").map((s) => `for i in a b; do ${s}; done`),
    FastCheck.tuple(tie("script"), tie("script")).map(([a, b]) => `case a in a) ${a};; b) ${b};; esac`),
    FastCheck.tuple(tie("script"), tie("script")).map(([a, b]) => `case a in a) ${a};& b) ${b};;& *) ${a};; esac`),
    tie("script").map((s) => `! ${s}`),
    tie("script").map((s) => `time ${s}`),
    tie("script").map((s) => `cat <(${s})`),
    tie("script").map((s) => `cat >(${s})`),
    tie("script").map((s) => `X=$(${s})`),
    tie("script").map((s) => `[[ -n $(${s}) ]]`),
    tie("script").map((s) => `echo $(( 1 + $(${s} | wc -c) ))`),
    tie("script").map((s) => `(( $(${s}) 1 ))`),
    tie("script").map((s) => `bash -c ${singleQuoted(s)}`),
    tie("script").map((s) => `sh -c ${singleQuoted(s)}`),
    tie("script").map((s) => `eval ${singleQuoted(s)}`),
    tie("script").map((s) => `trap ${singleQuoted(s)} EXIT`),
    tie("script").map((s) => `env A=1 ${s}`),
    tie("script").map((s) => `timeout 5 ${s}`),
    tie("script").map((s) => `coproc ${s}`),
    FastCheck.tuple(
      FastCheck.constantFrom("EOF", "'EOF'", "\"EOF\"", "\\EOF", "-EOF", " EOF"),
      FastCheck.array(
        FastCheck.oneof(
          simpleCommand,
          tie("script").map((s) => `$(${s})`),
          FastCheck.constantFrom("EOF ", "\tEOF", " EOF", "EOF\r", "\\$(rm q)", "`rm b`")
        ),
        { maxLength: 3 }
      ),
      FastCheck.constantFrom("", "; ", " | "),
      tie("script")
    ).map(([delimiter, body, after, next]) =>
      `cat <<${delimiter}${after === "" ? "" : `${after}${after === " | " ? "cat" : "true"}`}\n${body.join("\n")}${
        body.length > 0 ? "\n" : ""
      }${delimiter === "-EOF" ? "\t" : ""}EOF\n${next}`
    ),
    tie("script").map((s) => `cat <<< ${singleQuoted(s)}`),
    tie("script").map((s) => `source /dev/stdin <<< ${singleQuoted(s)}`),
    tie("script").map((s) => `bash <<< ${singleQuoted(s)}`),
    tie("script").map((s) => `echo ${singleQuoted(s)} | sh`),
    tie("script").map((s) => `shopt -s expand_aliases\nalias ll=${singleQuoted(s)}\nll`),
    tie("script").map((s) => `PS4=${singleQuoted(`$(${s})`)}; set -x; :`),
    tie("script").map((s) => `v=${singleQuoted(`a[$(${s})]`)}; (( v ))`),
    tie("script").map((s) => `mapfile -C ${singleQuoted(s)} -c 1 <<< x`),
    tie("script").map((s) => `p=${singleQuoted(`$(${s})`)}; : "\${p@P}"`),
    tie("script").filter((s) => !s.includes("sh")).map((s) => `BASH_ENV=${singleQuoted(`$(${s})`)} bash -c :`),
    tie("script").map((s) => `printf -v ${singleQuoted(`a[$(${s})]`)} x`),
    tie("script").map((s) => `read ${singleQuoted(`a[$(${s})]`)} <<< x`),
    tie("script").map((s) => `let ${singleQuoted(`a[$(${s})]=1`)}`),
    tie("script").map((s) => `[[ -v ${singleQuoted(`a[$(${s})]`)} ]]`),
    tie("script").map((s) => `declare -n r=${singleQuoted(`a[$(${s})]`)}; : "$r"`),
    tie("script").map((s) => `until ${s}; do break; done`),
    tie("script").map((s) => `while ${s}; do break; done`),
    tie("script").map((s) => `{ ${s}; } >o 2>&1`),
    tie("script").map((s) => `( ${s} ) &>/dev/null`),
    tie("script").map((s) => `f() ( ${s} ); f`),
    tie("script").map((s) => `function h { ${s}; } >/dev/null; h`),
    tie("script").map((s) => `exec 3>&1; ${s}`),
    tie("script").map((s) => `${s};#c\n`),
    tie("script").map((s) => `${s} #c \\\n`),
    tie("script").map((s) => `select x in a; do ${s}; break; done <<< 1`),
    tie("script").map((s) => `echo $"${s.replace(/["\\$`]/g, "")}"`),
    tie("script").map((s) => `cat <<EOF\n$(cat <<EOT\n$(${s})\nEOT\n)\nEOF`),
    FastCheck.constantFrom(
      "X=rm; $X y",
      "c=r; ${c}m y",
      "a=(rm y); \"${a[@]}\"",
      "set -- rm y; \"$@\"",
      "{rm,-f} y",
      "$\"rm\" y",
      "rm<<<x y",
      "ls;#rm x",
      "ls&&#rm\nrm y",
      "ls >| o <> p 2>&- 3<&0 &>> q rm",
      "r\\\r\nm x",
      "ls \\\r\nrm x",
      "hash -p ./rm ls; ls",
      "command -v rm",
      "eval \"r\"m x"
    )
  )
}))

// ---------------------------------------------------------------------------------------------------------

let sandbox: Sandbox
let parser: ShellCommand.ShellParser

beforeAll(async () => {
  sandbox = makeSandbox()
  parser = await Effect.runPromise(ShellCommand.parser)
})

afterAll(() => {
  fs.rmSync(sandbox.root, { recursive: true, force: true })
})

/** What bash ran of a script, and what is wrong with the analysis of `bash -c script` (nothing, we hope). */
const check = (text: string) =>
  Effect.map(runInBash(sandbox, text), (ran) => ({
    ran,
    problems: mismatches(ShellCommand.analyze(["bash", "-c", text], parser), ran.argv)
  }))

/** Each class of misreading the oracle found, with what bash runs of it. */
const found: ReadonlyArray<{
  readonly name: string
  readonly script: string
  readonly runs: string
  /** The arguments bash runs are not what a reading can know (`mapfile -C` appends an index and a line). */
  readonly argumentsUnknown?: true
}> = [
  { name: "a redirection's words are arguments", script: "git >/dev/null push", runs: "git" },
  { name: "a redirection takes the next line", script: "touch >/dev/null\n\\rm x", runs: "rm" },
  { name: "a here-document's words are arguments", script: "cat <<EOF rm\nx\nEOF", runs: "cat" },
  { name: "time with an assignment and a redirection", script: "time A=1 2>&1 rm x", runs: "rm" },
  { name: "a redirected pipeline after an assignment", script: "ls | A= 2>/dev/null rm x", runs: "rm" },
  { name: "a line continuation inside a word", script: ">o t\\\nouch a", runs: "touch" },
  { name: "a carriage return is a word character", script: "ls a\rrm x", runs: "ls" },
  { name: "$'…' strings are literal", script: "$'\\x72m' x; $'rm' y", runs: "rm" },
  { name: "a variable as the program", script: "X=rm; $X y", runs: "rm" },
  { name: "the positional parameters as the command", script: "set -- rm y; \"$@\"", runs: "rm" },
  { name: "an array as the command", script: "a=(rm y); \"${a[@]}\"", runs: "rm" },
  { name: "trap runs its text", script: "trap 'rm x' EXIT", runs: "rm" },
  { name: "an alias runs its text", script: "shopt -s expand_aliases\nalias ll='rm x'\nll", runs: "rm" },
  { name: "PS4 under set -x", script: "PS4='$(rm x)'; set -x; :", runs: "rm" },
  { name: "an arithmetic subscript in a variable", script: "v='a[$(rm x)]'; (( v ))", runs: "rm" },
  { name: "mapfile -C", script: "mapfile -C 'rm x' -c 1 <<< y", runs: "rm", argumentsUnknown: true },
  { name: "a prompt expansion", script: "p='$(rm x)'; : \"${p@P}\"", runs: "rm" },
  { name: "BASH_ENV of a new bash", script: "BASH_ENV='$(rm x)' bash -c :", runs: "rm" },
  { name: "a shell reading a here-string", script: "bash <<< 'r\\m x'", runs: "rm" },
  { name: "a shell reading a pipe", script: "printf 'rm x' | sh", runs: "rm" },
  { name: "source of standard input", script: "source /dev/stdin <<< 'rm x'", runs: "rm" },
  { name: "a shell given its script by xargs", script: "printf rm | xargs sh -c", runs: "rm", argumentsUnknown: true },
  { name: "what does not parse hides commands", script: "cat << EOF; rm x\nbody\nEOF", runs: "rm" },
  { name: "a wrapper in front of a shell script", script: "timeout 5 bash -c 'ls'", runs: "timeout" },
  { name: "coproc", script: "coproc rm x", runs: "rm" },
  { name: "brace expansion of the program", script: "{rm,-f} y", runs: "rm" },
  { name: "time before a function definition", script: "time function h { rm x; } >/dev/null; h", runs: "rm" },
  { name: "a computed program inside text", script: "[[ -v 'a[$(c=r; ${c}m y)]' ]]", runs: "rm" },
  { name: "a parse error inside a substitution", script: "cat <(cat <<EOF; rm x\nEOF\n)", runs: "rm" },
  { name: "dash reads $'…' otherwise", script: "sh -c \"ls \\$'a\\\\tb'\"", runs: "ls", argumentsUnknown: true }
]

describe("ShellCommand against real bash", () => {
  it.effect(
    "each class of misreading the oracle found is read right (and bash does run it)",
    () =>
      Effect.gen(function*() {
        for (const { argumentsUnknown, name, runs, script } of found) {
          const { problems, ran } = yield* check(script)
          assert.isTrue(
            ran.argv.some((argv) => argv[0] === runs),
            `${name}: bash runs ${runs} (${JSON.stringify(ran.argv)})`
          )
          assert.deepStrictEqual(
            problems.filter((problem) => !argumentsUnknown || !problem.includes("the arguments of")),
            [],
            `${name}: ${JSON.stringify(script)}`
          )
        }
      }),
    60_000
  )

  it.effect("the oracle sees what a misreading misses (the property can fail)", () =>
    Effect.gen(function*() {
      const { argv } = yield* runInBash(sandbox, "touch a\n\\rm -rf x")
      assert.deepStrictEqual(argv, [["touch", "a"], ["rm", "-rf", "x"]])
      // what tree-sitter-bash 0.25 reads of it: one plain command, `touch a rm -rf x`
      const word = (text: string): ShellCommand.Word => ({ text, literal: true, expands: false })
      const misread: ShellCommand.CommandAnalysis = {
        plain: true,
        commands: [[{ words: ["touch", "a", "rm", "-rf", "x"].map(word), approvable: true }]]
      }
      assert.deepStrictEqual(mismatches(misread, argv), [
        "plain, but [\"touch\",\"a\"] is not what it read",
        "deny misses [\"rm\",\"-rf\",\"x\"]",
        "plain, but [\"rm\",\"-rf\",\"x\"] is not what it read"
      ])
    }))

  it.effect.prop(
    "every program bash runs is found by a deny reading, and a plain script is exactly what bash runs",
    [script],
    ([text]) =>
      Effect.gen(function*() {
        const { problems, ran } = yield* check(text)
        assert.isFalse(ran.timedOut, `bash ran out of time: ${JSON.stringify(text)}`)
        assert.deepStrictEqual(
          problems.filter((problem) => !problem.includes("the arguments of")),
          [],
          JSON.stringify(text)
        )
      }),
    {
      timeout: 300_000,
      fastCheck: {
        numRuns: Number(process.env.DEPUTY_ORACLE_RUNS ?? 300),
        ...(process.env.DEPUTY_ORACLE_SEED === undefined ? {} : { seed: Number(process.env.DEPUTY_ORACLE_SEED) })
      }
    }
  )
})
