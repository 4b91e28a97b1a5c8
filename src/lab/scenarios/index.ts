/** Every scenario of the lab, in scorecard order. */
import type { ClientScenario, Scenario, ServerScenario } from '../types.ts';
import { idleCloseFin, idleCloseRst } from './idle-close.ts';
import { keepaliveSweep } from './keepalive-sweep.ts';
import { serverRestart } from './server-restart.ts';
import { unsolicited408 } from './unsolicited-408.ts';
import { truncatedContentLength, unterminatedChunked } from './truncated-body.ts';
import { stalePost } from './stale-post.ts';
import { slowHeaders } from './slow-headers.ts';
import { preconnect } from './preconnect.ts';
import { earlyAnswer } from './early-answer.ts';
import { closeSlowReader } from './close-slow-reader.ts';
import { pipelined } from './pipelined.ts';
import { idleTimeoutRequest } from './idle-timeout-request.ts';
import { slowloris } from './slowloris.ts';
import { gracefulShutdown } from './graceful-shutdown.ts';
import { upgradeWhileOthersWait } from './upgrade-held.ts';

export const clientScenarios: readonly ClientScenario[] = [
  idleCloseFin, idleCloseRst, keepaliveSweep, serverRestart, unsolicited408,
  truncatedContentLength, unterminatedChunked, stalePost, slowHeaders,
];

export const serverScenarios: readonly ServerScenario[] = [
  preconnect, earlyAnswer, closeSlowReader, pipelined, idleTimeoutRequest, slowloris, gracefulShutdown, upgradeWhileOthersWait,
];

export const scenarios: readonly Scenario[] = [...clientScenarios, ...serverScenarios];
