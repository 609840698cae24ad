// The MQTT chunk transfer's public face: topics, the publisher (serveRelease), the receiver
// (receiveRelease), announcements and the codecs other parts may need. See docs/protocol.md.

export * from './topics.js';
export * from './errors.js';
export { serveRelease, ReleaseServer, type ServeOptions, type DeviceProgress, type PublisherStats } from './publisher.js';
export { receiveRelease, ReleaseReceiver, type ReceiveOptions, type ReceiveProgress, type ReceiveResult, type ChunkSink, type ReceiverStats } from './receiver.js';
export { announceRelease, withdrawAnnouncements, announcementMessages, type AnnounceOptions } from './announce.js';
export { decodeAnnouncement, announcementTargets, type Announcement } from './messages.js';
export { encodeEnvelope, decodeEnvelope } from './envelope.js';
export { removeTransferState, bitmapPath } from './bitmap-store.js';
export { setNoDelay, messageRouter } from './mqtt.js';
export { DEFAULT_WINDOW, type WindowOptions } from './flow.js';
export { FileChunkSink, type FileTarget } from './file-sink.js';
