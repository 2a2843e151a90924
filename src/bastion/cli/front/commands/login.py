"""`bastion login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY`: check credentials
against a registry, then keep them where Podman does (`$REGISTRY_AUTH_FILE`, else
`${XDG_RUNTIME_DIR}/containers/auth.json`, else /run/containers/<uid>/auth.json), which
`pull` and `push` read."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "log in to a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-u", "--username", help="the user name (asked for when absent)")
    parser.add_argument("-p", "--password", help="the password (insecure: see --password-stdin)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    parser.add_argument(
        "--tls-verify",
        choices=("true", "false"),
        default=None,
        help="verify the registry's TLS certificate (default: yes, except for loopback)",
    )
    parser.add_argument("registry", metavar="REGISTRY", help="host[:port]")


def run(args: argparse.Namespace) -> int:
    import getpass

    from bastion.engine import Engine, InvalidOptionError

    if args.password is not None and args.password_stdin:
        raise InvalidOptionError("--password and --password-stdin are exclusive")
    username = args.username
    if username is None:
        if args.password_stdin or not sys.stdin.isatty():
            raise InvalidOptionError(
                "no user name", hint="give -u USER (needed with --password-stdin)"
            )
        username = input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password is not None:
        sys.stderr.write("WARNING! Using --password on the command line is insecure. ")
        sys.stderr.write("Use --password-stdin.\n")
        password = args.password
    else:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidOptionError("a user name and a password are needed")
    tls = None if args.tls_verify is None else args.tls_verify == "true"
    Engine.login(args.registry, username, password, tls_verify=tls)
    sys.stdout.write("Login Succeeded\n")
    return 0
