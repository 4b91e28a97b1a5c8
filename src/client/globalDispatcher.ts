/**
 * The process-wide dispatcher behind Node's global `fetch`. A library never changes a global on
 * its own: these functions (and the `holdfast/register` entry that calls the first one) are the
 * explicit ask.
 *
 * Where undici looks for it: Node's bundled undici (6.x in Node 22, 7.x in Node 24) reads
 * `globalThis[Symbol.for('undici.globalDispatcher.1')]` at every `fetch`; the `undici` package
 * ≥ 8 reads `Symbol.for('undici.globalDispatcher.2')`. Both are set, so the built-in `fetch` and
 * the package's `fetch`/`request`/`stream` all run on holdfast. Either undici creates its
 * default Agent only when the slot is empty at load, so the previous values are read after
 * Node's undici has loaded and restored on uninstall; clearing a slot instead would leave
 * `fetch` with no dispatcher at all.
 *
 * `HTTP_PROXY`/`HTTPS_PROXY`: Node's default dispatcher ignores them unless `NODE_USE_ENV_PROXY`
 * is set; holdfast has no proxy support, so with the dispatcher installed requests go direct
 * whatever those variables say (`holdfast/register` warns when Node was asked to use them).
 */
import { Agent } from './agent.ts';
import { HoldfastDispatcher } from './dispatcher.ts';

const LEGACY_SLOT = Symbol.for('undici.globalDispatcher.1');
const CURRENT_SLOT = Symbol.for('undici.globalDispatcher.2');

interface Installed {
  dispatcher: HoldfastDispatcher;
  previousLegacy: unknown;
  previousCurrent: unknown;
}

let installed: Installed | null = null;

function writeSlot(slot: symbol, value: unknown): void {
  // undici defines the slots non-enumerable, writable and non-configurable; defining ours the
  // same way keeps its later setGlobalDispatcher() working (it redefines the value).
  Object.defineProperty(globalThis, slot, { value, writable: true, enumerable: false, configurable: false });
}

function readSlot(slot: symbol): unknown {
  return (globalThis as unknown as Record<symbol, unknown>)[slot];
}

/**
 * Makes holdfast the global dispatcher: every `fetch` of the process (and undici's API when it
 * uses the global dispatcher) runs on `target`'s pools from now on. Returns the installed
 * dispatcher; its `agent` is where `closeIdle()`, `close()` and `destroy()` live. Installing
 * again replaces the previous holdfast dispatcher (which is not closed).
 */
export function installGlobalDispatcher(target?: Agent | HoldfastDispatcher): HoldfastDispatcher {
  const dispatcher = target instanceof HoldfastDispatcher ? target : new HoldfastDispatcher(target ?? new Agent());
  if (installed === null) {
    // Loads Node's bundled undici (its globals are lazy), which sets its default dispatcher if
    // none is set yet: that default is what uninstall restores.
    void globalThis.Response;
    installed = { dispatcher, previousLegacy: readSlot(LEGACY_SLOT), previousCurrent: readSlot(CURRENT_SLOT) };
  } else {
    installed.dispatcher = dispatcher;
  }
  writeSlot(LEGACY_SLOT, dispatcher);
  writeSlot(CURRENT_SLOT, dispatcher);
  return dispatcher;
}

/**
 * Puts back the dispatchers that were global before `installGlobalDispatcher`. Returns the
 * holdfast dispatcher that was installed (not closed: its in-flight requests finish), or `null`.
 */
export function uninstallGlobalDispatcher(): HoldfastDispatcher | null {
  if (installed === null) return null;
  const { dispatcher, previousLegacy, previousCurrent } = installed;
  installed = null;
  // Only undici ≥ 8 reads the second slot; with none before, Node's own default serves it (it
  // accepts both handler shapes) rather than leaving that undici without a dispatcher.
  writeSlot(LEGACY_SLOT, previousLegacy);
  writeSlot(CURRENT_SLOT, previousCurrent ?? previousLegacy);
  return dispatcher;
}

/** The holdfast dispatcher installed globally, or `null`. */
export function installedGlobalDispatcher(): HoldfastDispatcher | null {
  return installed === null ? null : installed.dispatcher;
}
