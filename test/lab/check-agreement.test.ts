// `holdfast check` against the servers the lab starts: for every race both play, the check's
// verdict agrees with the lab scenario's (lab pass = check pass or warn), and the known findings
// hold (Python's one-thread HTTPServer fails preconnects, Apache's hint has no margin, node:http
// loses the body of a Connection: close response with unread requests behind it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  check, checkProbes, serverScenarios, holdfastServer, nodeHttpServer, pythonHttpServer, pythonThreadingServer, djangoServer,
  apacheServer, nginxServer, naiveServer, type ServerSubject, type CheckStatus, type CheckReport,
} from '../../src/lab/index.ts';

const SCALE = 0.4;
const ctx = { repeat: 1, signal: new AbortController().signal };
const shared = checkProbes.filter((p) => p.labScenario !== null);

/** What the lab's pass/fail/n/a says of a check verdict. */
function asLab(status: CheckStatus): 'pass' | 'fail' | 'n/a' {
  return status === 'warn' ? 'pass' : status;
}

/** Known verdicts, probe → expected check status, beyond agreement. */
const KNOWN: Record<string, Record<string, CheckStatus>> = {
  'holdfast-server': Object.fromEntries(checkProbes.map((p) => [p.id, 'pass'])),
  'python-httpserver': { preconnect: 'fail', slowloris: 'fail', 'early-answer': 'fail' },
  'python-threading': { preconnect: 'pass', 'early-answer': 'fail', 'close-unread': 'fail' },
  'node-http': { 'idle-timeout': 'pass', 'early-answer': 'pass', 'close-unread': 'fail' },
  django: { 'idle-timeout': 'n/a', 'close-unread': 'fail' },
  apache: { 'idle-timeout': 'fail', 'close-unread': 'pass' },
  nginx: { 'idle-timeout': 'fail', 'close-unread': 'pass' },
  'naive-server': { 'idle-timeout': 'fail', preconnect: 'fail', pipelining: 'fail', 'close-unread': 'fail' },
};

const subjects: ServerSubject[] = [holdfastServer, nodeHttpServer, pythonHttpServer, pythonThreadingServer, djangoServer, apacheServer, nginxServer, naiveServer];

for (const subject of subjects) {
  test(`check and lab agree on ${subject.id}`, async (t) => {
    const available = await subject.available();
    if (available !== true) return t.skip(available);
    // The check and the lab's scenarios run at once, each on its own instance of the server.
    const checked = (async (): Promise<CheckReport> => {
      const server = await subject.start({ idleTimeoutMs: 1000 });
      try {
        return await check(`http://127.0.0.1:${server.port}/`, { uploadPath: '/early', largePath: '/big/1048576', timeoutScale: SCALE, only: shared.map((p) => p.id) });
      } finally {
        await server.stop();
      }
    })();
    const lab = [];
    for (const probe of shared) lab.push(await serverScenarios.find((s) => s.id === probe.labScenario)!.run(subject, ctx));
    const report = await checked;
    const disagreements: string[] = [];
    for (const [i, probe] of shared.entries()) {
      const got = report.results.find((r) => r.probe === probe.id)!;
      if (asLab(got.status) !== lab[i]!.status) disagreements.push(`${probe.id}: check ${got.status} (${got.summary}) but lab ${probe.labScenario} ${lab[i]!.status} (${lab[i]!.mode})`);
      const known = KNOWN[subject.id]?.[probe.id];
      if (known !== undefined) assert.equal(got.status, known, `${subject.id} ${probe.id}: ${got.summary}\n${got.evidence.join('\n')}`);
    }
    assert.deepEqual(disagreements, []);
  });
}
