"""`/containers/{id}/exec`, `/exec/{id}/start`, `/exec/{id}/resize`, `/exec/{id}/json`: Docker's
exec instances over `Engine.exec` (engine/exec.py).

An instance is the request's config kept in the server's memory (as dockerd's: they do not
outlive it) until it has run. `start` hijacks the connection (unless `Detach`), starts the
process and copies: with a TTY between its pty master and the client, raw; without one from
pipes, stdcopy-framed. The exit status is recorded before the stream is closed, so the
`/exec/{id}/json` a client asks for once it sees the end has it.

Without a TTY the engine hands the process the caller's descriptors 0-2 (it forks from the
caller, as `bastion exec`); the server sets them to the instance's pipes for the moment of the
fork under one lock, so two execs never see each other's. The start also makes the server the
process's subreaper; it stops being one once the process is its child (`end_subreaper`), so the
conmon daemons of containers started later are not left as its zombies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api import fdio, streams
from bastion.api.bodies import read_json
from bastion.api.errors import ApiError
from bastion.api.server import add, in_engine
from bastion.api.system import json_response

if TYPE_CHECKING:
    from bastion.engine import Engine, ExecConfig, ExecSession

#: one exec start at a time: the fork of a process without a TTY borrows the server's
#: descriptors 0-2 (see above), and the start makes the server a child subreaper for the while
#: (`end_subreaper`)
_START_LOCK = threading.Lock()
#: how long an ended exec instance can still be inspected (seconds)
_KEEP = 300.0


@dataclass
class Instance:
    """One exec instance: what was asked, and once started its pid, state and status."""

    id: str
    container_id: str
    config: ExecConfig
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    pid: int = 0
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    master: int | None = None
    #: the last size asked for (a resize may come before the pty exists)
    size: tuple[int, int] | None = None

    def document(self) -> dict[str, Any]:
        command = list(self.config.command)
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.config.tty,
                "entrypoint": command[0] if command else "",
                "arguments": command[1:],
                "privileged": False,
                "user": self.config.user or "",
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": "",
            "Pid": self.pid,
        }


INSTANCES = web.AppKey("exec_instances", dict[str, Instance])


def register(app: web.Application) -> None:
    app[INSTANCES] = {}
    add(app, "POST", "/containers/{id}/exec", create)
    add(app, "POST", "/exec/{id}/start", start)
    add(app, "POST", "/exec/{id}/resize", resize)
    add(app, "GET", "/exec/{id}/json", inspect)


def _instance(request: web.Request) -> Instance:
    ident = request.match_info["id"]
    found = request.app[INSTANCES].get(ident)
    if found is None:
        raise ApiError(404, f"No such exec instance: {ident}")
    return found


async def create(request: web.Request) -> web.Response:
    from bastion.engine import ExecConfig

    body = await read_json(request)
    command = body.get("Cmd")
    if isinstance(command, str):
        command = [command]
    if not command or not isinstance(command, list):
        raise ApiError(400, "No exec command specified")
    ident = request.match_info["id"]
    record = await in_engine(request, lambda e: e.container(ident))
    if record.status != "running":
        raise ApiError(409, f"Container {record.id} is not running")
    config = ExecConfig(
        command=tuple(str(c) for c in command),
        user=body.get("User") or None,
        env=tuple(body.get("Env") or ()),
        workdir=body.get("WorkingDir") or None,
        tty=bool(body.get("Tty")),
        interactive=bool(body.get("AttachStdin")),
    )
    instance = Instance(
        id=secrets.token_hex(32),
        container_id=record.id,
        config=config,
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
    )
    request.app[INSTANCES][instance.id] = instance
    return json_response({"Id": instance.id}, 201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(_instance(request).document())


async def resize(request: web.Request) -> web.Response:
    from bastion.api.attach import window

    instance = _instance(request)
    instance.size = window(request)
    if instance.master is not None:
        _set_size(instance.master, *instance.size)
    return web.Response(status=201)


def _set_size(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    with contextlib.suppress(OSError):  # the process has ended and its pty with it
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@dataclass
class _Pipes:
    """The process's ends (given to it) and ours, of the pipes of a process without a TTY."""

    theirs: list[int] = field(default_factory=list)
    stdin: int | None = None
    stdout: int = -1
    stderr: int = -1

    def close_theirs(self) -> None:
        for fd in self.theirs:
            os.close(fd)
        self.theirs.clear()


async def start(request: web.Request) -> web.StreamResponse:
    from dataclasses import replace

    instance = _instance(request)
    body = await read_json(request, optional=True)
    if instance.started:
        raise ApiError(409, f"exec instance {instance.id} has already been started")
    instance.started = True
    detach = bool(body.get("Detach"))
    # the start body's Tty wins, as dockerd's
    config = replace(instance.config, tty=bool(body.get("Tty", instance.config.tty)), detach=detach)
    pipes = _Pipes()
    if not config.tty and not detach:
        config = _with_pipes(config, pipes)
    if detach:
        session = await _begin(request, instance, config, pipes)
        asyncio.get_running_loop().create_task(_reap(request.app, instance, session))
        return web.Response(status=200)
    response, raw = await streams.hijack(request, tty=config.tty)
    try:
        session = await _begin(request, instance, config, pipes)
    except ApiError as exc:
        raw.write(_error(exc.message, config.tty))
        raw.close()
        return response
    try:
        if session.master is not None:
            await _copy_tty(session.master, raw, instance.attach_stdin)
        else:
            await _copy_pipes(pipes, raw, instance)
    finally:
        await _reap(request.app, instance, session)
        raw.close()
    return response


def _with_pipes(config: ExecConfig, pipes: _Pipes) -> ExecConfig:
    from dataclasses import replace

    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    pipes.stdout, pipes.stderr = out_read, err_read
    pipes.theirs += [out_write, err_write]
    stdin = 0
    if config.interactive:
        in_read, in_write = os.pipe()
        pipes.stdin = in_write
        pipes.theirs.append(in_read)
        stdin = in_read
    return replace(config, stdin=stdin, stdout=out_write, stderr=err_write)


async def _begin(
    request: web.Request, instance: Instance, config: ExecConfig, pipes: _Pipes
) -> ExecSession:
    """Start the process; a command that cannot run records Docker's 126/127."""
    from bastion.engine import CommandError

    def run(engine: Engine) -> ExecSession:
        from bastion.engine.exec import end_subreaper

        with _START_LOCK:
            try:
                return engine.exec(instance.container_id, config)
            finally:
                end_subreaper()

    try:
        session = await in_engine(request, run)
    except CommandError as exc:
        instance.exit_code = exc.exit_code
        _forget_later(request.app, instance)
        raise ApiError(500, exc.message) from None
    finally:
        pipes.close_theirs()
    instance.pid, instance.running, instance.master = session.pid, True, session.master
    if session.master is not None and instance.size is not None:
        _set_size(session.master, *instance.size)
    return session


async def _reap(app: web.Application, instance: Instance, session: ExecSession) -> None:
    """Its status, recorded; its pty closed; the instance forgotten a while later."""
    status = await fdio.in_thread(session.wait)
    instance.exit_code, instance.running = status, False
    if instance.master is not None:
        os.close(instance.master)
        instance.master = None
    _forget_later(app, instance)


def _forget_later(app: web.Application, instance: Instance) -> None:
    """An ended instance stays inspectable for `_KEEP` seconds (a client reads its status
    once its stream ends), then goes, as dockerd's: the server's memory does not grow with
    every exec."""
    asyncio.get_running_loop().call_later(_KEEP, app[INSTANCES].pop, instance.id, None)


def _error(message: str, tty: bool) -> bytes:
    text = f"{message}\n".encode()
    return text if tty else streams.frame(streams.STDERR, text)


async def _copy_tty(master: int, raw: streams.Hijacked, stdin: bool) -> None:
    loop = asyncio.get_running_loop()
    feeder = loop.create_task(_feed(raw, master, close=False)) if stdin else None
    try:
        os.set_blocking(master, False)
        while data := await fdio.read(master):
            if raw.gone:
                break
            raw.write(data)
    finally:
        if feeder is not None:
            feeder.cancel()


async def _copy_pipes(pipes: _Pipes, raw: streams.Hijacked, instance: Instance) -> None:
    loop = asyncio.get_running_loop()
    feeder = None
    if pipes.stdin is not None:
        feeder = loop.create_task(_feed(raw, pipes.stdin, close=True))

    async def drain(fd: int, stream: int, wanted: bool) -> None:
        try:
            os.set_blocking(fd, False)
            while data := await fdio.read(fd):
                if wanted and not raw.gone:
                    raw.write(streams.frame(stream, data))
        finally:
            os.close(fd)

    try:
        await asyncio.gather(
            drain(pipes.stdout, streams.STDOUT, instance.attach_stdout),
            drain(pipes.stderr, streams.STDERR, instance.attach_stderr),
        )
    finally:
        if feeder is not None:
            feeder.cancel()


async def _feed(raw: streams.Hijacked, fd: int, *, close: bool) -> None:
    """The client's bytes to the process; its half-close ends a piped stdin (a pty's gets
    nothing: the terminal stays, as Docker's)."""
    try:
        os.set_blocking(fd, False)
        while (data := await raw.read()) is not None:
            await fdio.write_all(fd, data)
    except OSError:
        pass
    finally:
        if close:
            os.close(fd)
