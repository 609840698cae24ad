// QEMU guestfwd command: QEMU runs one per guest connection with the connection on stdin and
// stdout; this joins it to the host broker on 127.0.0.1:PORT (QEMU's tcp chardev form would
// connect once at start-up and allow a single connection only).
import { connect } from 'node:net';

const port = Number(process.argv[2]);
const socket = connect(port, '127.0.0.1');
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
process.stdin.on('end', () => socket.end());
