"""The Docker Engine API on a unix socket (`bastion system service`): the docker CLI, docker-py
and testcontainers drive bastion unmodified (docs/api.md).

A face over `bastion.engine`, as the CLI is: every handler translates the Docker request into
`Engine` calls and the engine's records into Docker's documents; no engine behaviour is
implemented here. Built on aiohttp (HTTP/1.1, chunked bodies); the engine's blocking calls run
in worker threads, one `Engine` per call (daemonless: the CLI and the API share the root).

- `server`: the application, the unix socket, version negotiation and errors (middlewares);
- `versions`: API versions (1.41, down to 1.24) and moby's messages for the wrong ones;
- `errors`: engine errors → moby's status codes and wording;
- `streams`: stdcopy framing, chunked JSON progress, and the hijacked (101) raw stream;
- `system`, `containers`, `images`: the routes.
"""
