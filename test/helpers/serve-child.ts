// A playground server in a child process of its own, for tests that measure the server's memory: started with the run
// folders in argv (as `deepgen serve` reads them), it sends {port} over IPC once it listens and answers each message
// with its memory: rss now and the peak (maxRSS) since it started, in bytes.
import { readRuns } from '../../src/node/leaderboard.ts';
import { playgroundServer, servedRuns } from '../../src/node/serve.ts';

const server = playgroundServer(servedRuns(readRuns(process.argv.slice(2), () => {})), null);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send!({ port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('message', () =>
  process.send!({ rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 }),
);
process.on('disconnect', () => process.exit(0));
