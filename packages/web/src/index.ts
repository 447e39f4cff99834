/**
 * `@deputy/web`: the approval inbox in a browser (`deputy serve`).
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export * as View from "./View.js"
/** @since 0.2.0 */
export * as WebServer from "./WebServer.js"
/** @since 0.2.0 */
export * as LedgerFeed from "./LedgerFeed.js"
