"""Every reference code bastion's errors carry, with what it means and how to fix it.

An error prints as ``error[CODE]: where: what (hint: ...)`` (`bastion.errors.BastionError`);
``CODE`` is stable and is the key of `CATALOGUE`. `bastion errors CODE` prints one entry and
docs/errors.md lists them all (generated: ``python -m bastion.error_catalogue > docs/errors.md``;
a unit test keeps the file, the catalogue and the codes raised in src/ in step).

Nothing on bastion-runc's path imports this module: an error already carries its code.
"""

from __future__ import annotations

#: The areas, in the order the docs list them.
AREAS = (
    ("spec", "The bundle: config.json and the other OCI documents"),
    ("runtime", "Containers: create, start, exec, kill, delete"),
    ("seccomp", "Seccomp: linux.seccomp and seccomp profiles"),
    ("cgroups", "Cgroups: limits, freezing, removal"),
    ("capture", "Captures and the eBPF probe"),
    ("rules", "Falco rules files and conditions"),
    ("outputs", "Alerts and their outputs"),
    ("images", "Images: layers, the image layout, overlays, registries, archives"),
    ("engine", "The engine: containers from images, their monitors and metadata"),
    ("network", "Networks: bridges, veths, addresses, published ports, the firewall, DNS, CNI"),
    ("cli", "The command lines"),
)

#: code -> (area, meaning, how to fix it)
CATALOGUE: dict[str, tuple[str, str, str]] = {
    # --- spec ------------------------------------------------------------------------------
    "spec-invalid": (
        "spec",
        "config.json is not a valid runtime spec (the general kind of every spec-* error).",
        "Read the message and fix the value at the JSON path it names.",
    ),
    "spec-not-found": (
        "spec",
        "The bundle directory, or its config.json, does not exist.",
        "Pass the bundle directory with --bundle (default: the current directory); "
        "`bastion-runc spec` writes a default config.json.",
    ),
    "spec-unreadable": (
        "spec",
        "config.json (or the file given to `update --resources`) exists but cannot be read.",
        "Check its permissions and that it is a regular file.",
    ),
    "spec-not-json": (
        "spec",
        "The document is not JSON; `where` is file:line:column of the syntax error.",
        "Fix the JSON syntax at that position (a trailing comma, an unquoted key...).",
    ),
    "spec-missing-field": (
        "spec",
        "A field the runtime spec requires is absent (or null), e.g. root, process.args, "
        "the maps of a new user namespace, listenerPath for SCMP_ACT_NOTIFY.",
        "Add the field named by the JSON path; the hint shows an example.",
    ),
    "spec-wrong-type": (
        "spec",
        "A value has the wrong JSON type (a string where a number belongs, ...).",
        "Give the value the type the runtime spec defines for that field.",
    ),
    "spec-invalid-value": (
        "spec",
        "A value has the right type but no meaning here: an unknown name (capability, rlimit, "
        "namespace, seccomp action...), a relative path, a number out of range, or a "
        "combination runc refuses (a sysctl outside its namespace, hostname without a UTS "
        "namespace, an errno on a seccomp action that returns none).",
        "Fix the value at the JSON path; the hint lists the accepted values when there are few.",
    ),
    "spec-exists": (
        "spec",
        "`bastion-runc spec` would overwrite an existing config.json.",
        "Remove or move the existing config.json first.",
    ),
    "namespace-path-invalid": (
        "spec",
        "A namespace `path` in linux.namespaces cannot be opened or is not a namespace file.",
        "Point it at a namespace file such as /proc/PID/ns/net or a bind mount of one.",
    ),
    "namespace-path-wrong-type": (
        "spec",
        "A namespace `path` is a namespace of another type than the entry's `type`.",
        "Use the file of the right type (/proc/PID/ns/net for network, .../mnt for mount...).",
    ),
    "apparmor-unavailable": (
        "spec",
        "process.apparmorProfile is set but AppArmor is not enabled on this host.",
        "Remove the profile, or run on a host with AppArmor.",
    ),
    "selinux-unsupported": (
        "spec",
        "process.selinuxLabel is set; bastion does not support SELinux.",
        "Remove the label.",
    ),
    "console-socket-required": (
        "spec",
        "process.terminal is true but no --console-socket was given to receive the pty.",
        "Pass --console-socket PATH, use `run` in the foreground, or set terminal to false.",
    ),
    # --- runtime ---------------------------------------------------------------------------
    "runtime-failure": (
        "runtime",
        "A container operation failed in the kernel or in the container's set-up.",
        "The message names the step and the kernel's error; check the host and the config.",
    ),
    "container-not-found": (
        "runtime",
        "No container with this id exists under the runtime root (--root).",
        "Check the id with `bastion-runc list` and that --root is the one it was created with.",
    ),
    "state-corrupt": (
        "runtime",
        "A container's state.json cannot be read as the record bastion-runc writes: cut short "
        "by a crash, edited by hand, or written by another tool; `where` names the file and key.",
        "`bastion-runc delete --force ID` removes the container (its processes and cgroups too).",
    ),
    "container-exists": (
        "runtime",
        "`create` was given an id already in use under the runtime root.",
        "Choose another id, or delete the existing container first.",
    ),
    "invalid-container-id": (
        "runtime",
        "The container id is empty, starts with '.', or holds '/' or NUL (it could leave the "
        "state directory).",
        "Use letters, digits, '_', '-', '+' and '.' (not first).",
    ),
    "invalid-state": (
        "runtime",
        "The operation is not allowed in the container's current status (start a running "
        "container, delete one that is not stopped...).",
        "Check the status with `bastion-runc state ID`; `delete --force` removes any container.",
    ),
    "container-init-failed": (
        "runtime",
        "The container's init process reported an error while setting the container up.",
        "The message carries the init's error; fix the config or the rootfs it names.",
    ),
    "executable-not-found": (
        "runtime",
        "process.args[0] does not exist in the container (no such file, or not in $PATH).",
        "Use a program present in the rootfs, or fix PATH in process.env.",
    ),
    "executable-not-executable": (
        "runtime",
        "process.args[0] exists but cannot be executed (a directory, or no execute permission).",
        "Give the file execute permission or name the right program.",
    ),
    "mount-destination-dangling-symlink": (
        "runtime",
        "A mount destination in the rootfs is a symlink that points nowhere.",
        "Fix the image's symlink, or mount at another destination.",
    ),
    "hook-failed": (
        "runtime",
        "A hook exited non-zero, timed out or could not be started; `where` is hooks.KIND[i].",
        "Run the hook by hand with the state on stdin; raise its timeout if it is slow.",
    ),
    "console-socket-unreachable": (
        "runtime",
        "The pty could not be sent to --console-socket (nothing listens there).",
        "Start the console receiver first, or pass the right socket path.",
    ),
    "ps-failed": (
        "runtime",
        "The host's `ps` could not be run, failed, or printed no PID column.",
        "Check the ps options given after the id; `-o` must keep a pid column.",
    ),
    "systemd-cgroup-unsupported": (
        "runtime",
        "The systemd cgroup driver (--systemd-cgroup, or a 'slice:prefix:name' cgroupsPath) "
        "was asked for; bastion manages cgroupfs paths only.",
        "Drop --systemd-cgroup and use a cgroupfs path (Podman: --cgroup-manager=cgroupfs).",
    ),
    "invalid-flag-value": (
        "runtime",
        "An `update` flag's value is not what its resource takes: a size such as 64m, or an "
        "integer in the field's range (reported as a usage error, exit 2, as runc does).",
        "Give the flag a value of the form `bastion-runc update --help` shows.",
    ),
    "intel-rdt-unsupported": (
        "runtime",
        "`update --l3-cache-schema` or `--mem-bw-schema`: bastion has no Intel RDT support.",
        "Leave those options out.",
    ),
    # --- seccomp ---------------------------------------------------------------------------
    "seccomp-unknown-syscall": (
        "seccomp",
        "A seccomp rule names something that is not a syscall: not an identifier, or no name "
        "of the rule is known to this host's libseccomp.",
        "Check the spelling against syscalls(2); a rule may list names newer than libseccomp "
        "as long as one of them is known.",
    ),
    "seccomp-invalid": (
        "seccomp",
        "This host's libseccomp or kernel cannot build the filter asked for: an architecture "
        "or flag it lacks, SCMP_ACT_NOTIFY below API level 6, a rule it refuses.",
        "Upgrade libseccomp (the hint names the version needed) or drop that setting.",
    ),
    "seccomp-load-failed": (
        "seccomp",
        "The kernel refused to install the seccomp filter in the container's init.",
        "Without noNewPrivileges the init needs CAP_SYS_ADMIN to load it; check the kernel's "
        "seccomp support.",
    ),
    "seccomp-listener-failed": (
        "seccomp",
        "The SCMP_ACT_NOTIFY fd could not be sent to the agent at linux.seccomp.listenerPath.",
        "Start the seccomp agent first and check the socket path.",
    ),
    "seccomp-profile-invalid": (
        "seccomp",
        "A Docker-format seccomp profile is malformed; `where` is its JSON path.",
        "Fix the profile at that path (Docker's format: archMap, syscalls with includes/excludes).",
    ),
    # --- cgroups ---------------------------------------------------------------------------
    "cgroup-error": (
        "cgroups",
        "A cgroup cannot be managed at all (the general kind of every cgroup-* error).",
        "Read the message: it names the cgroup and what failed.",
    ),
    "cgroup-not-mounted": (
        "cgroups",
        "No cgroup filesystem (v1 or v2) is mounted at the cgroup root.",
        "Mount cgroup2 at /sys/fs/cgroup (or the v1 controllers under it).",
    ),
    "cgroup-mountinfo-unreadable": (
        "cgroups",
        "/proc/self/mountinfo cannot be read, so the cgroup mounts cannot be found.",
        "Run with /proc mounted.",
    ),
    "cgroup-path-invalid": (
        "cgroups",
        "linux.cgroupsPath is unusable: it contains '..', names the root cgroup, or is not "
        "absolute where it must be.",
        "Use a path such as /bastion/ID, or leave it out.",
    ),
    "cgroup-create-failed": (
        "cgroups",
        "The cgroup directory could not be created.",
        "Check that the parent exists and is writable (root, or a delegated subtree).",
    ),
    "cgroup-read-failed": (
        "cgroups",
        "A cgroup file could not be read; `where` is the file.",
        "The cgroup may be gone, or the controller not enabled for it.",
    ),
    "cgroup-write-failed": (
        "cgroups",
        "A value could not be written to a cgroup file; `where` is the file.",
        "The hint says why (a knob this kernel lacks, a value that conflicts with usage).",
    ),
    "cgroup-unsupported": (
        "cgroups",
        "A resource is set that this host's cgroups cannot honour (a missing controller, a "
        "v1-only knob on cgroup v2).",
        "Remove the setting, or enable the controller on the host.",
    ),
    "cgroup-invalid-value": (
        "cgroups",
        "A resource value is out of range or cannot be converted (swappiness > 100, swap below "
        "the memory limit, an unsafe `unified` key).",
        "Fix the value named by `where`.",
    ),
    "cgroup-memory-below-usage": (
        "cgroups",
        "checkBeforeUpdate is set and the new memory limit is below the current usage.",
        "Raise the limit, or free memory in the container first.",
    ),
    "cgroup-freeze-failed": (
        "cgroups",
        "The cgroup did not reach the frozen state in time (it was thawed back).",
        "Retry `pause`; a process stuck in the kernel can delay freezing.",
    ),
    "cgroup-kill-failed": (
        "cgroups",
        "A signal could not be sent to a process of the cgroup.",
        "Check permissions on the processes (another user namespace, a protected process).",
    ),
    "cgroup-busy": (
        "cgroups",
        "A cgroup cannot be removed: processes stay in it after SIGKILL.",
        "Find them in the cgroup's cgroup.procs; retry `delete --force`.",
    ),
    "cgroup-remove-failed": (
        "cgroups",
        "The cgroup directory could not be removed.",
        "The message gives the kernel's reason; child cgroups must go first.",
    ),
    # --- capture and probe -----------------------------------------------------------------
    "bcap-unreadable": (
        "capture",
        "The file is not a bastion capture (.bcap), or cannot be read.",
        "Check the path; `bastion capture` writes .bcap files.",
    ),
    "bcap-corrupt": (
        "capture",
        "A bastion capture is truncated or corrupt; `where` is path:byte N.",
        "Record it again; the events before that byte are still readable.",
    ),
    "bcap-version": (
        "capture",
        "The capture was written in a format version this bastion does not read.",
        "Read it with the bastion that wrote it.",
    ),
    "bcap-event-table": (
        "capture",
        "The capture was written against another event table than this bastion's.",
        "Read it with the bastion that wrote it.",
    ),
    "scap-corrupt": (
        "capture",
        "A .scap capture is truncated or corrupt; `where` is path:byte offset.",
        "Record it again with sysdig or Falco.",
    ),
    "unknown-capture-format": (
        "capture",
        "The file to replay is neither a bastion capture nor a readable .scap file.",
        "Pass a .bcap or .scap file.",
    ),
    "replay-no-event": (
        "capture",
        "The capture has no event of the number asked for.",
        "Use an event number the capture has (`bastion events -r FILE` lists them).",
    ),
    "unknown-event": (
        "capture",
        "--events names an event bastion's probe does not produce.",
        "See `bastion events --list` for the events the probe knows.",
    ),
    "probe-start-failed": (
        "capture",
        "The eBPF probe cannot be built, loaded or attached (no root, no BTF, a verifier "
        "rejection); the message keeps the kernel's or libbpf's last words.",
        "Run as root on a kernel with BTF (/sys/kernel/btf/vmlinux).",
    ),
    "probe-config-invalid": (
        "capture",
        "The probe was configured wrongly (unknown event, bad ring size) or is not started.",
        "Fix the option named in the message.",
    ),
    "probe-load-failed": (
        "capture",
        "libbpf could not open, load or attach the probe; the message carries its log.",
        "Read the verifier's log in the message; check the kernel version and BTF.",
    ),
    "probe-record-invalid": (
        "capture",
        "A probe record does not match the record layout or the event table.",
        "A bug or a probe built from other sources: rebuild the probe (scripts/setup).",
    ),
    # --- rules -----------------------------------------------------------------------------
    "rules-file-invalid": (
        "rules",
        "An item of a rules file is malformed (wrong type, missing key, bad append/override); "
        "`where` is file:line:col.",
        "Fix the item at that position (Falco's rules file format).",
    ),
    "rules-yaml-syntax": (
        "rules",
        "A rules file is not valid YAML; `where` is file:line:col.",
        "Fix the YAML at that position.",
    ),
    "rule-condition-syntax": (
        "rules",
        "A rule's or macro's condition does not parse; the message marks the position.",
        "Fix the condition (Falco's condition syntax).",
    ),
    "rule-compile": (
        "rules",
        "A condition parses but cannot be compiled (the general kind of the rule-* errors).",
        "Read the message: it names the rule or macro and the offending part.",
    ),
    "rule-unknown-field": (
        "rules",
        "A condition uses a field bastion does not know.",
        "See `bastion fields` for the field names.",
    ),
    "rule-undefined-macro": (
        "rules",
        "A condition refers to a macro that is not defined.",
        "Define the macro, or load the rules file that defines it first.",
    ),
    "rule-macro-cycle": (
        "rules",
        "A macro refers to itself, directly or through others.",
        "Break the cycle shown in the message.",
    ),
    "rule-macro-depth": (
        "rules",
        "A chain of macros nests deeper than bastion's limit (100).",
        "Flatten the chain: use a list, or several macros side by side.",
    ),
    "rule-list-cycle": (
        "rules",
        "A list contains itself, directly or through the lists it names.",
        "Break the loop shown in the message.",
    ),
    "rule-unknown-event-type": (
        "rules",
        "evt.type is compared with a name that is not an event type (a typo such as opne, or a "
        "list of other things): the check could never match, and Falco refuses it.",
        "Use an event or syscall name (`bastion events` lists the events).",
    ),
    "rules-engine-version": (
        "rules",
        "A rules file's required_engine_version is not a version, or is newer than bastion's "
        "engine version (0.57.0, Falco 0.44's rule language).",
        "Write x.y.z (or an integer N for 0.N.0); use rules written for this engine or older.",
    ),
    "rule-undefined-list": (
        "rules",
        "A condition uses `in`/`pmatch` with a list that is not defined.",
        "Define the list, or load the rules file that defines it first.",
    ),
    "rule-invalid-operand": (
        "rules",
        "An operator's operand is invalid (bad hex for bcontains, a bad regex...).",
        "Fix the operand shown in the message.",
    ),
    "rule-exception": (
        "rules",
        "A rule's exception cannot be turned into a condition.",
        "Check the exception's fields, comps and values.",
    ),
    "rule-priority": (
        "rules",
        "A rule (or a minimum priority option) has a priority that is not one of Falco's eight.",
        "Use emergency, alert, critical, error, warning, notice, informational or debug.",
    ),
    "rule-matching": (
        "rules",
        "rule_matching is neither 'first' nor 'all'.",
        "Use 'first' (Falco's default) or 'all'.",
    ),
    "rule-not-found": (
        "rules",
        "`bastion rules explain` names a rule the loaded files do not have.",
        "Rule names are case-sensitive; `bastion rules list` shows them.",
    ),
    "explain-event": (
        "rules",
        "The event given to `bastion rules explain` cannot be read (--field not NAME=VALUE, "
        "an unreadable or invalid --event JSON).",
        "Pass --field NAME=VALUE pairs or a JSON object of field values.",
    ),
    "watch-config": (
        "rules",
        "A `bastion watch -c` configuration file or a `-o KEY=VALUE` option cannot be used (not "
        "YAML, a key of the wrong type, an enabled output without its path or command).",
        "Fix the key the message names (Falco's falco.yaml key names).",
    ),
    # --- outputs ---------------------------------------------------------------------------
    "output-config": (
        "outputs",
        "An output cannot be built from its options (a malformed webhook URL, a Prometheus port "
        "that cannot be bound, an unknown format), before any alert flows.",
        "Fix the output option named in the message.",
    ),
    "output-format": (
        "outputs",
        "An output string cannot be compiled (the general kind of the output-format-* errors).",
        "See `bastion fields` for field names.",
    ),
    "output-unknown-field": (
        "outputs",
        "An output string names a field bastion does not know (after %).",
        "See `bastion fields` for field names.",
    ),
    "output-format-syntax": (
        "outputs",
        "An output string is malformed (a % at the end, a width with no field).",
        "Write fields as %name or %name[arg] (Falco has no %% escape).",
    ),
    "action-config": (
        "rules",
        "An --action flag names no known action, priority or rule form.",
        "Write ACTION=PRIORITY (kill_process=warning) or ACTION=rule:NAME; the actions are "
        "kill_process, kill_container, pause_container and alert.",
    ),
    "sensor-service": (
        "capture",
        "The sensor service could not start, did not become ready, or another one already "
        "holds its service directory.",
        "Read the service's log (sensor.log in the service directory); stop the running one "
        "with `bastion sensor --stop`, or give another --service-dir.",
    ),
    "unknown-priority": (
        "outputs",
        "A priority name is not one of Falco's eight.",
        "Use emergency, alert, critical, error, warning, notice, informational or debug.",
    ),
    "bad-time": (
        "outputs",
        "A --since value is neither a duration (10m, 2h, 1d) nor an ISO-8601 time.",
        "Write a duration such as 30m or a time such as 2026-01-31T12:00:00.",
    ),
    "alert-store": (
        "outputs",
        "The SQLite alert store cannot be opened, created or read; `where` is its path.",
        "Check the path and its permissions.",
    ),
    "alert-store-missing": (
        "outputs",
        "The alert store does not exist (nothing was stored yet, or the path is wrong).",
        "Run `bastion watch --alerts-db PATH` first, or pass the right --db path.",
    ),
    # --- images ----------------------------------------------------------------------------
    "image-error": (
        "images",
        "An image failure without a more specific code (the root of bastion.images' errors).",
        "Read the message.",
    ),
    "layer-format": (
        "images",
        "A layer is not a tar archive (plain, gzip or zstd), is corrupt, or holds an entry that "
        "cannot be placed (a symlink loop above it, a parent that is not a directory).",
        "Pull or build the image again; if it persists the image itself is broken.",
    ),
    "layer-path-escape": (
        "images",
        "A layer entry (or hard-link target) has a `..` component: the whole layer is refused.",
        "The image is malformed or hostile; do not use it.",
    ),
    "layer-link-target": (
        "images",
        "A hard link in a layer names something that is not an earlier file of the same layer "
        "(for example a host file).",
        "The image is malformed or hostile; do not use it.",
    ),
    "layer-diff-id-mismatch": (
        "images",
        "An unpacked layer's uncompressed digest is not the diff id its image config lists.",
        "The image is corrupt: remove it and pull it again.",
    ),
    "layer-unpack-failed": (
        "images",
        "Writing an unpacked layer entry failed on this host (no space, a name too long, no "
        "privilege for a whiteout device or a trusted xattr).",
        "Read the errno in the message; unpack as root on a filesystem with xattrs and free space.",
    ),
    "image-layout": (
        "images",
        "The OCI image layout on disk is unreadable (oci-layout, index.json, a manifest or "
        "config), or its documents disagree.",
        "Check the layout directory named; remove the damaged image and pull it again.",
    ),
    "blob-missing": (
        "images",
        "A blob that a manifest names is not in the image layout.",
        "Pull the image again (garbage collection or a manual removal took the blob).",
    ),
    "blob-digest-mismatch": (
        "images",
        "A blob or manifest does not hash to its digest, or its size is not the announced one (a "
        "corrupt or lying registry, a damaged file).",
        "Pull again; if it persists the registry serves tampered data. Nothing unverified was "
        "kept.",
    ),
    "digest-format": (
        "images",
        "A digest is not `sha256:` followed by 64 lower-case hex digits.",
        "Write the digest in full; bastion accepts sha256 only.",
    ),
    "image-not-found": (
        "images",
        "No image answers to the name: the tag or repository is not in the registry, or the name "
        "is not in the local layout.",
        "Check the name and the tag, or pull the image first.",
    ),
    "manifest-unsupported": (
        "images",
        "A manifest bastion cannot use: Docker schema 1, an unknown media type, or an index "
        "inside an index.",
        "Push the image again with a current tool (OCI or Docker schema 2).",
    ),
    "platform-not-found": (
        "images",
        "The image index has no manifest for the requested platform (the message lists those it "
        "has).",
        "Ask for one of the platforms the message lists.",
    ),
    "image-document": (
        "images",
        "A manifest, index or image config is not the JSON object it should be.",
        "The image is malformed: push or build it again.",
    ),
    "image-reference-format": (
        "images",
        "An image reference does not parse as [registry/]repository[:tag][@sha256:digest].",
        "Write the name in lower case, e.g. registry.example:5000/team/app:1.0.",
    ),
    "image-archive": (
        "images",
        "An image archive cannot be loaded: not a tar, neither an oci-archive nor a docker-"
        "archive, or a document names a member the archive lacks.",
        "Check the file was written by `bastion save`, `skopeo copy`, `podman save` or `docker "
        "save`.",
    ),
    "overlay-mount": (
        "images",
        "A container's overlay could not be mounted or unmounted (the step and the kernel's "
        "reason are in the message).",
        "Run as root on Linux >= 6.8 with overlayfs; an image has at most 500 layers. A `--rm` "
        "container's (volatile) overlay that the host stopped under cannot be mounted again: "
        "remove the container.",
    ),
    "registry-error": (
        "images",
        "The registry answered with an error no other code covers (`HTTP <status>: CODE: "
        "message`).",
        "Read the registry's own code and message in the error.",
    ),
    "registry-unreachable": (
        "images",
        "The registry could not be reached: connection refused, DNS, TLS, a timeout, or a "
        "download that kept breaking off.",
        "Check the address and that the registry runs; a registry without TLS needs TLS "
        "verification off (the default for loopback registries).",
    ),
    "registry-unauthorized": (
        "images",
        "The registry or its token server refused the credentials, or asked for some and none "
        "were given.",
        "Pass credentials, or fix the registry's entry in ~/.docker/config.json or "
        "${XDG_RUNTIME_DIR}/containers/auth.json.",
    ),
    "registry-not-logged-in": (
        "images",
        "`logout` was asked to forget a registry that the auth file (the one `login` writes: "
        "$REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json, else "
        "/run/containers/<uid>/auth.json) holds no credentials for.",
        "Nothing to undo. Check the registry's name (host:port, as given to `login`) and "
        "$REGISTRY_AUTH_FILE.",
    ),
    "registry-credentials-file": (
        "images",
        "An auth file (~/.docker/config.json, ${XDG_RUNTIME_DIR}/containers/auth.json) is not "
        "JSON or holds an entry that does not decode.",
        "Fix or remove the entry the message names.",
    ),
    # --- engine ----------------------------------------------------------------------------
    "engine-error": (
        "engine",
        "The engine failed: its metadata (SQLite) could not be opened or is newer than this "
        "bastion, the monitor (conmon) did not start, or the runtime could not create the "
        "container. `bastion` exits with 125, as Docker.",
        "Read the message; the runtime's own reason is in it.",
    ),
    "engine-no-such-container": (
        "engine",
        "No container has that name, id or id prefix (or the prefix matches several).",
        "`bastion ps -a` lists them; give a longer prefix or the name.",
    ),
    "engine-name-in-use": (
        "engine",
        "Another container already has the name given with --name.",
        "Remove that container (`bastion rm NAME`) or choose another name.",
    ),
    "engine-image-in-use": (
        "engine",
        "`rmi` was asked to remove an image that a container was made from.",
        "Remove the container first, or use `rmi -f` (the container keeps its layers).",
    ),
    "engine-container-state": (
        "engine",
        "The container's state forbids the action: `rm` of a running container, `start` of "
        "a running one, `kill` of one that is not running, `wait` on one that has not ended.",
        "Stop it first (`bastion stop`), or use `rm -f`.",
    ),
    "engine-invalid-option": (
        "engine",
        "A `create`/`run` flag has a wrong value (a size, a relative -w, a user or group "
        "missing from the image), or neither the image nor the flags give a command.",
        "Fix the flag the message names; give a command after the image.",
    ),
    "engine-command-failed": (
        "engine",
        "The container's command cannot run: not found (exit status 127) or not executable "
        "(126), as Docker reports them.",
        "Check the command, the image's PATH and the file's mode.",
    ),
    "engine-dockerfile": (
        "engine",
        "`build` cannot read the Dockerfile: an unknown instruction, a malformed flag, JSON "
        "array or `${...}` substitution, an instruction without its argument, an unknown "
        "stage or --target.",
        "Fix the line the error names (the file and line are given); `-f` names another file.",
    ),
    "engine-build-step": (
        "engine",
        "A `build` step failed: a RUN command exited non-zero (its status is in the message), "
        "a COPY/ADD source is missing, outside the context or excluded by .dockerignore, or "
        "the build was cancelled. No image was named; the steps before it stay in the cache.",
        "Fix the command or the context and build again (the cached steps are reused).",
    ),
    "engine-no-such-volume": (
        "engine",
        "No volume has that name.",
        "`bastion volume ls` lists them.",
    ),
    "engine-volume-in-use": (
        "engine",
        "`volume rm` was asked to remove a volume that a container (running or not) mounts; "
        "-f does not override it, as in Docker.",
        "Remove the container first (`bastion rm CONTAINER`; `rm -v` also removes its "
        "anonymous volumes).",
    ),
    "engine-copy": (
        "engine",
        "`cp` cannot copy: the path does not exist in the container or on the host, its "
        "parent directory is missing, or a directory would replace a file (or the reverse). "
        "Paths in the container are resolved inside its root; symlinks never lead out of it.",
        "Check both paths (`CONTAINER:PATH` on one side only); create the parent directory.",
    ),
    # --- network ---------------------------------------------------------------------------
    "network-error": (
        "network",
        "A network step failed: netlink refused a bridge, veth, address or route, a network "
        "namespace could not be made, or the action is not allowed on that network (the "
        "pre-defined `bridge` cannot be removed).",
        "Read the message; bastion needs root and a kernel with bridge and veth support.",
    ),
    "network-not-found": (
        "network",
        "No network has that name, id or id prefix (`--network`, `network rm`, ...).",
        "`bastion network ls` lists them; `bastion network create NAME` makes one.",
    ),
    "network-name-in-use": (
        "network",
        "`network create` was given the name of an existing network (or `bridge`).",
        "Choose another name, or remove that network first.",
    ),
    "network-subnet": (
        "network",
        "A subnet or gateway is malformed, not private, has host bits set, or overlaps a "
        "host route or another network's subnet.",
        "Give a free private CIDR (`ip route` and `bastion network ls` show what is taken).",
    ),
    "network-address": (
        "network",
        "`--ip` is malformed, outside the network's subnet, its gateway, or leased to another "
        "container; or the subnet has no free address left.",
        "Choose another --ip, remove containers from the network, or use a larger subnet.",
    ),
    "network-in-use": (
        "network",
        "`network rm` of a network that containers are on.",
        "Remove those containers or `bastion network disconnect` them first.",
    ),
    "network-port": (
        "network",
        "A `-p` value is malformed, or its host port is already published by another "
        "running container.",
        "Use [IP:][HOST:]CONTAINER[/tcp|udp]; choose another host port or stop that container.",
    ),
    "network-firewall": (
        "network",
        "bastion's nftables ruleset is malformed (`where` names the field: a subnet, a port, a "
        "protocol) or nftables refused it; the table is left as it was.",
        "Fix the value named; if nftables refused the batch, check that the kernel has nf_tables "
        "and nft_nat (modprobe nf_tables) and that bastion runs as root.",
    ),
    "network-cni": (
        "network",
        "A CNI configuration list is malformed (`where` names the field) or one of its plugins "
        "failed (its code and message; `where` names the plugin and the command). A failed ADD "
        "has been undone with DEL.",
        "Fix the list, or what the plugin's message names; plugins are looked up in /usr/lib/cni "
        "and /opt/cni/bin (Debian: containernetworking-plugins).",
    ),
    "network-dns": (
        "network",
        "A network's DNS responder could not start (the gateway address is not on the host, or "
        "another process holds its port 53) or could not be stopped.",
        "Read the responder's log named in the message; free port 53 on the gateway address.",
    ),
    # --- cli -------------------------------------------------------------------------------
    "bastion-error": (
        "cli",
        "An error without a more specific code.",
        "Read the message.",
    ),
    "usage": (
        "cli",
        "The command line is wrong: an unknown command or option, a missing argument.",
        "Run the command with --help.",
    ),
    "os-error": (
        "cli",
        "bastion-runc met an operating-system error no step turned into a bastion error.",
        "The message is the kernel's; check the paths and permissions it names.",
    ),
}


def lookup(code: str) -> tuple[str, str, str] | None:
    """(area, meaning, fix) of `code`, or None."""
    return CATALOGUE.get(code)


def markdown() -> str:
    """docs/errors.md: every code, by area, with its meaning and fix."""
    lines = [
        "# Error reference codes",
        "",
        "Generated from `src/bastion/error_catalogue.py` by `python -m bastion.error_catalogue`;",
        "do not edit by hand. `bastion-runc` and `bastion` print every error as",
        "`error[CODE]: where: what (hint: how to fix)`; with `--log-format json` bastion-runc also",
        "writes the code as the `reference` field of the log line (its `msg` is unchanged).",
        "`bastion errors CODE` prints one entry.",
    ]
    for area, title in AREAS:
        codes = sorted(code for code, entry in CATALOGUE.items() if entry[0] == area)
        lines += ["", f"## {title}", "", "| code | meaning | fix |"]
        lines.append("| --- | --- | --- |")
        for code in codes:
            _, meaning, fix = CATALOGUE[code]
            lines.append(f"| `{code}` | {_cell(meaning)} | {_cell(fix)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
