"use strict";
// The live 3D view of a CameraPose stream, self-contained: a WebSocket from the viewer's server
// (/ws, one JSON object per message) and a small renderer on a 2D canvas (perspective projection,
// orbit camera), enough for lines: bones, a ground grid, camera frustums.
//
// Poses arrive in the camera frame of their stream (metres; x right, y down, z forward). They are
// drawn in a y-up world, (x, -y, z): the real camera sits at the origin looking along +z.
//
// The world stream (`run --calibration`, messages of type "world") is drawn in the calibration's
// world frame instead: its up axis (`up`, e.g. z for Qualisys) turned to the drawing's y
// (`worldMapping`), every calibrated camera as a frustum at its place, the floor (the world's
// up = 0 plane, or the lowest foot when the people stand well away from it) and each world id's
// skeleton. The page switches to the world stream by itself when one appears, unless a stream
// was picked by hand; the stream selector switches back and forth.

const PALETTE = ["#ff5a5a", "#3cc8ff", "#ffc83c", "#78e650", "#ff6ee6", "#ff963c", "#a08cff", "#3cf0b4"];
const BACKGROUND = "#14161b";
const GRID = "#2b3039";
const GRID_AXIS = "#404756";
const FOV = (50 * Math.PI) / 180; // vertical field of view of the orbit camera
const NEAR = 0.05; // m: lines closer to the orbit camera are clipped
const FRUSTUM_DEPTH = 0.6; // m: how far each estimated camera's frustum reaches
const WORLD_FRUSTUM_DEPTH = 0.5; // m: the same for the calibrated cameras of the world view
const CAMERA_COLOUR = "#aab4c8"; // the calibrated cameras (no person's colour)
const FLOOR_SNAP = 0.3; // m: feet this close to the world's 0 plane stand on it
const HEAD = 10; // joint index of the head (H36M-17), where the id label goes
const FEET = [3, 6]; // right and left foot: the ground is under the lowest one

const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const $ = (id) => document.getElementById(id);

const state = {
  bones: [], // [parent, child] joint pairs, from the server's hello
  latest: new Map(), // stream -> newest message
  selected: null, // the stream on screen
  shown: null, // the message on screen (held while paused)
  paused: false,
  received: 0, // pose messages received, all streams
  lastArrival: 0, // performance.now() of the last one
  floor: null, // world y of the ground (smoothed)
  userPicked: false, // a stream was chosen in the selector: no automatic switch to the world view
  dirty: true, // redraw on the next animation frame
  connected: false,
};
const orbit = { target: [0, -0.5, 3], yaw: 0.5, pitch: 0.35, dist: 7, framed: false };
window.cameraposeViewer = { palette: PALETTE, state, orbit };

// -- small vector helpers (3-vectors as arrays) --------------------------------------------------
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const normalize = (a) => scale(a, 1 / Math.hypot(a[0], a[1], a[2]));
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const finite = (p) => Array.isArray(p) && p.every((x) => typeof x === "number"); // null = not finite
const world = (p) => [p[0], -p[1], p[2]]; // camera frame (y down) -> drawing world (y up)

/** The world stream's frame (right-handed, `up` = [0, 0, 1] or another signed axis) -> the drawing
 * world (y up; x right and z away from the viewer at yaw 0, as the camera view's (x, -y, z)). */
function worldMapping(up) {
  const a = Math.max(0, up.findIndex((v) => v !== 0));
  const s = up[a] < 0 ? -1 : 1;
  const [e1, e2] = s > 0 ? [(a + 1) % 3, (a + 2) % 3] : [(a + 2) % 3, (a + 1) % 3];
  return (p) => [p[e1], s * p[a], p[e2]];
}

/** How a message's points go to the drawing world. */
const mappingOf = (msg) => (msg.type === "world" ? worldMapping(msg.up) : world);

/** A calibrated camera's centre and its ray through pixel (u, v), in world coordinates: x_cam = R x + t. */
function cameraCentre(cam) {
  const [R, t] = [cam.R, cam.t];
  return [0, 1, 2].map((i) => -(R[0][i] * t[0] + R[1][i] * t[1] + R[2][i] * t[2]));
}
function cameraRay(cam, u, vv) {
  const [fx, fy, cx, cy] = cam.K;
  const d = [(u - cx) / fx, (vv - cy) / fy, 1];
  return [0, 1, 2].map((i) => cam.R[0][i] * d[0] + cam.R[1][i] * d[1] + cam.R[2][i] * d[2]);
}

function colourOf(id) {
  return PALETTE[((id % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

// -- projection ------------------------------------------------------------------------------------
/** The orbit camera for this frame: eye, its axes (right, up, forward) and focal length in pixels. */
function viewBasis() {
  const cp = Math.cos(orbit.pitch);
  const back = [-Math.sin(orbit.yaw) * cp, Math.sin(orbit.pitch), -Math.cos(orbit.yaw) * cp];
  const f = scale(back, -1);
  const r = normalize(cross([0, 1, 0], f));
  return {
    eye: add(orbit.target, scale(back, orbit.dist)),
    r,
    u: cross(f, r),
    f,
    focal: (0.5 * canvas.height) / Math.tan(FOV / 2),
    centreX: (canvas.width + panelWidth()) / 2, // the middle of what the panel leaves visible
  };
}

function panelWidth() {
  const dpr = window.devicePixelRatio || 1;
  const w = $("panel").getBoundingClientRect().right * dpr;
  return w < canvas.width / 2 ? w : 0; // a narrow window: the panel floats over the middle
}

/** A world point -> orbit-camera coordinates [right, up, depth]. */
function toView(v, p) {
  const d = sub(p, v.eye);
  return [dot(d, v.r), dot(d, v.u), dot(d, v.f)];
}

function toScreen(v, q) {
  return [v.centreX + (v.focal * q[0]) / q[2], canvas.height / 2 - (v.focal * q[1]) / q[2]];
}

/** Add the segment a-b (world points) to the current path, clipped at the near plane. */
function segment(v, a, b) {
  let p = toView(v, a);
  let q = toView(v, b);
  if (p[2] < NEAR && q[2] < NEAR) return;
  if (p[2] < NEAR) [p, q] = [q, p];
  if (q[2] < NEAR) {
    const s = (p[2] - NEAR) / (p[2] - q[2]);
    q = [p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1]), NEAR];
  }
  const [x0, y0] = toScreen(v, p);
  const [x1, y1] = toScreen(v, q);
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
}

function stroke(colour, width, draw) {
  ctx.beginPath();
  draw();
  ctx.strokeStyle = colour;
  ctx.lineWidth = width * (window.devicePixelRatio || 1);
  ctx.stroke();
}

// -- scene -----------------------------------------------------------------------------------------
/** The ground: 1 m squares, 12 m wide and deep in front of the camera, under the lowest foot. */
function drawGrid(v) {
  const y = state.floor === null ? -1.6 : state.floor;
  stroke(GRID, 1, () => {
    for (let i = -6; i <= 6; i++) if (i !== 0) segment(v, [i, y, 0], [i, y, 12]);
    for (let k = 0; k <= 12; k++) segment(v, [-6, y, k], [6, y, k]);
  });
  stroke(GRID_AXIS, 1.5, () => segment(v, [0, y, 0], [0, y, 12])); // straight ahead of the camera
}

/** The world view's floor: 1 m squares over the people and the cameras (whole metres of the world
 * frame), at the floor's height; the world's two level axes brighter through its origin. */
function drawWorldGrid(v, msg) {
  const map = mappingOf(msg);
  const y = state.floor === null ? 0 : state.floor;
  const pts = msg.cameras.map((c) => map(cameraCentre(c)));
  for (const p of msg.persons) if (finite(p.kp3d[0])) pts.push(map(p.kp3d[0]));
  if (pts.length === 0) pts.push([0, 0, 0]);
  const lo = (k) => clamp(Math.floor(Math.min(...pts.map((p) => p[k]))) - 1, -40, 40);
  const hi = (k) => clamp(Math.ceil(Math.max(...pts.map((p) => p[k]))) + 1, -40, 40);
  const [x0, x1, z0, z1] = [lo(0), hi(0), lo(2), hi(2)];
  stroke(GRID, 1, () => {
    for (let i = x0; i <= x1; i++) if (i !== 0) segment(v, [i, y, z0], [i, y, z1]);
    for (let k = z0; k <= z1; k++) if (k !== 0) segment(v, [x0, y, k], [x1, y, k]);
  });
  stroke(GRID_AXIS, 1.5, () => {
    if (x0 <= 0 && x1 >= 0) segment(v, [0, y, z0], [0, y, z1]);
    if (z0 <= 0 && z1 >= 0) segment(v, [x0, y, 0], [x1, y, 0]);
  });
}

/** A calibrated camera of the world view: its frustum at its place (K and the image size,
 * WORLD_FRUSTUM_DEPTH deep, a triangle on the image's top edge) and its name. */
function drawWorldCamera(v, cam, map) {
  const c = cameraCentre(cam);
  const [w, h] = cam.size[0] > 0 && cam.size[1] > 0 ? cam.size : [2 * cam.K[2], 2 * cam.K[3]];
  const at = (u, vv) => map(add(c, scale(cameraRay(cam, u, vv), WORLD_FRUSTUM_DEPTH)));
  const corners = [at(0, 0), at(w, 0), at(w, h), at(0, h)];
  const centre = map(c);
  stroke(CAMERA_COLOUR, 1.3, () => {
    for (let i = 0; i < 4; i++) {
      segment(v, centre, corners[i]);
      segment(v, corners[i], corners[(i + 1) % 4]);
    }
    const apex = at(w / 2, -0.15 * h);
    segment(v, at(0.35 * w, 0), apex);
    segment(v, apex, at(0.65 * w, 0));
  });
  const q = toView(v, centre);
  if (q[2] > NEAR) {
    const [x, y] = toScreen(v, q);
    const dpr = window.devicePixelRatio || 1;
    ctx.font = `${12 * dpr}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillStyle = CAMERA_COLOUR;
    ctx.fillText(cam.name, x, y - 8 * dpr);
  }
}

/** A person's camera: rays from the origin to the image corners (fx, fy, cx, cy and the image size,
 * back-projected FRUSTUM_DEPTH metres), a triangle on the image's top edge, and a dotted line to
 * the person's pelvis (camera.t). */
function drawFrustum(v, person, size) {
  const c = person.camera;
  const [w, h] = size;
  const at = (u, vv) => world(scale([(u - c.cx) / c.fx, (vv - c.cy) / c.fy, 1], FRUSTUM_DEPTH));
  const corners = [at(0, 0), at(w, 0), at(w, h), at(0, h)];
  const colour = colourOf(person.id);
  ctx.globalAlpha = 0.8;
  stroke(colour, 1.2, () => {
    for (let i = 0; i < 4; i++) {
      segment(v, [0, 0, 0], corners[i]);
      segment(v, corners[i], corners[(i + 1) % 4]);
    }
    const apex = at(w / 2, -0.15 * h);
    segment(v, at(0.35 * w, 0), apex);
    segment(v, apex, at(0.65 * w, 0));
  });
  if (finite(c.t)) {
    ctx.globalAlpha = 0.35;
    ctx.setLineDash([3, 5]);
    stroke(colour, 1, () => segment(v, [0, 0, 0], world(c.t)));
    ctx.setLineDash([]);
  }
  ctx.globalAlpha = 1;
}

function drawPerson(v, person, map = world) {
  const joints = person.kp3d.map((p) => (finite(p) ? map(p) : null));
  const colour = colourOf(person.id);
  // World persons: a bone to a joint no camera pair saw (filled from a monocular pose) is paler,
  // and a person only one camera saw is dashed.
  const mono = person.views ? person.views.map((n) => n === 0) : joints.map(() => false);
  const bones = (filled) => () => {
    for (const [a, b] of state.bones) {
      if (joints[a] && joints[b] && (mono[a] || mono[b]) === filled) segment(v, joints[a], joints[b]);
    }
  };
  ctx.lineCap = "round";
  if (person.single_view) ctx.setLineDash([8, 6]);
  stroke(colour, 4, bones(false));
  ctx.globalAlpha = 0.4;
  stroke(colour, 4, bones(true));
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
  const head = joints[HEAD];
  if (head && toView(v, head)[2] > NEAR) {
    const [x, y] = toScreen(v, toView(v, head));
    const dpr = window.devicePixelRatio || 1;
    ctx.font = `bold ${14 * dpr}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillStyle = colour;
    ctx.fillText(`#${person.id}`, x, y - 14 * dpr);
  }
}

function draw() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, w, h);
  const v = viewBasis();
  const msg = state.shown;
  if (msg && msg.type === "world") {
    const map = mappingOf(msg);
    drawWorldGrid(v, msg);
    for (const c of msg.cameras) drawWorldCamera(v, c, map);
    for (const p of msg.persons) drawPerson(v, p, map);
    return;
  }
  drawGrid(v);
  if (!msg) return;
  for (const p of msg.persons) drawFrustum(v, p, msg.image_size);
  for (const p of msg.persons) drawPerson(v, p);
}

function tick() {
  if (state.dirty) {
    state.dirty = false;
    draw();
  }
  requestAnimationFrame(tick);
}

// -- framing ---------------------------------------------------------------------------------------
/** Point the orbit camera between the real camera and the people, seen from behind and above. */
function frame(msg) {
  if (msg.type === "world") return frameWorld(msg);
  const pelvises = msg.persons.map((p) => p.camera.t).filter(finite).map(world);
  if (pelvises.length === 0) return;
  const centre = scale(pelvises.reduce(add, [0, 0, 0]), 1 / pelvises.length);
  orbit.target = scale(centre, 0.6);
  orbit.dist = clamp(1.1 * Math.hypot(...centre) + 2, 3, 60);
  orbit.yaw = 0.5;
  orbit.pitch = 0.35;
  orbit.framed = true;
}

/** The world view: the people in the middle, every camera in sight, seen from above. */
function frameWorld(msg) {
  const map = mappingOf(msg);
  const cams = msg.cameras.map((c) => map(cameraCentre(c)));
  const people = msg.persons.map((p) => p.kp3d[0]).filter(finite).map(map);
  const pts = people.length ? people : cams;
  if (pts.length === 0) return;
  const centre = scale(pts.reduce(add, [0, 0, 0]), 1 / pts.length);
  const reach = Math.max(1, ...cams.map((c) => Math.hypot(...sub(c, centre))));
  orbit.target = [centre[0], centre[1] - 0.3, centre[2]];
  orbit.dist = clamp(1.7 * reach + 1, 3, 60);
  orbit.yaw = 0.5;
  orbit.pitch = 0.6;
  orbit.framed = true;
}

function updateFloor(msg) {
  let lowest = null;
  const map = mappingOf(msg);
  for (const p of msg.persons) {
    for (const j of FEET) {
      const q = p.kp3d[j];
      const y = finite(q) ? map(q)[1] : null;
      if (y !== null && (lowest === null || y < lowest)) lowest = y;
    }
  }
  if (msg.type === "world") {
    // The calibration's floor is its up = 0 plane, unless the feet are well away from it.
    if (lowest === null || Math.abs(lowest) <= FLOOR_SNAP) {
      state.floor = 0;
      return;
    }
  }
  if (lowest === null) return;
  state.floor = state.floor === null ? lowest : state.floor + 0.1 * (lowest - state.floor);
}

// -- panel -----------------------------------------------------------------------------------------
function setText(id, text) {
  $(id).textContent = text;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const [tag, text] of cells) {
    const cell = document.createElement(tag);
    cell.textContent = text;
    tr.append(cell);
  }
  return tr;
}

function personLine(p) {
  if (p.views) {
    const cams = Object.keys(p.tracks).length;
    const px = p.reproj_px === null ? "" : ` · ${p.reproj_px.toFixed(1)} px`;
    return p.single_view ? `1 camera (single view)` : `${cams} cameras${px}`;
  }
  const z = finite(p.camera.t) ? ` · z ${p.camera.t[2].toFixed(2)} m` : "";
  return `f ${Math.round(p.camera.fx)} px${z}`;
}

function modeText(msg) {
  if (msg.type !== "world") return `camera ${msg.stream}`;
  const axis = "xyz"[Math.max(0, msg.up.findIndex((v) => v !== 0))];
  const sign = msg.up.some((v) => v < 0) ? "-" : "";
  return `world, ${sign}${axis} up, ${msg.cameras.length} cams`;
}

function updatePanel(msg) {
  setText("mode", modeText(msg));
  setText("frame", msg.frame);
  setText("fps", msg.fps.toFixed(1));
  setText("latency", `${msg.latency_ms.toFixed(1)} ms`);
  setText("dropped", msg.dropped === null ? "–" : msg.dropped);
  $("timings").replaceChildren(
    ...Object.entries(msg.timings).map(([stage, ms]) => row([["th", stage], ["td", ms.toFixed(1)]])),
  );
  $("people").replaceChildren(
    ...msg.persons.map((p) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colourOf(p.id);
      name.append(swatch, `#${p.id}`);
      const cam = document.createElement("span");
      cam.textContent = personLine(p);
      li.append(name, cam);
      return li;
    }),
  );
}

function show(msg) {
  state.shown = msg;
  updateFloor(msg);
  if (!orbit.framed) frame(msg);
  updatePanel(msg);
  state.dirty = true;
}

function select(stream) {
  state.selected = stream;
  $("stream").value = stream;
  state.floor = null;
  orbit.framed = false;
  const msg = state.latest.get(stream);
  if (msg) show(msg);
}

// -- the stream ------------------------------------------------------------------------------------
function onMessage(msg) {
  if (msg.type === "hello") {
    state.bones = msg.bones;
    setText("status", `waiting for poses from ${msg.endpoint}`);
    return;
  }
  if (msg.type !== "pose" && msg.type !== "world") return;
  state.received += 1;
  state.lastArrival = performance.now();
  setText("frames", state.received);
  if (!state.latest.has(msg.stream)) {
    const option = document.createElement("option");
    option.value = msg.stream;
    option.textContent = msg.type === "world" ? `${msg.stream} (all cameras)` : msg.stream;
    $("stream").append(option);
  }
  state.latest.set(msg.stream, msg);
  const shownWorld = state.shown !== null && state.shown.type === "world";
  if (state.selected === null) select(msg.stream);
  else if (msg.type === "world" && !shownWorld && !state.userPicked && !state.paused) select(msg.stream);
  else if (!state.paused && msg.stream === state.selected) show(msg);
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => {
    state.connected = true;
    setText("status", "connected");
  };
  ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  ws.onclose = () => {
    state.connected = false;
    setText("status", "viewer server gone; retrying…");
    setTimeout(connect, 1000);
  };
}

// -- controls --------------------------------------------------------------------------------------
let drag = null;
canvas.addEventListener("pointerdown", (e) => {
  drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button !== 0 };
  canvas.setPointerCapture(e.pointerId);
});
canvas.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x;
  const dy = e.clientY - drag.y;
  [drag.x, drag.y] = [e.clientX, e.clientY];
  if (drag.pan) {
    const v = viewBasis();
    const k = (orbit.dist / v.focal) * (window.devicePixelRatio || 1); // metres per pixel at the target
    orbit.target = add(orbit.target, add(scale(v.r, -dx * k), scale(v.u, dy * k)));
  } else {
    orbit.yaw += dx * 0.008;
    orbit.pitch = clamp(orbit.pitch + dy * 0.008, -1.5, 1.5);
  }
  state.dirty = true;
});
const endDrag = () => (drag = null);
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);
canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener(
  "wheel",
  (e) => {
    e.preventDefault();
    orbit.dist = clamp(orbit.dist * Math.exp(e.deltaY * 0.001), 0.5, 100);
    state.dirty = true;
  },
  { passive: false },
);
canvas.addEventListener("dblclick", () => {
  orbit.framed = false;
  if (state.shown) frame(state.shown);
  state.dirty = true;
});
$("stream").addEventListener("change", (e) => {
  state.userPicked = true;
  select(e.target.value);
});
$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").textContent = state.paused ? "resume" : "pause";
  const msg = state.latest.get(state.selected);
  if (!state.paused && msg) show(msg);
});
window.addEventListener("resize", () => (state.dirty = true));
setInterval(() => {
  const quiet = (performance.now() - state.lastArrival) / 1000;
  if (state.connected && state.received > 0) setText("status", quiet > 2 ? `no poses for ${quiet.toFixed(0)} s` : "live");
}, 1000);

connect();
requestAnimationFrame(tick);
