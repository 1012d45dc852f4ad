// Runs inside a lab namespace (`ip netns exec NS node --experimental-websocket ws-pipe.mjs URL`)
// and joins that namespace's loopback UI WebSocket to stdio: each line on stdin is sent as one
// message, each message received is printed as one line. The Origin is the page's, as a browser
// would send it. Exits when the socket closes.
import { createInterface } from 'node:readline';

const page = new URL(process.argv[2]);
const ws = new WebSocket(`ws://${page.host}/ws?token=${page.searchParams.get('token')}`, {
  headers: { origin: page.origin },
});
ws.onmessage = (event) => process.stdout.write(`${event.data}\n`);
ws.onclose = () => process.exit(0);
ws.onerror = (event) => {
  process.stderr.write(`ws-pipe: ${event.message ?? 'websocket error'}\n`);
  process.exit(1);
};
ws.onopen = () => {
  createInterface({ input: process.stdin }).on('line', (line) => ws.send(line));
};
