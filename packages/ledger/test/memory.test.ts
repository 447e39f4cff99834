import { ApprovalLedger } from "@deputy/ledger"
import { contract } from "./contract.js"

contract("memory", () => ApprovalLedger.layerMemory())
