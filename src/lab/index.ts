/**
 * `holdfast/lab`: the race lab as a library — scenarios, subjects, the runner and its reports,
 * scripted peers for your own tests, a fault proxy with toxiproxy's semantics, and `check()`, the
 * server races replayed against a server you run.
 *
 * ```ts
 * import { runLab, renderScorecard } from 'holdfast/lab';
 * const card = await runLab({ only: ['idle-close-fin'], subjects: ['holdfast-request', 'node-agent'] });
 * console.log(renderScorecard(card));
 * ```
 */
export type {
  LabRequest, ClientOutcome, ClientSession, ClientSessionOptions, ClientSubject, ServerStartOptions, RunningServer,
  ServerSubject, Subject, SubjectFamily, ScenarioOutcome, ScenarioContext, ClientScenario, ServerScenario, Scenario,
} from './types.ts';
export { LabError, type LabErrorCode } from './errors.ts';
export { HoldfastError } from '../wire/holdfastError.ts';
export { runLab, type LabRunOptions, type LabProgress, type Scorecard, type ScoreCell, type ScenarioInfo, type SubjectInfo } from './runner.ts';
export { renderScorecard } from './scorecard.ts';
export { renderHtmlReport } from './html-report.ts';
export { scenarios, clientScenarios, serverScenarios } from './scenarios/index.ts';
export * from './subjects/index.ts';
export { ScriptedPeer, PeerConnection, type PeerHandlers, type PeerRequest, type ArrivalAction } from './peer.ts';
export { ThreadedIdlePeer } from './threaded-peer.ts';
export { RawConnection, type RawResponse, type RawResult } from './raw-client.ts';
export { FaultProxy, type FaultProxyOptions, type Toxic, type ToxicType, type ToxicStream, type ToxicAttributes } from './fault-proxy.ts';
export {
  check, checkTarget, checkProbes, type CheckOptions, type CheckReport, type CheckProgress, type CheckProbe, type CheckStatus,
  type CheckTarget, type Endpoint, type ProbeContext, type ProbeFinding, type ProbeResult,
} from './check/index.ts';
export { renderCheckReport, renderCheckHtml } from './check/report.ts';
