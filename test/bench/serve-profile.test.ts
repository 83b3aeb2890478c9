import t from 'tap';
import { type Profile, perWrite, splitWindow } from '../../bench/serve-profile.js';

const SRC = 'file:///app/src';
const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' });

/** root -> fastify route -> handler (src/admission) -> outcome log (src/server/outcome-log) ; and other branches. */
function profile(): Profile {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 6, 8, 9, 10, 12] },
      { id: 2, callFrame: frame('routeHandler', 'file:///app/node_modules/fastify/lib/route.js'), children: [3, 5] },
      { id: 3, callFrame: frame('handleAdmission', `${SRC}/admission/handler.js`), children: [4] },
      { id: 4, callFrame: frame('log', `${SRC}/server/outcome-log.js`) },
      { id: 5, callFrame: frame('writev') },
      { id: 6, callFrame: frame('parserOnHeadersComplete', 'node:_http_common'), children: [7] },
      { id: 7, callFrame: frame('IncomingMessage', 'node:_http_incoming') },
      { id: 8, callFrame: frame('(garbage collector)') },
      { id: 9, callFrame: frame('(idle)') },
      { id: 10, callFrame: frame('socketOnData', 'node:_http_client'), children: [11] },
      { id: 11, callFrame: frame('parserOnHeadersComplete', 'node:_http_common') },
      { id: 12, callFrame: frame('listOnTimeout', 'node:internal/timers') },
    ],
    startTime: 1_000,
    endTime: 2_000,
    // one sample of each at 100 us apart, then a second log sample outside the window
    samples: [4, 5, 7, 8, 9, 11, 12, 3, 4],
    timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 500],
  };
}

t.test('each sample goes to the innermost known area on its stack', async (t) => {
  const split = splitWindow(profile(), 1_000, 1_850);
  t.equal(split.busyMs, 1, '700 us busy (the idle sample left out), in whole milliseconds');
  const shares = split.shares;
  t.same(Object.keys(shares).sort(), [
    'admission: HTTP and fastify',
    'admission: decision, patch and answer (src/admission, src/core)',
    'admission: socket writes (TLS encryption and the send)',
    'garbage collection',
    'logging',
    'other JavaScript (timers, streams and sockets outside the areas above)',
    'watch events and cache',
  ]);
  // 7 busy samples of 100 us in the window (idle left out): each is 1/7.
  t.equal(shares.logging, 14.3, 'the log line under the handler is logging, not admission');
  t.equal(shares['admission: socket writes (TLS encryption and the send)'], 14.3);
  t.equal(shares['admission: HTTP and fastify'], 14.3, 'HTTP parser callbacks with nothing above them count for the server');
  t.equal(shares['watch events and cache'], 14.3, 'the same callback under the HTTP client is the watch');
  t.equal(shares['admission: decision, patch and answer (src/admission, src/core)'], 14.3);
});

t.test('the window keeps samples between its bounds only', async (t) => {
  const all = splitWindow(profile(), 0, 10_000);
  const late = splitWindow(profile(), 1_850, 10_000);
  t.same(Object.keys(late.shares), ['logging'], 'only the last sample is after 1,850 us');
  t.equal(all.shares.logging, 50, 'two log samples (100 + 500 us) of 1,200 us busy');
});

t.test('perWrite spreads the measured CPU per write over the shares', async (t) => {
  const out = perWrite({ busyMs: 10, shares: { a: 75, b: 25 } }, 2);
  t.same(out, { a: 1.5, b: 0.5 });
});
