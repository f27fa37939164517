// Subscribe to a CameraPose pose stream from Node.js, with stock ZeroMQ + msgpack (schema v1,
// docs/schema.md). Prints one line per message, or with --json one JSON object per message.
//
//   npm install            (in examples/js)
//   node subscriber.js [--endpoint tcp://127.0.0.1:5555] [--stream NAME]... [--count N] [--json]
//
// ZeroMQ filters topics by prefix: subscribing to "pose.cam" also delivers "pose.cam2". So the
// topic of every message is compared with the wanted ones, exactly.
"use strict";

const zmq = require("zeromq");
const { decode } = require("@msgpack/msgpack");

const MAX_MESSAGE_BYTES = 4 << 20; // docs/schema.md: a peer sending a bigger frame is disconnected

// A wire array {dtype: "<f4", shape: [...], data: <bin>} -> nested JS arrays of numbers.
function toArray(obj) {
  if (obj.dtype !== "<f4") throw new Error(`unsupported dtype ${obj.dtype}`);
  const n = obj.shape.reduce((a, b) => a * b, 1);
  if (obj.data.byteLength !== 4 * n) throw new Error("array data has the wrong length");
  const view = new DataView(obj.data.buffer, obj.data.byteOffset, obj.data.byteLength);
  const flat = Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true)); // little-endian
  const nest = (offset, dims) => {
    if (dims.length === 0) return flat[offset];
    const step = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0] }, (_, i) => nest(offset + i * step, dims.slice(1)));
  };
  return nest(0, obj.shape);
}

function parseArgs(argv) {
  const args = { endpoint: "tcp://127.0.0.1:5555", streams: [], count: 0, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--endpoint") args.endpoint = argv[++i];
    else if (argv[i] === "--stream") args.streams.push(argv[++i]);
    else if (argv[i] === "--count") args.count = parseInt(argv[++i], 10);
    else if (argv[i] === "--json") args.json = true;
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const sock = new zmq.Subscriber({ maxMessageSize: MAX_MESSAGE_BYTES });
  sock.connect(args.endpoint);
  const wanted = new Set(args.streams.map((s) => `pose.${s}`));
  if (wanted.size === 0) sock.subscribe("pose.");
  for (const t of wanted) sock.subscribe(t);
  let n = 0;
  for await (const [topic, payload] of sock) {
    if (wanted.size > 0 && !wanted.has(topic.toString())) continue; // e.g. pose.cam2 for pose.cam
    const msg = decode(payload);
    if (msg.schema !== 1) throw new Error(`schema ${msg.schema}, this example reads 1`);
    const persons = msg.persons.map((p) => ({
      id: p.id,
      score: p.score,
      kp2d: toArray(p.kp2d),
      conf: toArray(p.conf),
      kp3d: toArray(p.kp3d),
      camera: { fx: p.camera.fx, fy: p.camera.fy, cx: p.camera.cx, cy: p.camera.cy, t: toArray(p.camera.t) },
    }));
    if (args.json) {
      console.log(JSON.stringify({ topic: topic.toString(), stream: msg.stream, frame: msg.frame,
        t_capture: msg.t_capture, t_publish: msg.t_publish, t_media: msg.t_media, fps: msg.fps,
        image_size: msg.image_size, // t_media, fps: absent from older runtimes' messages (omitted)
        timings: msg.timings, persons }));
    } else {
      const who = persons.map((p) => `id ${p.id} pelvis z ${p.kp3d[0][2].toFixed(2)} m fx ${p.camera.fx.toFixed(0)}`);
      console.log(`${msg.stream} #${msg.frame} ${msg.timings.total.toFixed(1)} ms  ${who.join("  ")}`);
    }
    if (args.count && ++n >= args.count) break;
  }
  sock.close();
}

main().catch((err) => {
  console.error(`subscriber: ${err.message}`);
  process.exit(1);
});
