import { ShellWords } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"

describe("ShellWords: one splitter for the CLI and the Codex translation", () => {
  it("splits quotes as a POSIX shell reads them, and says what is wrong", () => {
    assert.deepStrictEqual(ShellWords.split(`git commit -m "say \\"hi\\"" it\\'s`), [
      "git",
      "commit",
      "-m",
      "say \"hi\"",
      "it's"
    ])
    assert.deepStrictEqual(ShellWords.split("a  ''  b"), ["a", "", "b"])
    assert.deepStrictEqual(ShellWords.split("'a\"b' \"c'd\" \"$x\\`\""), ["a\"b", "c'd", "$x`"])
    assert.deepStrictEqual(ShellWords.split("a\\\nb \"c\\\nd\""), ["ab", "cd"], "a line continuation is removed")
    assert.deepStrictEqual(ShellWords.split("a\u00a0b"), ["a\u00a0b"], "a no-break space is not a blank")
    assert.deepStrictEqual(ShellWords.split("echo 'open"), { problem: "a single quote is not closed" })
    assert.deepStrictEqual(ShellWords.split("echo \"open"), { problem: "a double quote is not closed" })
    assert.deepStrictEqual(ShellWords.split("echo \\"), { problem: "it ends with a lone \\" })
  })

  it("quotes back what it splits", () => {
    const argv = ["echo", "it's", "a b", "", "$HOME", "plain-word_1.txt"]
    assert.strictEqual(ShellWords.join(argv), "echo 'it'\\''s' 'a b' '' '$HOME' plain-word_1.txt")
    assert.deepStrictEqual(ShellWords.split(ShellWords.join(argv)), argv)
  })

  it("toArgv falls back to bash -lc for what it cannot split", () => {
    assert.deepStrictEqual(ShellWords.toArgv("/bin/bash -lc 'echo hi'"), ["/bin/bash", "-lc", "echo hi"])
    assert.deepStrictEqual(ShellWords.toArgv("echo 'open"), ["bash", "-lc", "echo 'open"])
    assert.deepStrictEqual(ShellWords.toArgv("   "), ["bash", "-lc", "   "])
  })

  it("display shows a standard shell's script, and any other program with its path", () => {
    assert.strictEqual(ShellWords.display(["bash", "-lc", "ls -la"]), "ls -la")
    assert.strictEqual(ShellWords.display(["/bin/sh", "-c", "ls"]), "ls")
    assert.strictEqual(ShellWords.display(["/tmp/evil/bash", "-c", "ls -la"]), "/tmp/evil/bash -c 'ls -la'")
    assert.strictEqual(ShellWords.display(["rm", "-rf", "my dir"]), "rm -rf 'my dir'")
  })

  it("programName: a bare name or a standard directory is the standard program", () => {
    assert.deepStrictEqual(ShellWords.programName("rm"), { name: "rm", standard: true })
    assert.deepStrictEqual(ShellWords.programName("/usr/bin//../bin/rm"), { name: "rm", standard: true })
    assert.deepStrictEqual(ShellWords.programName("/tmp/evil/rm"), { name: "rm", standard: false })
    assert.deepStrictEqual(ShellWords.programName("./rm"), { name: "rm", standard: false })
    assert.deepStrictEqual(ShellWords.programName("bin/rm"), { name: "rm", standard: false })
  })
})
