/**
 * Small statistics helpers and the shape every benchmark section returns.
 */

/** Samples of one metric, one per measured run (warm-up runs are not included). */
export type Series = ReadonlyArray<number>

/** What a section reports: per metric, one value per measured run; plus notes for the reader. */
export interface SectionResult {
  readonly metrics: Readonly<Record<string, Series>>
  readonly notes: ReadonlyArray<string>
  /** Set when the section did not run (e.g. a missing dependency); its metrics are then `null`. */
  readonly skipped?: string | undefined
}

/** How big a section runs. */
export interface Size {
  readonly quick: boolean
  readonly warmups: number
  readonly runs: number
}

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

const sorted = (values: Series): Array<number> => [...values].sort((a, b) => a - b)

/** The p-th percentile (0–100) by nearest rank. */
export const percentile = (values: Series, p: number): number => {
  if (values.length === 0) return NaN
  const s = sorted(values)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]
}

/** The median (mean of the two middle values for an even count). */
export const median = (values: Series): number => {
  if (values.length === 0) return NaN
  const s = sorted(values)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export const summarize = (values: Series): Summary => ({
  median: median(values),
  min: values.length === 0 ? NaN : Math.min(...values),
  max: values.length === 0 ? NaN : Math.max(...values),
  n: values.length
})

/**
 * Runs `once` `size.warmups` times (results dropped), then `size.runs` times, and collects every metric it
 * returns into one series per metric.
 */
export const series = async (
  size: Size,
  once: (run: number) => Promise<Readonly<Record<string, number>>>
): Promise<Record<string, Array<number>>> => {
  for (let i = 0; i < size.warmups; i++) await once(-1 - i)
  const out: Record<string, Array<number>> = {}
  for (let i = 0; i < size.runs; i++) {
    const metrics = await once(i)
    for (const [key, value] of Object.entries(metrics)) (out[key] ??= []).push(value)
  }
  return out
}

/** Forces a full garbage collection (the sections run under `--expose-gc`). */
export const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run the benchmarks with `node --expose-gc` (npm run bench does)")
  collect()
  collect()
}

/** The V8 heap in use after a full collection. */
export const heapAfterGc = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

/** Throws when a benchmark's own correctness check fails, so a broken measurement cannot pass silently. */
export const check = (condition: boolean, message: string): void => {
  if (!condition) throw new Error(`benchmark check failed: ${message}`)
}
