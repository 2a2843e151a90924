"""CNI networks: run the plugins of a network configuration list, as the CNI spec says.

A network can be backed by CNI plugins instead of bastion's own plumbing, so that users who already
have CNI configurations (a `.conflist`) reuse them; Debian's containernetworking-plugins install
bridge, host-local, portmap, firewall, loopback and others in /usr/lib/cni. This module is the
runtime side of the CNI specification (1.0.0, "Execution protocol" and "Execution of network
configurations", github.com/containernetworking/cni SPEC.md), without libcni:

- ADD runs the list's plugins in order, each with its own configuration on stdin plus the list's
  `name` and `cniVersion`, the previous plugin's result as `prevResult`, and `runtimeConfig`
  for the capabilities it declares (`portMappings`...); the environment carries CNI_COMMAND,
  CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH (and CNI_ARGS). The last result is the
  attachment's result; it is cached (as libcni caches it) for DEL and CHECK. If a plugin fails,
  DEL is run for the whole list so nothing stays half attached, and the plugin's error is raised.
- DEL runs the plugins in reverse order with the cached result as `prevResult`; missing things
  are not errors (plugins must tolerate them), so DEL may be repeated.
- CHECK runs them in order with the cached result (not for lists with `disableCheck`).

A plugin reports an error as a non-zero exit and a JSON error on stdout ({"code", "msg",
"details"}); CniError carries it. Note: Debian's portmap and firewall plugins (1.1.1) program
iptables, not nftables; bastion's own networks never do (`bastion.network.firewall`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Any

from bastion import jsonio
from bastion.errors import BastionError

PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
#: Where the result of each ADD is kept for its DEL and CHECK.
CACHE_DIR = "/var/lib/bastion/cni/results"
PLUGIN_TIMEOUT = 60.0


class CniError(BastionError):
    """A CNI configuration list is malformed or a plugin failed (its code and message)."""

    reference = "network-cni"


def load(conflist: str | dict[str, Any]) -> dict[str, Any]:
    """A network configuration list from a path (JSON) or a dict, checked; CniError if malformed."""
    where = conflist if isinstance(conflist, str) else "conflist"
    if isinstance(conflist, str):
        try:
            with open(conflist) as f:
                conf = jsonio.loads(f.read())
        except (OSError, ValueError) as e:
            raise CniError(f"cannot read the CNI configuration list: {e}", where=where) from None
    else:
        conf = conflist
    if not isinstance(conf, dict):
        raise CniError("a CNI configuration list is a JSON object", where=where)
    for key in ("cniVersion", "name"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise CniError(f"{key} must be a non-empty string", where=f"{where}: {key}")
    plugins = conf.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CniError(
            "plugins must be a non-empty list",
            where=f"{where}: plugins",
            hint="a single-plugin .conf file: put its object in a list under plugins",
        )
    for i, plugin in enumerate(plugins):
        kind = plugin.get("type") if isinstance(plugin, dict) else None
        if not isinstance(kind, str) or not kind or "/" in kind:
            raise CniError("a plugin needs a type (a file name)", where=f"{where}: plugins[{i}]")
    return conf


def add(
    conflist: str | dict[str, Any],
    container_id: str,
    netns_path: str,
    ifname: str,
    *,
    plugin_dirs: tuple[str, ...] = PLUGIN_DIRS,
    cache_dir: str = CACHE_DIR,
    capability_args: dict[str, Any] | None = None,
    args: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Attach the container's network namespace to the network; the CNI result (interfaces, ips,
    routes, dns). On failure, DEL is run for the whole list before CniError is raised."""
    conf = load(conflist)
    paths = _plugins(conf, plugin_dirs)
    run = _Runner(conf, container_id, netns_path, ifname, plugin_dirs, capability_args, args)
    result: dict[str, Any] | None = None
    try:
        for plugin, path in zip(conf["plugins"], paths, strict=True):
            result = run("ADD", plugin, path, result)
    except CniError as e:
        try:
            _delete(run, conf, paths, result)
        except CniError as cleanup:
            e.add_note(f"and DEL after the failed ADD failed too: {cleanup}")
        raise
    final = result or {"cniVersion": conf["cniVersion"]}
    os.makedirs(cache_dir, exist_ok=True)
    cache = _cache_path(cache_dir, conf["name"], container_id, ifname)
    tmp = f"{cache}.tmp"
    with open(tmp, "w") as f:
        f.write(jsonio.dumps({"config": conf, "result": final}))
    os.replace(tmp, cache)
    return final


def check(
    conflist: str | dict[str, Any],
    container_id: str,
    netns_path: str,
    ifname: str,
    *,
    plugin_dirs: tuple[str, ...] = PLUGIN_DIRS,
    cache_dir: str = CACHE_DIR,
    capability_args: dict[str, Any] | None = None,
    args: dict[str, str] | None = None,
) -> None:
    """Ask every plugin whether the attachment is as ADD left it; CniError if one says no."""
    conf = load(conflist)
    if conf.get("disableCheck") is True:
        return
    cached = _cached(cache_dir, conf["name"], container_id, ifname)
    if cached is None:
        raise CniError(
            f"no cached result for container {container_id} on network {conf['name']}",
            where=_cache_path(cache_dir, conf["name"], container_id, ifname),
            hint="CHECK needs the result of an ADD made through bastion",
        )
    paths = _plugins(conf, plugin_dirs)
    run = _Runner(conf, container_id, netns_path, ifname, plugin_dirs, capability_args, args)
    for plugin, path in zip(conf["plugins"], paths, strict=True):
        run("CHECK", plugin, path, cached)


def delete(
    conflist: str | dict[str, Any],
    container_id: str,
    netns_path: str,
    ifname: str,
    *,
    plugin_dirs: tuple[str, ...] = PLUGIN_DIRS,
    cache_dir: str = CACHE_DIR,
    capability_args: dict[str, Any] | None = None,
    args: dict[str, str] | None = None,
) -> None:
    """Detach: DEL through every plugin in reverse order, then forget the cached result.

    `netns_path` may name a namespace that is already gone; the plugins then release what is
    outside it (addresses, host-side rules)."""
    conf = load(conflist)
    cache = _cache_path(cache_dir, conf["name"], container_id, ifname)
    cached = _cached(cache_dir, conf["name"], container_id, ifname)
    paths = _plugins(conf, plugin_dirs)
    run = _Runner(conf, container_id, netns_path, ifname, plugin_dirs, capability_args, args)
    _delete(run, conf, paths, cached)
    try:
        os.unlink(cache)
    except FileNotFoundError:
        pass


def _delete(
    run: _Runner, conf: dict[str, Any], paths: list[str], prev: dict[str, Any] | None
) -> None:
    """DEL in reverse order; every plugin runs even when one fails, the first error is raised."""
    first: CniError | None = None
    for plugin, path in reversed(list(zip(conf["plugins"], paths, strict=True))):
        try:
            run("DEL", plugin, path, prev)
        except CniError as e:
            first = first or e
    if first is not None:
        raise first


class _Runner:
    """Runs one plugin for one attachment (the environment and stdin of the CNI spec)."""

    def __init__(
        self,
        conf: dict[str, Any],
        container_id: str,
        netns_path: str,
        ifname: str,
        plugin_dirs: tuple[str, ...],
        capability_args: dict[str, Any] | None,
        args: dict[str, str] | None,
    ) -> None:
        self.conf = conf
        self.capability_args = capability_args or {}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns_path,
            "CNI_IFNAME": ifname,
            "CNI_PATH": os.pathsep.join(plugin_dirs),
        }
        if args:
            self.env["CNI_ARGS"] = ";".join(f"{k}={v}" for k, v in args.items())

    def __call__(
        self, command: str, plugin: dict[str, Any], path: str, prev: dict[str, Any] | None
    ) -> dict[str, Any]:
        stdin = {**plugin, "name": self.conf["name"], "cniVersion": self.conf["cniVersion"]}
        if prev is not None:
            stdin["prevResult"] = prev
        wanted = {
            cap: self.capability_args[cap]
            for cap, on in (plugin.get("capabilities") or {}).items()
            if on and cap in self.capability_args
        }
        if wanted:
            stdin["runtimeConfig"] = {**plugin.get("runtimeConfig", {}), **wanted}
        where = f"{self.conf['name']}: {plugin['type']} {command}"
        try:
            done = subprocess.run(
                [path],
                input=jsonio.dumps(stdin).encode(),
                env={**self.env, "CNI_COMMAND": command},
                capture_output=True,
                timeout=PLUGIN_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CniError(f"cannot run the plugin {path}: {e}", where=where) from None
        if done.returncode != 0:
            raise CniError(_plugin_error(done.stdout, done.stderr, done.returncode), where=where)
        if command != "ADD":
            return prev or {}
        try:
            result = jsonio.loads(done.stdout)
        except ValueError:
            raise CniError(
                f"the plugin's result is not JSON: {done.stdout[:200]!r}", where=where
            ) from None
        if not isinstance(result, dict):
            raise CniError("the plugin's result is not a JSON object", where=where)
        return result


def _plugin_error(stdout: bytes, stderr: bytes, status: int) -> str:
    """The plugin's own error ({"code", "msg", "details"} on stdout), else what it printed."""
    try:
        err = jsonio.loads(stdout)
    except ValueError:
        err = None
    if isinstance(err, dict) and "msg" in err:
        text = f"plugin error {err.get('code', '?')}: {err['msg']}"
        return f"{text} ({err['details']})" if err.get("details") else text
    printed = (stdout + stderr).decode(errors="replace").strip()
    return f"the plugin exited with status {status}" + (f": {printed}" if printed else "")


def _plugins(conf: dict[str, Any], plugin_dirs: tuple[str, ...]) -> list[str]:
    """Every plugin's executable, found before any runs (so a missing one changes nothing)."""
    paths = []
    for i, plugin in enumerate(conf["plugins"]):
        for directory in plugin_dirs:
            path = os.path.join(directory, plugin["type"])
            if os.access(path, os.X_OK):
                paths.append(path)
                break
        else:
            raise CniError(
                f"no CNI plugin {plugin['type']!r} in {', '.join(plugin_dirs)}",
                where=f"{conf['name']}: plugins[{i}].type",
                hint="install containernetworking-plugins or fix the plugin type",
            )
    return paths


def _cache_path(cache_dir: str, network: str, container_id: str, ifname: str) -> str:
    # Names and ids are the user's: hash them so that no character can escape the directory.
    key = hashlib.sha256(f"{network}\0{container_id}\0{ifname}".encode()).hexdigest()[:32]
    return os.path.join(cache_dir, f"{key}.json")


def _cached(cache_dir: str, network: str, container_id: str, ifname: str) -> dict[str, Any] | None:
    try:
        with open(_cache_path(cache_dir, network, container_id, ifname)) as f:
            result: dict[str, Any] = jsonio.loads(f.read())["result"]
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return result
