/**
 * `holdfast/register`: the one-line switch for code that uses the global `fetch`.
 *
 * ```sh
 * node --import holdfast/register app.js
 * ```
 *
 * or, as a program's first import, `import 'holdfast/register';`. Importing this module is the
 * explicit ask to change a process-wide setting: it makes a holdfast `Agent` the global
 * dispatcher, so Node's `fetch` (and undici's API on the global dispatcher) gets the Keep-Alive
 * hint, the liveness turn before reuse, FIN/408 eviction and the safe retry. Nothing else in
 * holdfast touches globals. `dispatcher.agent` is the agent (for `closeIdle()`);
 * `uninstallGlobalDispatcher()` from `holdfast` undoes it.
 */
import { installGlobalDispatcher } from './globalDispatcher.ts';

/** The dispatcher this import installed. */
export const dispatcher = installGlobalDispatcher();
