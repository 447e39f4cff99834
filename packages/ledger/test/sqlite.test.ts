import { ApprovalLedger } from "@deputy/ledger"
import { afterAll } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { contract } from "./contract.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let n = 0

contract("SQLite on disk", () => ApprovalLedger.layerSqlite({ filename: path.join(root, `l${++n}`, "ledger.db") }))
