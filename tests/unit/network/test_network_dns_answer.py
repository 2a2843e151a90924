"""The DNS responder's answers from a names file, without sockets or root."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from bastion.network._dns_server import Names, answer, parse_upstream


@pytest.fixture
def names(tmp_path: Path) -> Names:
    path = tmp_path / "names"
    path.write_text(
        "# comment\n10.5.0.2 web www  # trailing\n10.5.0.3 web\nfd00:5::3 db\nnot-an-ip x\n\n"
    )
    return Names(str(path))


def ask(names: Names, name: str, qtype: str = "A", *, forwarding: bool = False) -> DNSRecord | None:
    return answer(names, DNSRecord.question(name, qtype), forwarding=forwarding)


def test_every_address_of_a_name_and_its_aliases(names: Names) -> None:
    reply = ask(names, "WEB.")
    assert reply is not None
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.5.0.2", "10.5.0.3"]
    www = ask(names, "www")
    assert www is not None and [str(rr.rdata) for rr in www.rr] == ["10.5.0.2"]
    skipped = ask(names, "x")  # its line has no valid address
    assert skipped is not None and skipped.header.rcode == RCODE.NXDOMAIN


def test_types(names: Names) -> None:
    six = ask(names, "db", "AAAA")
    assert six is not None and [rr.rtype for rr in six.rr] == [QTYPE.AAAA]
    nodata = ask(names, "db", "A", forwarding=True)
    assert nodata is not None and nodata.header.rcode == RCODE.NOERROR and not nodata.rr
    ptr = ask(names, "3.0.5.10.in-addr.arpa", "PTR")
    assert ptr is not None and [str(rr.rdata) for rr in ptr.rr] == ["web."]


def test_unknown_names_forwarded_or_nxdomain(names: Names) -> None:
    assert ask(names, "example.org", forwarding=True) is None
    nx = ask(names, "example.org")
    assert nx is not None and nx.header.rcode == RCODE.NXDOMAIN


def test_a_missing_file_is_no_names(tmp_path: Path) -> None:
    reply = ask(Names(str(tmp_path / "absent")), "web")
    assert reply is not None and reply.header.rcode == RCODE.NXDOMAIN


def test_upstream_forms() -> None:
    assert parse_upstream("192.0.2.1") == ("192.0.2.1", 53)
    assert parse_upstream("192.0.2.1:5353") == ("192.0.2.1", 5353)
    assert parse_upstream("2001:db8::1") == ("2001:db8::1", 53)
    assert parse_upstream("[2001:db8::1]:5353") == ("2001:db8::1", 5353)
