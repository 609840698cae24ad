// The baseline: a bare MQTT.js subscriber that only writes each chunk to a file at its offset
// (no CRC, no fsync, no read-back). It acknowledges every 16 messages so the bare publisher
// can pace itself the way slotflip's does (mosquitto drops past 1000 queued messages).
// argv[2]: JSON { url, topic, ackTopic, target, chunkSize, chunks }

import * as fs from 'node:fs';
import mqtt from 'mqtt';

const o = JSON.parse(process.argv[2]!) as { url: string; topic: string; ackTopic: string; target: string; chunkSize: number; chunks: number };
const client = await mqtt.connectAsync(o.url, { clientId: `bench-bare-${process.pid}` });
(client.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
const fd = fs.openSync(o.target, 'w');
let count = 0;
client.on('message', (_topic, msg) => {
  const index = msg.readUInt32BE(28); // chunk index in slotflip's frame header
  fs.writeSync(fd, msg, 40, msg.length - 40, index * o.chunkSize);
  count++;
  if (count % 16 === 0 || count === o.chunks) client.publish(o.ackTopic, String(count), { qos: 0 });
  if (count === o.chunks) {
    fs.closeSync(fd);
    process.stdout.write(JSON.stringify({ done: true, ok: true, restRssKiB, cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
    void client.endAsync();
  }
});
await client.subscribeAsync(o.topic, { qos: 1 });
const restRssKiB = Math.round(process.memoryUsage().rss / 1024);
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
