"""A Falco-style YAML configuration file for `bastion watch` (``-c bastion.yaml``).

It holds what the command-line flags hold, under Falco's key names (falco.yaml), so a Falco
user's configuration carries over: ``rules_files`` (``rules_file``), ``priority``,
``rule_matching``, ``rules`` (``- disable: {rule: NAME}``, ``- enable: {tag: TAG}``, applied in
order), ``json_output``, ``json_include_output_property``, ``json_include_tags_property``,
``json_include_message_property``, ``time_format_iso_8601``, ``buffered_outputs``,
``stdout_output``, ``file_output``, ``syslog_output``, ``program_output``, ``http_output``
(``enabled``, ``url``, ``ca_cert``) and ``syscall_event_drops`` (`drop_settings`: ``actions``
without ``alert`` turns the drop alert off, ``rate`` is alerts per second). bastion adds
``rule_name_match`` (``substring``/``exact``, see `bastion.sensor.rules.selection`) and
``container_info`` (what ``%container.info`` expands to, Falco's ``-p``). Falco's ``-o
key=value`` (`apply_override`) sets a key, dots for nesting. Keys bastion does not use are
listed as warnings, as Falco ignores them. Flags given on the command line override the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bastion.errors import BastionError
from bastion.sensor.drops import DropAlertSettings
from bastion.sensor.outputs.options import OutputOptions
from bastion.sensor.rules.selection import NAME_MATCH, Selector


class ConfigError(BastionError):
    """Raised for a configuration file or ``-o`` override bastion cannot use; `where` is the
    file and the message names the key."""

    reference = "watch-config"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchConfig:
    """What a configuration file asks of `bastion watch` (None: the file does not say)."""

    rules_files: tuple[str, ...] = ()
    min_priority: str | None = None
    rule_matching: str | None = None
    name_match: str | None = None
    selection: tuple[Selector, ...] = ()
    container_info: str | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)
    drops: dict[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# Keys read as they are (the drop alert's settings, used by the pipeline's drop alert).
PASSED_THROUGH = ("syscall_event_drops",)
_KNOWN = frozenset(
    {
        "rules_files",
        "rules_file",
        "priority",
        "rule_matching",
        "rule_name_match",
        "rules",
        "json_output",
        "json_include_output_property",
        "json_include_tags_property",
        "json_include_message_property",
        "time_format_iso_8601",
        "buffered_outputs",
        "stdout_output",
        "file_output",
        "syslog_output",
        "program_output",
        "http_output",
        "container_info",
        *PASSED_THROUGH,
    }
)


def read_config(path: str) -> dict[str, object]:
    """The mapping in the YAML file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration: {exc}", where=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", where=path) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError("the configuration must be a mapping of keys", where=path)
    return doc


def apply_override(doc: dict[str, object], assignment: str) -> None:
    """Falco's ``-o key=value``: set `key` (``a.b`` nests) to `value` read as YAML."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(
            f"option {assignment!r} is not KEY=VALUE", hint="e.g. -o json_output=true"
        )
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"option {assignment!r}: the value is not valid YAML: {exc}") from exc
    target = doc
    parts = key.split(".")
    for part in parts[:-1]:
        inner = target.setdefault(part, {})
        if not isinstance(inner, dict):
            raise ConfigError(f"option {assignment!r}: {part!r} is not a mapping")
        target = inner
    target[parts[-1]] = value


class _Reader:
    def __init__(self, doc: dict[str, object], where: str | None) -> None:
        self.doc = doc
        self.where = where

    def error(self, key: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"{key}: expected {expected}, found {value!r}", where=self.where)

    def get(self, key: str) -> object:
        target: object = self.doc
        for part in key.split("."):
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        return target

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(key, "a string", value)
        return str(value)

    def enabled(self, section: str) -> bool:
        return self.boolean(f"{section}.enabled", False)


def watch_config(doc: dict[str, object], where: str | None = None) -> WatchConfig:
    """The `WatchConfig` a configuration mapping describes; raises `ConfigError`."""
    r = _Reader(doc, where)
    files = r.get("rules_files")
    if files is None:
        files = r.get("rules_file")
    if isinstance(files, str):
        files = [files]
    if files is not None and not (
        isinstance(files, list) and all(isinstance(f, str) for f in files)
    ):
        raise r.error("rules_files", "a list of paths", files)
    name_match = r.text("rule_name_match")
    if name_match is not None and name_match not in NAME_MATCH:
        raise r.error("rule_name_match", "substring or exact", name_match)
    stdout = r.get("stdout_output")
    outputs = OutputOptions(
        stdout=True if stdout is None else r.enabled("stdout_output"),
        json=r.boolean("json_output", False),
        json_include_output=r.boolean("json_include_output_property", True),
        json_include_tags=r.boolean("json_include_tags_property", True),
        json_include_message=r.boolean("json_include_message_property", False),
        time_iso=r.boolean("time_format_iso_8601", False),
        buffered=r.boolean("buffered_outputs", False),
        file=r.text("file_output.filename") if r.enabled("file_output") else None,
        file_keep_alive=r.boolean("file_output.keep_alive", False),
        syslog=r.enabled("syslog_output"),
        program=r.text("program_output.program") if r.enabled("program_output") else None,
        program_keep_alive=r.boolean("program_output.keep_alive", False),
        webhook_url=r.text("http_output.url") if r.enabled("http_output") else None,
        webhook_ca_file=r.text("http_output.ca_cert"),
    )
    for section, key in (("file_output", "filename"), ("program_output", "program")):
        if r.enabled(section) and r.text(f"{section}.{key}") is None:
            raise ConfigError(f"{section}: enabled but no {key}", where=where)
    drops = r.get("syscall_event_drops")
    if drops is not None and not isinstance(drops, dict):
        raise r.error("syscall_event_drops", "a mapping", drops)
    unknown = sorted(k for k in doc if k not in _KNOWN)
    warnings = tuple(
        f"{where or 'configuration'}: key '{k}' is not used by bastion" for k in unknown
    )
    return WatchConfig(
        rules_files=tuple(files or ()),
        min_priority=r.text("priority"),
        rule_matching=r.text("rule_matching"),
        name_match=name_match,
        selection=_selection(r),
        container_info=r.text("container_info"),
        outputs=outputs,
        drops=dict(drops or {}),
        warnings=warnings,
    )


def _selection(r: _Reader) -> tuple[Selector, ...]:
    """Falco's ``rules:`` list: ``- enable: {rule: X}`` / ``- disable: {tag: Y}``, in order."""
    entries = r.get("rules")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise r.error("rules", "a list of enable/disable entries", entries)
    selectors: list[Selector] = []
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise r.error("rules", "entries like '- disable: {rule: NAME}'", entry)
        ((action, target),) = entry.items()
        if action not in ("enable", "disable") or not isinstance(target, dict):
            raise r.error("rules", "'enable' or 'disable' with a rule or a tag", entry)
        for kind, pattern in target.items():
            if kind not in ("rule", "tag") or not isinstance(pattern, str):
                raise r.error(f"rules → {action}", "rule: NAME or tag: TAG", target)
            selectors.append(Selector(action == "enable", kind, pattern))
    return tuple(selectors)


def watch_config_from(path: str | None, overrides: list[str]) -> WatchConfig:
    """The configuration of `path` (none: empty) with Falco-style ``-o`` `overrides` applied."""
    doc = read_config(path) if path else {}
    for assignment in overrides:
        apply_override(doc, assignment)
    return watch_config(doc, path)


def drop_settings(drops: dict[str, object]) -> DropAlertSettings:
    """The drop alert's settings from Falco's ``syscall_event_drops``: alerts are on unless
    ``actions`` is given without ``alert``; ``rate`` is alerts per second (Falco's token bucket
    refill), so its inverse is the interval between two drop alerts. Other keys are kept as read."""
    actions = drops.get("actions")
    rate = drops.get("rate")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, str) for a in actions)
    ):
        raise ConfigError(
            f"syscall_event_drops.actions: expected a list of actions, found {actions!r}",
            hint="e.g. actions: [log, alert]",
        )
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0
    ):
        raise ConfigError(
            f"syscall_event_drops.rate: expected a number >= 0, found {rate!r}",
            hint="alerts per second, e.g. 0.03333 for one every 30 s",
        )
    default = DropAlertSettings()
    return DropAlertSettings(
        enabled=default.enabled if actions is None else "alert" in actions,
        interval_s=default.interval_s if not rate else 1.0 / float(rate),
    )
