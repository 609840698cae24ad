// The few things the transfer needs from MQTT.js beyond publish/subscribe: TCP_NODELAY on every
// (re)connected socket, acknowledging a QoS 1 message only once it is handled (which turns the
// broker's delivery into backpressure on a slow writer), and keeping a receiver's memory flat.

import type { IPublishPacket, MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';

// MQTT.js's packet writer (mqtt-packet) fills a cache of 65,536 two-byte Buffers on the first
// packet written, unless a client is created with `writeCache: false`. Those Buffers cost about
// 6 MiB of heap, and building them grows the young generation to its maximum: 15–18 MiB of RSS
// for the life of the process, a quarter of a 64 MiB device's budget, to save a 2-byte
// allocation per packet id. The switch is global to the module, and every slotflip process
// that talks MQTT loads this file before it creates a client, so turn it off here.
mqttPacket.writeToStream.cacheNumbers = false;

/**
 * Sets TCP_NODELAY on the client's socket now and after every reconnect. Without it Nagle's
 * algorithm holds back the small acks and frame tails, and small chunks crawl. Returns a
 * function that stops watching reconnects.
 */
export function setNoDelay(client: MqttClient): () => void {
  const apply = (): void => {
    const s = client.stream as unknown as { setNoDelay?: (on: boolean) => unknown; socket?: { setNoDelay?: (on: boolean) => unknown } };
    if (typeof s?.setNoDelay === 'function') s.setNoDelay(true);
    else if (typeof s?.socket?.setNoDelay === 'function') s.socket.setNoDelay(true); // websocket duplex wrappers
  };
  if (client.connected) apply();
  client.on('connect', apply);
  return () => client.off('connect', apply);
}

/**
 * Young-generation garbage collection paced by the bytes received, for processes started with
 * --expose-gc (the agent's service units do; docs/service.md). Every chunk frame leaves about
 * twice its size in dead Buffers outside the JS heap (MQTT.js copies each message out of the
 * socket's 64 KiB reads), while the JS heap itself grows slowly, so V8 scavenges rarely and
 * the dead Buffers pile up to 30–40 MiB before its external-memory trigger fires. A scavenge
 * every few MiB frees them for well under a millisecond each. Not more often: a frame's Buffer
 * lives until its write finishes, and one that is alive at two scavenges is promoted to the
 * old generation, where only a full collection frees it (scavenging every message or two
 * measured worse than not at all). Hence at least 8 messages of the largest size seen.
 */
class GcPacer {
  everyBytes = 4 * 1024 * 1024;
  private bytes = 0;
  private largest = 0;
  private readonly gc = (globalThis as { gc?: (o: { type: 'minor'; execution: 'sync' }) => void }).gc;

  received(size: number): void {
    if (!this.gc || this.everyBytes <= 0) return;
    this.bytes += size;
    if (size > this.largest) this.largest = size;
    if (this.bytes >= Math.max(this.everyBytes, 8 * this.largest)) {
      this.bytes = 0;
      this.gc({ type: 'minor', execution: 'sync' });
    }
  }
}

const gcPacer = new GcPacer();

/** Sets the bytes of routed messages between two scavenges (0: never); for tuning and benchmarks. */
export function setGcPace(everyBytes: number): void {
  gcPacer.everyBytes = everyBytes;
}

export type MessageHandler = (payload: Buffer, packet: IPublishPacket) => void | Promise<void>;

/**
 * Routes messages by exact topic to async handlers. MQTT.js calls handleMessage one packet at
 * a time and sends the PUBACK only when its callback runs, so a handler that awaits a disk
 * write holds back the next packet. Topics without a route go to the previous handleMessage,
 * so other users of the same client are not disturbed.
 */
export class MessageRouter {
  private readonly routes = new Map<string, { handler: MessageHandler; onError: (err: unknown) => void }>();

  constructor(client: MqttClient) {
    const previous = client.handleMessage.bind(client);
    client.handleMessage = (packet, callback) => {
      const route = this.routes.get(packet.topic);
      if (!route) {
        previous(packet, callback);
        return;
      }
      gcPacer.received((packet.payload as Buffer).length);
      let result: void | Promise<void>;
      try {
        result = route.handler(packet.payload as Buffer, packet);
      } catch (err) {
        route.onError(err);
        callback();
        return;
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(
          () => callback(),
          (err: unknown) => {
            // The message is still acknowledged: the owner of the route decides what a failure
            // means (the receiver stops the transfer), redelivery would not change it.
            route.onError(err);
            callback();
          },
        );
      } else {
        callback();
      }
    };
  }

  /** Claims a topic; returns the function that releases it. */
  route(topic: string, handler: MessageHandler, onError: (err: unknown) => void): () => void {
    if (this.routes.has(topic)) throw new Error(`topic ${topic} already has a handler`);
    const entry = { handler, onError };
    this.routes.set(topic, entry);
    return () => {
      if (this.routes.get(topic) === entry) this.routes.delete(topic);
    };
  }
}

const routers = new WeakMap<MqttClient, MessageRouter>();

/** The client's router, installed on first use. */
export function messageRouter(client: MqttClient): MessageRouter {
  let r = routers.get(client);
  if (!r) {
    r = new MessageRouter(client);
    routers.set(client, r);
  }
  return r;
}

/**
 * SUBSCRIBE that survives a connection drop while it is pending (MQTT.js rejects it with
 * "Connection closed"): waits for the reconnect and subscribes again, until `gaveUp()` says
 * the caller has ended for another reason.
 */
export async function subscribeSurely(client: MqttClient, topic: string, opts: { qos: 0 | 1 | 2 }, gaveUp: () => boolean): Promise<void> {
  for (;;) {
    try {
      await client.subscribeAsync(topic, opts);
      return;
    } catch (err) {
      if (gaveUp() || client.disconnecting) throw err;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          client.off('connect', done);
          resolve();
        };
        const timer = setTimeout(done, 1000);
        client.on('connect', done);
      });
    }
  }
}
