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

// Node's own fetch goes through HTTP_PROXY/HTTPS_PROXY when asked to (NODE_USE_ENV_PROXY or
// --use-env-proxy); holdfast has no proxy support, so say so rather than bypass the proxy quietly.
const env = process.env;
const proxyAsked = (env['NODE_USE_ENV_PROXY'] !== undefined && env['NODE_USE_ENV_PROXY'] !== '' && env['NODE_USE_ENV_PROXY'] !== '0') ||
  process.execArgv.includes('--use-env-proxy');
const proxy = env['HTTPS_PROXY'] ?? env['https_proxy'] ?? env['HTTP_PROXY'] ?? env['http_proxy'];
if (proxyAsked && proxy !== undefined && proxy !== '') {
  process.emitWarning('holdfast/register: HTTP_PROXY/HTTPS_PROXY are set and Node was asked to use them, but holdfast does not support proxies: fetch now connects directly.', { code: 'HOLDFAST_PROXY_IGNORED' });
}
