"""Pod labels from the node's CRI socket, for `k8s.pod.label[...]` and `k8s.pod.labels`.

A pod's labels never reach the runtime: kubelet gives them to the CRI runtime with the pod
sandbox (RunPodSandbox), and only the pod's name, namespace, uid and sandbox id come down to
each container's annotations (`bastion.identity.labels_from_annotations`). So, where the
node's CRI socket is reachable, the sensor asks it once per pod (`PodSandboxStatus`, CRI v1),
when it first meets one of the pod's containers, with a short timeout: a CRI runtime that
does not answer costs one timeout, then the pod's containers go without pod labels.

The socket is `$BASTION_CRI_SOCKET`, else the first of containerd's and CRI-O's default
sockets that exists. The client (grpcio and the CRI v1 stubs of PyPI's
`container-runtime-interface-api`) is imported only then.
"""

from __future__ import annotations

import os
from typing import Any

CRI_SOCKET_ENV = "BASTION_CRI_SOCKET"
DEFAULT_SOCKETS = ("/run/containerd/containerd.sock", "/run/crio/crio.sock")
#: seconds a PodSandboxStatus may take (the sensor's event path waits for it, once per pod)
TIMEOUT = 0.5


def socket_path() -> str | None:
    """The CRI socket to ask, or None when there is none."""
    given = os.environ.get(CRI_SOCKET_ENV)
    if given:
        return given
    return next((path for path in DEFAULT_SOCKETS if os.path.exists(path)), None)


class PodLabels:
    """Pod sandbox id -> the pod's labels (kubelet's own `io.kubernetes.*` ones left out)."""

    def __init__(self, socket: str | None = None) -> None:
        self._socket = socket
        self._cache: dict[str, dict[str, str]] = {}
        self._stub: Any = None
        self._channel: Any = None
        self._off = False

    def get(self, sandbox_id: str) -> dict[str, str]:
        if sandbox_id in self._cache:
            return self._cache[sandbox_id]
        stub = self._connect()
        if stub is None:
            return {}
        import grpc
        from cri_api.v1 import api_pb2

        try:
            reply = stub.PodSandboxStatus(
                api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id), timeout=TIMEOUT
            )
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED):
                self._off = True  # no CRI runtime there: do not wait on every pod
            return {}  # not cached: a pod being made is asked again by its next container
        labels = {
            str(k): str(v)
            for k, v in reply.status.labels.items()
            if not str(k).startswith("io.kubernetes.")
        }
        if len(self._cache) >= 4096:  # bounded: pods come and go all day on a node
            self._cache.clear()
        self._cache[sandbox_id] = labels
        return labels

    def _connect(self) -> Any:
        if self._stub is not None or self._off:
            return self._stub
        path = self._socket or socket_path()
        if path is None:
            self._off = True
            return None
        try:
            import grpc
            from cri_api.v1 import api_pb2_grpc
        except ImportError:  # the CRI client is not installed: no pod labels
            self._off = True
            return None
        self._channel = grpc.insecure_channel(f"unix://{path}")
        # the generated stubs carry no annotations
        self._stub = api_pb2_grpc.RuntimeServiceStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = self._stub = None
