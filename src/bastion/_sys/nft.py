"""libnftables (libnftables.so.1, Debian's libnftables1) through ctypes: run one nft batch.

nftables' own library, as nft(8) and firewalld use it: a context (`nft_ctx_new`), output and error
buffered in memory (`nft_ctx_buffer_output`, `nft_ctx_buffer_error`), JSON in and out
(`NFT_CTX_OUTPUT_JSON`: with it set, `nft_run_cmd_from_buffer` parses its input as JSON,
libnftables-json(5)). One call of `run` is one buffer, and libnftables sends one buffer to the
kernel as one netlink batch: it is applied whole or not at all (libnftables(3)).

The library is opened on first use, never at import.
"""

from __future__ import annotations

import ctypes

# enum nft_output_flags (nftables/libnftables.h)
_OUTPUT_JSON = 1 << 4

_LIB: ctypes.CDLL | None = None

_SIGNATURES: tuple[tuple[str, object, list[object]], ...] = (
    ("nft_ctx_new", ctypes.c_void_p, [ctypes.c_uint32]),
    ("nft_ctx_free", None, [ctypes.c_void_p]),
    ("nft_ctx_output_set_flags", None, [ctypes.c_void_p, ctypes.c_uint]),
    ("nft_ctx_buffer_output", ctypes.c_int, [ctypes.c_void_p]),
    ("nft_ctx_buffer_error", ctypes.c_int, [ctypes.c_void_p]),
    ("nft_ctx_get_output_buffer", ctypes.c_char_p, [ctypes.c_void_p]),
    ("nft_ctx_get_error_buffer", ctypes.c_char_p, [ctypes.c_void_p]),
    ("nft_run_cmd_from_buffer", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
)


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError as e:
            raise OSError(
                2, f"cannot open libnftables.so.1 (Debian package libnftables1): {e}"
            ) from None
        for name, restype, argtypes in _SIGNATURES:
            func = getattr(lib, name)
            func.restype = restype
            func.argtypes = argtypes
        _LIB = lib
    return _LIB


def run(document: str) -> str:
    """Run one JSON document (libnftables-json(5)) as one transaction; return nft's JSON output.

    Raises `OSError(errno, "nft: <nft's error text>")` when nft refuses the batch; then nothing of
    it was applied. The errno is the one libnftables left (EINVAL if none).
    """
    lib = _lib()
    ctx = lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
    if not ctx:
        raise OSError(ctypes.get_errno() or 12, "nft_ctx_new: cannot make an nftables context")
    try:
        lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
        if lib.nft_ctx_buffer_output(ctx) or lib.nft_ctx_buffer_error(ctx):
            raise OSError(12, "nft_ctx_buffer_output: cannot buffer nft's output")
        ctypes.set_errno(0)
        rc = lib.nft_run_cmd_from_buffer(ctx, document.encode())
        err = ctypes.get_errno()
        output: bytes = lib.nft_ctx_get_output_buffer(ctx) or b""
        errors: bytes = lib.nft_ctx_get_error_buffer(ctx) or b""
        if rc != 0:
            reason = errors.decode(errors="replace").strip() or "the batch was refused"
            raise OSError(err or 22, f"nft: {reason}")
        return output.decode()
    finally:
        lib.nft_ctx_free(ctx)
