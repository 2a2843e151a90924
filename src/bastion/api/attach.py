"""`POST /containers/{id}/attach` and `/containers/{id}/resize`: the hijacked stream over the
container's monitor (engine/attach.py: conmon's attach socket and its control fifo).

A client that attaches before the container starts (`docker run`, `docker start -a`) is told
`101 UPGRADED` at once and waits in `Pending`; `start` connects one monitor connection per
waiting client between the monitor's create and the process's start (`Engine.start`'s
`on_created`), so not a byte the process writes is missed. A client attaching to a running
container gets what it writes from then on (and its past log with `logs=1`).

Without a TTY the output is stdcopy-framed (stdout 1, stderr 2), with one raw. What the client
sends goes to the container's stdin (when it was made with `OpenStdin` and `stdin=1` is asked);
the client's half-close ends the container's stdin and the output goes on until the process
ends; the monitor then closes its connection, and so do we.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api import streams, trace
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine, look

if TYPE_CHECKING:
    from bastion.engine import ContainerRecord, Engine
    from bastion.engine.attach import Attachment


class Pending:
    """Clients attached to containers that have not started yet, by container id."""

    def __init__(self) -> None:
        self.waiting: defaultdict[str, list[asyncio.Future[Attachment]]] = defaultdict(list)

    def wait_for(self, container_id: str) -> asyncio.Future[Attachment]:
        future: asyncio.Future[Attachment] = asyncio.get_running_loop().create_future()
        self.waiting[container_id].append(future)
        return future

    def take(self, container_id: str) -> list[asyncio.Future[Attachment]]:
        return [f for f in self.waiting.pop(container_id, []) if not f.done()]


PENDING = web.AppKey("pending_attaches", Pending)


def register(app: web.Application) -> None:
    app[PENDING] = Pending()
    add(app, "POST", "/containers/{id}/attach", attach)
    add(app, "POST", "/containers/{id}/resize", resize)


async def start_attached(request: web.Request, container_id: str) -> ContainerRecord:
    """Start the container, handing a monitor connection to every client waiting in `attach`
    before its process runs (see the module docstring)."""
    futures = request.app[PENDING].take(container_id)
    made: list[Attachment] = []

    def run(engine: Engine) -> ContainerRecord:
        def connect(record: ContainerRecord) -> None:
            trace.mark(record.id, "monitor-made")
            made.extend(engine.attach(record.id) for _ in futures)

        record = engine.start(container_id, on_created=connect if futures else None)
        trace.mark(record.id, "process-started")
        return record

    try:
        record = await in_engine(request, run)
    except BaseException as exc:
        for attachment in made:
            attachment.close()
        for future in futures:
            if not future.done():  # its client may have left meanwhile
                future.set_exception(exc if isinstance(exc, Exception) else ApiError(500, "stop"))
        raise
    for future, attachment in zip(futures, made, strict=True):
        if future.done():  # its client went away meanwhile
            attachment.close()
        else:
            future.set_result(attachment)
    return record


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def attach(request: web.Request) -> web.StreamResponse:
    from bastion.api.containers import REMOVALS

    ident = request.match_info["id"]
    record = look(request, lambda e: e.container(ident))  # 404 before the upgrade
    if record.status not in ("created", "starting", "running"):
        raise ApiError(409, "You cannot attach to a stopped container, start it first")
    removals = request.app[REMOVALS]
    await removals.reading(record.id, +1)
    try:
        return await _attach(request, record)
    finally:
        await removals.reading(record.id, -1)


#: Seconds at most the past log waits for the client to read the upgrade's headers (see
#: `_attach`); all of them on TCP, where that read cannot be seen.
HEADERS_ALONE = 0.05


async def _attach(request: web.Request, record: ContainerRecord) -> web.StreamResponse:
    tty = bool(record.config.get("tty"))
    keys = detach_keys(request)  # a 400 before the upgrade
    if request.query.get("stream", "").lower() in ("0", "false", "no"):
        # moby's `stream=false`: the past log only (`logs=1`), nothing live. Only an explicit
        # false ends here: the clients that stream all send stream=1, but one that leaves it
        # out has always been streamed to
        response, raw = await streams.hijack(request, tty=tty)
        if _flag(request, "logs"):
            # docker-py reads the headers through a buffered reader and the output from the
            # raw socket: bytes that arrive with the headers are lost. A live stream's first
            # output comes later by itself; a replay waits until the headers have been read.
            await raw.headers_read(HEADERS_ALONE)
            await _replay_log(request, record, raw, tty)
        raw.close()
        return response
    future = request.app[PENDING].wait_for(record.id) if record.status != "running" else None
    # the headers go out before the process starts: the docker CLI starts it once it has them
    response, raw = await streams.hijack(request, tty=tty)
    try:
        attachment = await _connect(request, record, future, lambda: raw.gone)
    except Exception as exc:
        raw.write(_error_bytes(str(exc), tty))
        raw.close()
        return response
    if attachment is None:  # it ended before we could connect: what it wrote
        if not raw.gone:
            await _replay_log(request, record, raw, tty)
        raw.close()
        return response
    if future is None and _flag(request, "logs"):
        await raw.headers_read(HEADERS_ALONE)  # as above: not with the headers
        await _replay_log(request, record, raw, tty)
    trace.mark(record.id, "attach-connected")
    stdin = _flag(request, "stdin") and bool(record.config.get("interactive"))
    await pump(
        attachment,
        raw,
        tty=tty,
        stdin=stdin,
        stdout=_flag(request, "stdout"),
        stderr=_flag(request, "stderr"),
        # on a terminal only, as `bastion attach`: piped bytes are data, whatever they are
        detach_keys=keys if tty else None,
    )
    return response


async def _connect(
    request: web.Request,
    record: ContainerRecord,
    future: asyncio.Future[Attachment] | None,
    gone: Callable[[], bool],
) -> Attachment | None:
    """A monitor connection: the one `start` made for us, or our own to a running container
    (None when it has ended meanwhile)."""
    from bastion.engine import ContainerStateError

    if future is not None:
        while True:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(future), 0.5)
            if gone():  # the client left before the start: nothing to connect
                future.cancel()
                return None
            # started by someone else without us (`bastion start`): connect as to a running one
            current = look(request, lambda e: e.container(record.id))
            if current.status not in ("created", "starting"):
                if future.done() and not future.cancelled():
                    return future.result()  # `start` handed it over meanwhile
                future.cancel()
                break
    try:
        attachment = await in_engine(request, lambda e: e.attach(record.id))
    except ContainerStateError:
        return None
    return attachment


async def _replay_log(
    request: web.Request, record: ContainerRecord, raw: streams.Hijacked, tty: bool
) -> None:
    """The container's log so far, as the stream would have carried it."""
    lines = await in_engine(request, lambda e: list(e.logs(record.id)))
    for line in lines:
        text = line.text if line.partial else line.text + b"\n"
        stream = streams.STDERR if line.stream == "stderr" else streams.STDOUT
        raw.write(text if tty else streams.frame(stream, text))


def _error_bytes(message: str, tty: bool) -> bytes:
    text = f"Error: {message}\n".encode()
    return text if tty else streams.frame(streams.STDERR, text)


async def pump(
    attachment: Attachment,
    raw: streams.Hijacked,
    *,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: bytes | None = None,
) -> None:
    """Copy between the monitor connection and the client until the monitor closes it (the
    process ended), the client goes away or types `detach_keys`; then close both."""
    from bastion.engine.attach import STDERR

    loop = asyncio.get_running_loop()
    output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    def receive() -> None:
        try:
            while (packet := attachment.receive()) is not None:
                loop.call_soon_threadsafe(output.put_nowait, packet)
        except OSError:
            pass
        finally:
            loop.call_soon_threadsafe(output.put_nowait, None)

    threading.Thread(target=receive, name="bastion-api-attach", daemon=True).start()
    feeder = None
    if stdin:
        feeder = loop.create_task(_feed(attachment, raw, detach_keys, output))

    async def end_when_gone() -> None:  # a client leaving a quiet container frees it at once
        await raw.wait_gone()
        output.put_nowait(None)

    watcher = loop.create_task(end_when_gone())
    try:
        while (packet := await output.get()) is not None:
            if raw.gone:
                break
            stream, data = packet
            if stream == STDERR:
                if stderr:
                    raw.write(data if tty else streams.frame(streams.STDERR, data))
            elif stdout:
                raw.write(data if tty else streams.frame(streams.STDOUT, data))
    finally:
        watcher.cancel()
        if feeder is not None:
            feeder.cancel()
        # wakes the receiving thread if the client left first
        with contextlib.suppress(OSError):
            attachment.sock.shutdown(2)
        raw.close()
        attachment.close()


async def _feed(
    attachment: Attachment,
    raw: streams.Hijacked,
    detach_keys: bytes | None,
    output: asyncio.Queue[tuple[int, bytes] | None],
) -> None:
    """The client's bytes to the container's stdin; its half-close ends that stdin. The
    detach keys end the stream instead (the container runs on, its stdin open)."""
    from bastion.engine.attach import DetachScanner

    scanner = DetachScanner(detach_keys) if detach_keys else None
    while (data := await raw.read()) is not None:
        if scanner is not None:
            data, detached = scanner.feed(data)
            if data:
                await asyncio.to_thread(attachment.send, data)
            if detached:
                output.put_nowait(None)
                return
            continue
        await asyncio.to_thread(attachment.send, data)
    attachment.close_stdin()


def detach_keys(request: web.Request) -> bytes:
    """The `detachKeys` parameter as bytes (Docker's form: `ctrl-p,ctrl-q`, `ctrl-@`..`ctrl-_`,
    or single characters); Ctrl-P Ctrl-Q when absent."""
    from bastion.engine.attach import DETACH_KEYS

    text = request.query.get("detachKeys", "")
    if not text:
        return DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        name = key.strip().lower()
        if name.startswith("ctrl-") and len(name) == 6 and 0x40 <= ord(name[5].upper()) <= 0x5F:
            out.append(ord(name[5].upper()) - 0x40)
        elif len(key) == 1:
            out += key.encode()
        else:
            raise ApiError(400, f"invalid detachKeys {text!r}: give e.g. ctrl-p,ctrl-q")
    return bytes(out)


def window(request: web.Request) -> tuple[int, int]:
    """The rows and columns of a resize request (`h`, `w`)."""
    from bastion.api.bodies import query_int

    return query_int(request, "h", 0), query_int(request, "w", 0)


async def resize(request: web.Request) -> web.Response:
    rows, cols = window(request)
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.resize(ident, rows, cols))
    return web.Response(status=200)
