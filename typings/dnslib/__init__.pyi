# The part of dnslib (PyPI, 0.9.x; no inline types) that bastion.network's DNS responder and its
# tests use.
from typing import Any

class DNSError(Exception): ...

class DNSLabel:
    def __init__(self, label: str | bytes | DNSLabel | None) -> None: ...
    def idna(self) -> str: ...

class _Bimap:
    A: int
    AAAA: int
    PTR: int
    ANY: int
    NXDOMAIN: int
    SERVFAIL: int
    NOTIMP: int
    FORMERR: int
    QUERY: int
    def __getitem__(self, key: int) -> str: ...
    def __getattr__(self, name: str) -> int: ...

QTYPE: _Bimap
RCODE: _Bimap
OPCODE: _Bimap
CLASS: _Bimap

class DNSHeader:
    id: int
    rcode: int
    opcode: int
    aa: int
    ra: int
    rd: int
    tc: int
    qr: int
    def __init__(self, id: int | None = None, **args: Any) -> None: ...

class DNSQuestion:
    qname: DNSLabel
    qtype: int
    qclass: int

class RD: ...

class A(RD):
    def __init__(self, data: str) -> None: ...

class AAAA(RD):
    def __init__(self, data: str) -> None: ...

class PTR(RD):
    def __init__(self, label: str | DNSLabel) -> None: ...

class RR:
    rname: DNSLabel
    rtype: int
    rdata: RD
    def __init__(
        self,
        rname: str | DNSLabel | None = None,
        rtype: int = 1,
        rclass: int = 1,
        ttl: int = 0,
        rdata: RD | None = None,
    ) -> None: ...

class DNSRecord:
    header: DNSHeader
    questions: list[DNSQuestion]
    rr: list[RR]
    q: DNSQuestion
    a: RR
    def __init__(self, header: DNSHeader | None = None, **args: Any) -> None: ...
    @classmethod
    def parse(cls, packet: bytes) -> DNSRecord: ...
    @classmethod
    def question(cls, qname: str, qtype: str = "A", qclass: str = "IN") -> DNSRecord: ...
    def reply(self, ra: int = 1, aa: int = 1) -> DNSRecord: ...
    def add_answer(self, *rr: RR) -> None: ...
    def pack(self) -> bytes: ...
    def truncate(self) -> DNSRecord: ...
