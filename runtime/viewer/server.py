"""The viewer's server: one ZeroMQ SUB socket -> every open page, over a WebSocket (aiohttp).

    pump:   SUB socket -> decode (schema v1, no pickle) -> JSON text once -> every client's mailbox
    client: mailbox -> WebSocket, as fast as that browser takes it

The pump never waits for a browser: each client keeps only the newest message per stream
(bridge.Mailbox), so a slow or frozen tab sees fewer frames and never backs up the stream. The
viewer is an ordinary subscriber: closing it, or any page, leaves the runtime unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path

import zmq
import zmq.asyncio
from aiohttp import web
from aiohttp.typedefs import Handler

from camerapose.core.errors import InputError
from camerapose.runtime.wire.client import connect
from camerapose.runtime.wire.schema import SchemaError, decode

from .bridge import MAX_STREAMS, Mailbox, RateMeter, hello_json, request_allowed, stream_of, view_json

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PUMP = web.AppKey("pump", asyncio.Task)


def _dumps(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class Client:
    """One open page: its mailbox and the task that empties it into the WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.box = Mailbox()
        self.ready = asyncio.Event()
        self.sent = 0

    def offer(self, stream: str, text: str) -> None:
        self.box.put(stream, text)
        self.ready.set()

    async def send_loop(self) -> None:
        """Send what the mailbox holds; `send_str` waits while the browser's socket is full, and
        meanwhile newer messages replace the pending ones."""
        with contextlib.suppress(ConnectionError, RuntimeError):  # the page went away mid-send
            while not self.ws.closed:
                await self.ready.wait()
                self.ready.clear()
                for text in self.box.take():
                    await self.ws.send_str(text)
                    self.sent += 1


class Viewer:
    """The bridge: `pump()` reads the stream, `offer`s each message to every client."""

    def __init__(self, endpoint: str, streams: list[str] | None = None, server_key: str | None = None,
                 hwm: int = 1000) -> None:
        self.endpoint = endpoint
        self.streams = set(streams) if streams else None
        self.server_key = server_key
        self.hwm = hwm
        self.clients: set[Client] = set()
        self.meters: dict[str, RateMeter] = {}
        self.pumped = 0  # valid messages read from the stream
        self.skipped = 0  # invalid or unwanted ones
        self.hello = _dumps(hello_json(endpoint, self.streams))
        self.ctx: zmq.asyncio.Context | None = None
        self.sock: zmq.asyncio.Socket | None = None

    def open(self) -> None:
        """Connect the SUB socket (the wire client's: size limit, CURVE key, exact topics); InputError
        if ZeroMQ refuses the endpoint (e.g. a too long ipc path) or the key."""
        self.ctx = zmq.asyncio.Context()
        try:
            streams = sorted(self.streams) if self.streams else None
            self.sock = connect(self.endpoint, streams, self.server_key or None, self.hwm, self.ctx)
        except InputError:
            self.ctx.term()
            raise

    def dispatch(self, topic: bytes, payload: bytes) -> None:
        """One ZeroMQ message -> every client's mailbox (as JSON text), or skipped (counted)."""
        name = stream_of(topic, self.streams)
        if name is None or (name not in self.meters and len(self.meters) >= MAX_STREAMS):
            self.skipped += 1
            return
        try:
            msg = decode(payload)
        except SchemaError as err:
            self.skipped += 1
            log.debug("skipping an invalid message on %r: %s", topic[:64], err)
            return
        if msg["stream"] != name:
            self.skipped += 1
            return
        fps = self.meters.setdefault(name, RateMeter()).add(msg["t_publish"])
        self.pumped += 1
        if self.clients:
            text = _dumps(view_json(msg, fps))
            for client in self.clients:
                client.offer(name, text)

    async def pump(self) -> None:
        """Read the stream until cancelled (opens the socket first if `open` was not called)."""
        if self.sock is None:
            self.open()
        try:
            while True:
                parts = await self.sock.recv_multipart()
                if len(parts) == 2:
                    self.dispatch(parts[0], parts[1])
                else:
                    self.skipped += 1
        finally:
            self.sock.close(0)
            self.ctx.term()
            self.sock = self.ctx = None

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096, compress=False)
        await ws.prepare(request)
        client = Client(ws)
        await ws.send_str(self.hello)
        self.clients.add(client)
        sender = asyncio.create_task(client.send_loop())
        try:
            async for _ in ws:  # the page sends nothing we need; this ends when it closes
                pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws


def make_app(viewer: Viewer, allow_remote: bool = False) -> web.Application:
    """The page (/), its files (/static/...) and the stream (/ws), for this host's pages only
    (bridge.request_allowed); the pump runs with the app."""

    @web.middleware
    async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request_allowed(request.host, request.headers.get("Origin"), allow_remote):
            raise web.HTTPForbidden(text="the viewer answers its own pages only\n")
        return await handler(request)

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def start_pump(app: web.Application) -> None:
        app[PUMP] = asyncio.create_task(viewer.pump())

    async def stop_pump(app: web.Application) -> None:
        app[PUMP].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[PUMP]

    app = web.Application(middlewares=[same_origin])
    app.router.add_get("/", index)
    app.router.add_get("/ws", viewer.websocket)
    app.router.add_static("/static/", STATIC)
    app.on_startup.append(start_pump)
    app.on_cleanup.append(stop_pump)
    return app


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def serve(viewer: Viewer, host: str, port: int, allow_remote: bool = False) -> int:
    """Serve until SIGINT or SIGTERM; prints the page's URL (with the real port when port is 0).
    Returns the exit code: 130 after SIGINT (Ctrl-C), as every command; 0 after SIGTERM."""
    viewer.open()  # a refused endpoint is one line before anything is served
    runner = web.AppRunner(make_app(viewer, allow_remote), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise InputError(f"cannot serve the viewer on {host}:{port}: {err.strerror or err}") from None
    bound = runner.addresses[0][1]  # the real port when port is 0
    print(f"camerapose view: {url_of(host, bound)}  (poses from {viewer.endpoint})", flush=True)
    stop = asyncio.Event()
    caught: list[int] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda sig=sig: (caught.append(sig), stop.set()))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 130 if signal.SIGINT in caught else 0


def run(endpoint: str, streams: list[str] | None, host: str, port: int, server_key: str | None,
        allow_remote: bool = False) -> int:
    return asyncio.run(serve(Viewer(endpoint, streams, server_key), host, port, allow_remote))
