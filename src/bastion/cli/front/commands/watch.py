"""`bastion watch`: run rules on live events (or a replayed capture) and send alerts out.

Live: the probe's in-kernel filters take `--container` (cgroup ids from identity.json); the
state is seeded from /proc; batches go through the pipeline (state -> rules -> outputs) until
the duration ends or SIGINT/SIGTERM. `--replay FILE` runs the same pipeline on a .scap or a
bastion capture. Either way the end-of-run report has the drop counters: a run that lost events
says how many.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.session import WatchSettings

HELP = "watch containers with Falco rules: alerts to stdout, files, syslog, webhooks, SQLite"


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.commands.capture import add_live_options
    from bastion.sensor.outputs.options import add_output_arguments

    parser.add_argument(
        "-r",
        "--rules",
        action="append",
        metavar="FILE",
        help="rules file, repeatable, loaded in order (default: bastion's rules)",
    )
    parser.add_argument("--replay", metavar="FILE", help="a .scap or bastion capture, not live")
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="a Falco-style YAML configuration (flags win)"
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a configuration key, as Falco's -o (text or json alone: the stdout format)",
    )
    parser.add_argument(
        "--rule-matching", choices=("first", "all"), default=None, help="Falco's rule_matching"
    )
    parser.add_argument("--min-priority", default=None, metavar="P", help="skip rules below P")
    select = parser.add_argument_group(
        "rule selection", "applied in the order given, after the configuration's 'rules:'"
    )
    for flags, enable, kind, only, what in (
        (("-D", "--disable-rule"), False, "rule", False, "disable rules whose name matches"),
        (("-T", "--disable-tag"), False, "tag", False, "disable rules with this tag"),
        (("-t", "--tag"), True, "tag", True, "run only rules with this tag (repeatable)"),
        (("--enable-rule",), True, "rule", False, "enable rules whose name matches"),
        (("--enable-tag",), True, "tag", False, "enable rules with this tag"),
    ):
        select.add_argument(
            *flags,
            action=_Select,
            dest="selection",
            default=[],
            metavar=kind.upper(),
            help=what,
            const=(enable, kind, only),
        )
    select.add_argument(
        "--rule-name-match",
        choices=("substring", "exact"),
        default=None,
        help="how rule names match: substring (default, as Falco 0.34's -D) or exact",
    )
    parser.add_argument(
        "-p",
        "--container-info",
        metavar="FORMAT",
        help="what %%container.info expands to (c: Falco's -pc format)",
    )
    parser.add_argument(
        "--kill",
        metavar="PRIORITY",
        help="kill the container process behind an alert of PRIORITY or worse (beyond Falco); "
        "the same as --action kill_process=PRIORITY",
    )
    parser.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="ACTION=PRIORITY|rule:NAME",
        help="act on matches of rules of PRIORITY or worse, or of the rule NAME: kill_process, "
        "kill_container, pause_container (beyond Falco; a rule's `action:` key does the same)",
    )
    parser.add_argument(
        "--spill-limit",
        type=int,
        default=None,
        metavar="MIB",
        help="memory for events read but not yet evaluated (default 512; 0: no spill area)",
    )
    parser.add_argument(
        "--no-kernel-filter",
        action="store_true",
        help="send every open to user space (by default the probe keeps back read-only opens "
        "of paths no loaded rule can match, derived from the rules)",
    )
    parser.add_argument(
        "--no-kernel-kill",
        action="store_true",
        help="carry out every kill_process from user space (by default the probe kills at the "
        "exec the matches it can decide: a process name in a container)",
    )
    add_live_options(parser)
    add_output_arguments(parser)


class _Select(argparse.Action):
    """Appends a rule `Selector` to `dest`, keeping the order of the flags."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from bastion.sensor.rules.selection import Selector

        enable, kind, only = self.const
        selection = [*getattr(namespace, self.dest, []), Selector(enable, kind, str(values), only)]
        setattr(namespace, self.dest, selection)


def settings_from_args(args: argparse.Namespace, **changes: object) -> WatchSettings:
    """The `WatchSettings` of `bastion watch`'s flags (shared with `bastion sensor`)."""
    import dataclasses

    from bastion.cli.front.commands.capture import live_from_args
    from bastion.sensor.outputs.options import options_from_args
    from bastion.sensor.session import WatchSettings

    formats = [o for o in args.option if o in ("text", "json")]
    settings = WatchSettings(
        runtime_root=args.root,
        rules=tuple(args.rules or ()),
        config=args.config,
        config_options=tuple(o for o in args.option if o not in formats),
        json=None if not formats else formats[-1] == "json",
        outputs=options_from_args(args),
        rule_matching=args.rule_matching,
        min_priority=args.min_priority,
        selection=tuple(args.selection),
        name_match=args.rule_name_match,
        container_info=args.container_info,
        kill=args.kill,
        actions=tuple(args.action),
        kernel_filter=not args.no_kernel_filter,
        kernel_kill=not args.no_kernel_kill,
        spill_limit_mib=args.spill_limit,
        duration=args.duration,
        replay=args.replay,
        live=None if args.replay else live_from_args(args),
    )
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.report import write_statistics
    from bastion.sensor.live import statistics
    from bastion.sensor.session import run_watch

    report = run_watch(settings_from_args(args), warn=_warn, note=_note, started=_started)
    write_statistics(statistics(report))
    return 0


def _warn(text: str) -> None:
    sys.stderr.write(f"warning: {text}\n")


def _note(text: str) -> None:
    sys.stderr.write(f"bastion: {text}\n")


def _started() -> None:
    sys.stderr.write("bastion: watching (SIGINT or SIGTERM stops)\n")
    sys.stderr.flush()  # a caller waits for this line before starting its workload
