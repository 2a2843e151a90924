"""libscap's event table as data: every PPME event code a .scap file may hold.

Codes, names, directions, categories, parameter names and types follow falcosecurity/libs
`driver/ppm_events_public.h` (the ``PPME_*`` numbering) and `driver/event_table.c`, learned from
there and written in our own notation below. Codes are stable: libs only appends parameters to an
event or adds a new code (``execve`` has eleven), so an older capture carries a prefix of the
parameters listed here and `scap_decode` decodes what is present. A code's direction is its
parity (even: enter ``>``, odd: exit ``<``), as libscap's ``PPME_IS_ENTER`` says. Placeholder
codes (libs names them ``NA``) are left out: the decoder treats them as unknown.

One deliberate difference: the process events' ``args``, ``env`` and ``cgroups`` are BYTEBUF in
libs (NUL-separated strings) and CHARBUFARRAY here, so a .scap event and a live-probe event
carry the same ``tuple[str, ...]``; `bastion.sensor.events.render` prints them as Falco prints
the bytes (``-c.ls.``).

Notation, one event per row (continuation lines are indented)::

    code name category param param ...
    param = name:TYPE[/table][@dirfd][%fmt]

``TYPE`` is a `ParamType` name, or ``FD32``/``PID32`` (a 4-byte fd/pid on disk) or ``DYN`` (a
dynamic parameter whose first byte picks the type from ``table``, see `DYNAMIC_PARAMS`);
``/table`` names the flag table (`bastion.sensor.events.flags`); ``@n`` is the index of the
dirfd parameter a relative path is resolved against; ``%x``/``%o`` are Falco's hex and octal
print formats (decimal otherwise).

This module is longer than 500 lines because it is one table; the code is the last 100 lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.sensor.events.model import Direction, ParamSpec, ParamType

_TABLE = """
0 syscall other ID:SYSCALLID nativeID:UINT16
1 syscall other ID:SYSCALLID nativeID:UINT16
2 open file name:FSPATH flags:FLAGS32/file_flags mode:UINT32%o
3 open file fd:FD name:FSPATH flags:FLAGS32/file_flags mode:UINT32%o dev:UINT32%x ino:UINT64
4 close IO_other fd:FD
5 close IO_other res:ERRNO fd:FD
6 read IO_read fd:FD size:UINT32
7 read IO_read res:ERRNO data:BYTEBUF fd:FD size:UINT32
8 write IO_write fd:FD size:UINT32
9 write IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32
10 brk memory size:UINT32
11 brk memory res:UINT64%x
12 execve process
13 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64
14 clone process
15 clone process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
16 procexit process
18 socket net domain:ENUMFLAGS32/socket_families type:UINT32 proto:UINT32
19 socket net fd:FD domain:ENUMFLAGS32/socket_families type:UINT32 proto:UINT32
    flags:FLAGS32/file_flags
20 bind net fd:FD
21 bind net res:ERRNO addr:SOCKADDR fd:FD
22 connect net fd:FD addr:SOCKADDR
23 connect net res:ERRNO tuple:SOCKTUPLE fd:FD addr:SOCKADDR
24 listen net fd:FD backlog:INT32
25 listen net res:ERRNO fd:FD backlog:INT32
26 accept net
27 accept net fd:FD tuple:SOCKTUPLE queuepct:UINT8
28 send IO_write fd:FD size:UINT32
29 send IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE
30 sendto IO_write fd:FD size:UINT32 tuple:SOCKTUPLE
31 sendto IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE
32 recv IO_read fd:FD size:UINT32
33 recv IO_read res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE
34 recvfrom IO_read fd:FD size:UINT32
35 recvfrom IO_read res:ERRNO data:BYTEBUF tuple:SOCKTUPLE fd:FD size:UINT32
36 shutdown net fd:FD how:ENUMFLAGS8/shutdown_how
37 shutdown net res:ERRNO fd:FD how:ENUMFLAGS8/shutdown_how
38 getsockname net
39 getsockname net
40 getpeername net
41 getpeername net
42 socketpair ipc domain:ENUMFLAGS32/socket_families type:UINT32 proto:UINT32
43 socketpair ipc res:ERRNO fd1:FD fd2:FD source:UINT64%x peer:UINT64%x
    domain:ENUMFLAGS32/socket_families type:UINT32 proto:UINT32
44 setsockopt net
45 setsockopt net res:ERRNO fd:FD level:ENUMFLAGS8/sockopt_levels
    optname:ENUMFLAGS8/sockopt_options val:DYN/sockopt_dynamic_param optlen:UINT32
46 getsockopt net
47 getsockopt net res:ERRNO fd:FD level:ENUMFLAGS8/sockopt_levels
    optname:ENUMFLAGS8/sockopt_options val:DYN/sockopt_dynamic_param optlen:UINT32
48 sendmsg IO_write fd:FD size:UINT32 tuple:SOCKTUPLE
49 sendmsg IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32 tuple:SOCKTUPLE
50 sendmmsg IO_write
51 sendmmsg IO_write res:ERRNO fd:FD size:UINT32 data:BYTEBUF tuple:SOCKTUPLE
52 recvmsg IO_read fd:FD
53 recvmsg IO_read res:ERRNO size:UINT32 data:BYTEBUF tuple:SOCKTUPLE msgcontrol:BYTEBUF fd:FD
54 recvmmsg IO_read
55 recvmmsg IO_read res:ERRNO fd:FD size:UINT32 data:BYTEBUF tuple:SOCKTUPLE msgcontrol:BYTEBUF
56 accept net flags:INT32%x
57 accept net fd:FD tuple:SOCKTUPLE queuepct:UINT8
58 creat file name:FSPATH mode:UINT32%o
59 creat file fd:FD name:FSPATH mode:UINT32%o dev:UINT32%x ino:UINT64
    creat_flags:FLAGS16/creat_flags
60 pipe ipc
61 pipe ipc res:ERRNO fd1:FD fd2:FD ino:UINT64
62 eventfd ipc initval:UINT64 flags:UINT32%x
63 eventfd ipc res:FD initval:UINT64 flags:UINT32%x
64 futex ipc addr:UINT64%x op:FLAGS16/futex_operations val:UINT64
65 futex ipc res:ERRNO addr:UINT64%x op:FLAGS16/futex_operations val:UINT64
66 stat file
67 stat file res:ERRNO path:FSPATH
68 lstat file
69 lstat file res:ERRNO path:FSPATH
70 fstat file fd:FD
71 fstat file res:ERRNO fd:FD
72 stat64 file
73 stat64 file res:ERRNO path:FSPATH
74 lstat64 file
75 lstat64 file res:ERRNO path:FSPATH
76 fstat64 file fd:FD
77 fstat64 file res:ERRNO
78 epoll_wait wait maxevents:ERRNO
79 epoll_wait wait res:ERRNO maxevents:ERRNO
80 poll wait fds:FDLIST timeout:INT64
81 poll wait res:ERRNO fds:FDLIST timeout:INT64
82 select wait
83 select wait res:ERRNO
84 select wait
85 select wait res:ERRNO
86 lseek file fd:FD offset:UINT64 whence:ENUMFLAGS8/lseek_whence
87 lseek file res:ERRNO fd:FD offset:UINT64 whence:ENUMFLAGS8/lseek_whence
88 llseek file fd:FD offset:UINT64 whence:ENUMFLAGS8/lseek_whence
89 llseek file res:ERRNO fd:FD offset:UINT64 whence:ENUMFLAGS8/lseek_whence
90 ioctl IO_other fd:FD request:UINT64%x
91 ioctl IO_other res:ERRNO
92 getcwd file
93 getcwd file res:ERRNO path:CHARBUF
94 chdir file
95 chdir file res:ERRNO path:CHARBUF
96 fchdir file fd:FD
97 fchdir file res:ERRNO fd:FD
98 mkdir file path:FSPATH mode:UINT32%x
99 mkdir file res:ERRNO
100 rmdir file path:FSPATH
101 rmdir file res:ERRNO
102 openat file dirfd:FD name:CHARBUF flags:FLAGS32/file_flags mode:UINT32%o
103 openat file fd:FD
104 link file oldpath:FSPATH newpath:FSPATH
105 link file res:ERRNO
106 linkat file olddir:FD oldpath:CHARBUF newdir:FD newpath:CHARBUF
107 linkat file res:ERRNO
108 unlink file path:FSPATH
109 unlink file res:ERRNO
110 unlinkat file dirfd:FD name:CHARBUF
111 unlinkat file res:ERRNO
112 pread IO_read fd:FD size:UINT32 pos:UINT64
113 pread IO_read res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64
114 pwrite IO_write fd:FD size:UINT32 pos:UINT64
115 pwrite IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64
116 readv IO_read fd:FD
117 readv IO_read res:ERRNO size:UINT32 data:BYTEBUF fd:FD
118 writev IO_write fd:FD size:UINT32
119 writev IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32
120 preadv IO_read fd:FD pos:UINT64
121 preadv IO_read res:ERRNO size:UINT32 data:BYTEBUF fd:FD pos:UINT64
122 pwritev IO_write fd:FD size:UINT32 pos:UINT64
123 pwritev IO_write res:ERRNO data:BYTEBUF fd:FD size:UINT32 pos:UINT64
124 dup IO_other fd:FD
125 dup IO_other res:FD
126 signalfd signal fd:FD mask:UINT32%x flags:UINT8%x
127 signalfd signal res:FD fd:FD mask:UINT32%x flags:UINT8%x
128 kill signal pid:PID sig:SIGTYPE
129 kill signal res:ERRNO pid:PID sig:SIGTYPE
130 tkill signal tid:PID sig:SIGTYPE
131 tkill signal res:ERRNO tid:PID sig:SIGTYPE
132 tgkill signal pid:PID tid:PID sig:SIGTYPE
133 tgkill signal res:ERRNO pid:PID tid:PID sig:SIGTYPE
134 nanosleep sleep interval:RELTIME
135 nanosleep sleep res:ERRNO interval:RELTIME
136 timerfd_create time clockid:UINT8 flags:UINT8%x
137 timerfd_create time res:FD clockid:UINT8 flags:UINT8%x
138 inotify_init ipc flags:UINT8%x
139 inotify_init ipc res:FD flags:UINT8%x
140 getrlimit process resource:ENUMFLAGS8/rlimit_resources
141 getrlimit process res:ERRNO cur:INT64 max:INT64 resource:ENUMFLAGS8/rlimit_resources
142 setrlimit process resource:ENUMFLAGS8/rlimit_resources
143 setrlimit process res:ERRNO cur:INT64 max:INT64 resource:ENUMFLAGS8/rlimit_resources
144 prlimit process pid:PID resource:ENUMFLAGS8/rlimit_resources
145 prlimit process res:ERRNO newcur:INT64 newmax:INT64 oldcur:INT64 oldmax:INT64 pid:INT64
    resource:ENUMFLAGS8/rlimit_resources
146 switch scheduler next:PID
148 drop internal ratio:UINT32
149 drop internal ratio:UINT32
150 fcntl IO_other fd:FD cmd:ENUMFLAGS8/fcntl_commands
151 fcntl IO_other res:FD fd:FD cmd:ENUMFLAGS8/fcntl_commands arg:UINT64%x
152 switch scheduler next:PID pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32
    vm_swap:UINT32
154 execve process
155 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
156 clone process
157 clone process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
158 brk memory addr:UINT64%x
159 brk memory res:UINT64%x vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 addr:UINT64%x
160 mmap memory addr:UINT64%x length:UINT64 prot:FLAGS32/prot_flags flags:FLAGS32/mmap_flags
    fd:FD offset:UINT64
161 mmap memory res:ERRNO%x vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 addr:UINT64%x
    length:UINT64 prot:FLAGS32/prot_flags flags:FLAGS32/mmap_flags fd:FD offset:UINT64
162 mmap2 memory addr:UINT64%x length:UINT64 prot:FLAGS32/prot_flags flags:FLAGS32/mmap_flags
    fd:FD pgoffset:UINT64
163 mmap2 memory res:ERRNO%x vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 addr:UINT64%x
    length:UINT64 prot:FLAGS32/prot_flags flags:FLAGS32/mmap_flags fd:FD pgoffset:UINT64
164 munmap memory addr:UINT64%x length:UINT64
165 munmap memory res:ERRNO vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32 addr:UINT64%x
    length:UINT64
166 splice IO_other fd_in:FD fd_out:FD size:UINT64 flags:FLAGS32/splice_flags
167 splice IO_other res:ERRNO fd_in:FD fd_out:FD size:UINT64 flags:FLAGS32/splice_flags
168 ptrace process request:ENUMFLAGS16/ptrace_requests pid:PID
169 ptrace process res:ERRNO addr:DYN/ptrace_dynamic_param%x data:DYN/ptrace_dynamic_param%x
    request:ENUMFLAGS16/ptrace_requests pid:PID
170 ioctl IO_other fd:FD request:UINT64%x argument:UINT64%x
171 ioctl IO_other res:ERRNO fd:FD request:UINT64%x argument:UINT64%x
172 execve process
173 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    env:CHARBUFARRAY
174 rename file
175 rename file res:ERRNO oldpath:FSPATH newpath:FSPATH
176 renameat file
177 renameat file res:ERRNO olddirfd:FD oldpath:FSRELPATH@1 newdirfd:FD newpath:FSRELPATH@3
178 symlink file
179 symlink file res:ERRNO target:CHARBUF linkpath:FSPATH
180 symlinkat file
181 symlinkat file res:ERRNO target:CHARBUF linkdirfd:FD linkpath:FSRELPATH@2
182 fork process
183 fork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
184 vfork process
185 vfork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
186 procexit process status:ERRNO ret:ERRNO sig:SIGTYPE core:UINT8 reaper_tid:PID
188 sendfile IO_write out_fd:FD in_fd:FD offset:UINT64 size:UINT64
189 sendfile IO_write res:ERRNO offset:UINT64 out_fd:FD in_fd:FD size:UINT64
190 quotactl user cmd:FLAGS16/quotactl_cmds type:FLAGS8/quotactl_types id:UINT32
    quota_fmt:FLAGS8/quotactl_quota_fmts
191 quotactl user res:ERRNO special:CHARBUF quotafilepath:CHARBUF dqb_bhardlimit:UINT64
    dqb_bsoftlimit:UINT64 dqb_curspace:UINT64 dqb_ihardlimit:UINT64 dqb_isoftlimit:UINT64
    dqb_btime:RELTIME dqb_itime:RELTIME dqi_bgrace:RELTIME dqi_igrace:RELTIME
    dqi_flags:FLAGS8/quotactl_dqi_flags quota_fmt_out:FLAGS8/quotactl_quota_fmts
    cmd:FLAGS16/quotactl_cmds type:FLAGS8/quotactl_types id:UINT32
    quota_fmt:FLAGS8/quotactl_quota_fmts
192 setresuid user ruid:UID euid:UID suid:UID
193 setresuid user res:ERRNO ruid:UID euid:UID suid:UID
194 setresgid user rgid:GID egid:GID sgid:GID
195 setresgid user res:ERRNO rgid:GID egid:GID sgid:GID
196 scapevent internal event_type:UINT32 event_data:UINT64
198 setuid user uid:UID
199 setuid user res:ERRNO uid:UID
200 setgid user gid:GID
201 setgid user res:ERRNO gid:GID
202 getuid user
203 getuid user uid:UID
204 geteuid user
205 geteuid user euid:UID
206 getgid user
207 getgid user gid:GID
208 getegid user
209 getegid user egid:GID
210 getresuid user
211 getresuid user res:ERRNO ruid:UID euid:UID suid:UID
212 getresgid user
213 getresgid user res:ERRNO rgid:GID egid:GID sgid:GID
214 execve process
215 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF env:CHARBUFARRAY
216 clone process
217 clone process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
218 fork process
219 fork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
220 vfork process
221 vfork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32
222 clone process
223 clone process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32 vtid:PID
    vpid:PID pidns_init_start_ts:UINT64
224 fork process
225 fork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32 vtid:PID
    vpid:PID pidns_init_start_ts:UINT64
226 vfork process
227 vfork process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32 vtid:PID
    vpid:PID pidns_init_start_ts:UINT64
228 container internal id:CHARBUF type:UINT32 name:CHARBUF image:CHARBUF
230 execve process
231 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY env:CHARBUFARRAY
232 signaldeliver signal spid:PID dpid:PID sig:SIGTYPE
234 procinfo internal cpu_usr:UINT64 cpu_sys:UINT64
236 getdents file fd:FD
237 getdents file res:ERRNO fd:FD
238 getdents64 file fd:FD
239 getdents64 file res:ERRNO fd:FD
240 setns process fd:FD nstype:FLAGS32/clone_flags
241 setns process res:ERRNO fd:FD nstype:FLAGS32/clone_flags
242 flock file fd:FD operation:FLAGS32/flock_flags
243 flock file res:ERRNO fd:FD operation:FLAGS32/flock_flags
244 cpu_hotplug system cpu:UINT32 action:UINT32
246 accept net
247 accept net fd:FD tuple:SOCKTUPLE queuepct:UINT8 queuelen:UINT32 queuemax:UINT32
248 accept net flags:INT32%x
249 accept net fd:FD tuple:SOCKTUPLE queuepct:UINT8 queuelen:UINT32 queuemax:UINT32
250 semop process semid:INT32
251 semop process res:ERRNO nsops:UINT32 sem_num_0:UINT16 sem_op_0:INT16
    sem_flg_0:FLAGS16/semop_flags sem_num_1:UINT16 sem_op_1:INT16 sem_flg_1:FLAGS16/semop_flags
    semid:INT32
252 semctl process semid:INT32 semnum:INT32 cmd:FLAGS16/semctl_commands val:INT32
253 semctl process res:ERRNO semid:INT32 semnum:INT32 cmd:FLAGS16/semctl_commands val:INT32
254 ppoll wait fds:FDLIST timeout:RELTIME sigmask:SIGSET
255 ppoll wait res:ERRNO fds:FDLIST timeout:RELTIME sigmask:SIGSET
256 mount file flags:FLAGS32/mount_flags
257 mount file res:ERRNO dev:CHARBUF dir:FSPATH type:CHARBUF flags:FLAGS32/mount_flags
258 umount file flags:FLAGS32/umount_flags
259 umount file res:ERRNO name:FSPATH
260 k8s internal json:CHARBUF
262 semget process key:INT32%x nsems:INT32 semflg:FLAGS32/semget_flags
263 semget process res:ERRNO key:INT32%x nsems:INT32 semflg:FLAGS32/semget_flags
264 access file mode:FLAGS32/access_flags
265 access file res:ERRNO name:FSPATH mode:FLAGS32/access_flags
266 chroot process
267 chroot process res:ERRNO path:FSPATH
268 tracer other id:INT64 tags:CHARBUFARRAY args:CHARBUF_PAIR_ARRAY
270 mesos internal json:CHARBUF
272 container process json:CHARBUF
274 setsid process
275 setsid process res:PID
276 mkdir file mode:UINT32%x
277 mkdir file res:ERRNO path:FSPATH mode:UINT32%x
278 rmdir file
279 rmdir file res:ERRNO path:FSPATH
280 notification other id:CHARBUF desc:CHARBUF
282 execve process
283 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY env:CHARBUFARRAY tty:INT32
284 unshare process flags:FLAGS32/clone_flags
285 unshare process res:ERRNO flags:FLAGS32/clone_flags
286 infra internal source:CHARBUF name:CHARBUF description:CHARBUF scope:CHARBUF
288 execve process filename:FSPATH
289 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY env:CHARBUFARRAY tty:INT32
290 page_fault other addr:UINT64%x ip:UINT64%x error:FLAGS32/pf_flags
292 execve process filename:FSPATH
293 execve process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY env:CHARBUFARRAY tty:UINT32 vpgid:PID loginuid:UID
    flags:FLAGS32/execve_flags cap_inheritable:UINT64%x cap_permitted:UINT64%x
    cap_effective:UINT64%x exe_ino:UINT64 exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME uid:UID
    trusted_exepath:FSPATH pgid:PID gid:GID filename:FSPATH
294 setpgid process pid:PID pgid:PID
295 setpgid process res:ERRNO pid:PID pgid:PID
296 bpf other cmd:INT64
297 bpf other res_or_fd:DYN/bpf_dynamic_param
298 seccomp other op:UINT64 flags:UINT64%x
299 seccomp other res:ERRNO op:UINT64 flags:UINT64%x
300 unlink file
301 unlink file res:ERRNO path:FSPATH
302 unlinkat file
303 unlinkat file res:ERRNO dirfd:FD name:FSRELPATH@1 flags:FLAGS32/unlinkat_flags
304 mkdirat file
305 mkdirat file res:ERRNO dirfd:FD path:FSRELPATH@1 mode:UINT32%x
306 openat file dirfd:FD name:FSRELPATH@0 flags:FLAGS32/file_flags mode:UINT32%o
307 openat file fd:FD dirfd:FD name:FSRELPATH@1 flags:FLAGS32/file_flags mode:UINT32%o
    dev:UINT32%x ino:UINT64
308 link file
309 link file res:ERRNO oldpath:FSPATH newpath:FSPATH
310 linkat file
311 linkat file res:ERRNO olddir:FD oldpath:FSRELPATH@1 newdir:FD newpath:FSRELPATH@3
    flags:FLAGS32/linkat_flags
312 fchmodat file
313 fchmodat file res:ERRNO dirfd:FD filename:FSRELPATH@1 mode:MODE/chmod_mode%o
314 chmod file
315 chmod file res:ERRNO filename:FSPATH mode:MODE/chmod_mode%o
316 fchmod file
317 fchmod file res:ERRNO fd:FD mode:MODE/chmod_mode%o
318 renameat2 file
319 renameat2 file res:ERRNO olddirfd:FD oldpath:FSRELPATH@1 newdirfd:FD newpath:FSRELPATH@3
    flags:FLAGS32/renameat2_flags
320 userfaultfd file
321 userfaultfd file res:ERRNO flags:FLAGS32/file_flags
322 pluginevent other plugin_id:UINT32 event_data:BYTEBUF
324 container process json:CHARBUF
326 openat2 file dirfd:FD name:FSRELPATH@0 flags:FLAGS32/file_flags mode:UINT32%o
    resolve:FLAGS32/openat2_flags
327 openat2 file fd:FD dirfd:FD name:FSRELPATH@1 flags:FLAGS32/file_flags mode:UINT32%o
    resolve:FLAGS32/openat2_flags dev:UINT32%x ino:UINT64
328 mprotect memory addr:UINT64%x length:UINT64 prot:FLAGS32/prot_flags
329 mprotect memory res:ERRNO addr:UINT64%x length:UINT64 prot:FLAGS32/prot_flags
330 execveat process dirfd:FD pathname:FSRELPATH@0 flags:FLAGS32/execveat_flags
331 execveat process res:ERRNO exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY env:CHARBUFARRAY tty:UINT32 vpgid:PID loginuid:UID
    flags:FLAGS32/execve_flags cap_inheritable:UINT64%x cap_permitted:UINT64%x
    cap_effective:UINT64%x exe_ino:UINT64 exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME uid:UID
    trusted_exepath:FSPATH pgid:PID gid:GID
332 copy_file_range file fdin:FD offin:UINT64 len:UINT64
333 copy_file_range file res:ERRNO fdout:FD offout:UINT64 fdin:FD offin:UINT64 len:UINT64
334 clone3 process
335 clone3 process res:PID exe:CHARBUF args:CHARBUFARRAY tid:PID pid:PID ptid:PID cwd:CHARBUF
    fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 vm_swap:UINT32
    comm:CHARBUF cgroups:CHARBUFARRAY flags:FLAGS32/clone_flags uid:UINT32 gid:UINT32 vtid:PID
    vpid:PID pidns_init_start_ts:UINT64
336 open_by_handle_at file
337 open_by_handle_at file fd:FD mountfd:FD flags:FLAGS32/file_flags path:FSPATH dev:UINT32%x
    ino:UINT64
338 io_uring_setup IO_other
339 io_uring_setup IO_other res:ERRNO entries:UINT32 sq_entries:UINT32 cq_entries:UINT32
    flags:FLAGS32/io_uring_setup_flags sq_thread_cpu:UINT32 sq_thread_idle:UINT32
    features:FLAGS32/io_uring_setup_feats
340 io_uring_enter IO_other
341 io_uring_enter IO_other res:ERRNO fd:FD to_submit:UINT32 min_complete:UINT32
    flags:FLAGS32/io_uring_enter_flags sig:SIGSET
342 io_uring_register IO_other
343 io_uring_register IO_other res:ERRNO fd:FD opcode:ENUMFLAGS16/io_uring_register_opcodes
    arg:UINT64%x nr_args:UINT32
344 mlock memory
345 mlock memory res:ERRNO addr:UINT64%x len:UINT64
346 munlock memory
347 munlock memory res:ERRNO addr:UINT64%x len:UINT64
348 mlockall memory
349 mlockall memory res:ERRNO flags:FLAGS32/mlockall_flags
350 munlockall memory
351 munlockall memory res:ERRNO
352 capset process
353 capset process res:ERRNO cap_inheritable:UINT64%x cap_permitted:UINT64%x
    cap_effective:UINT64%x
354 useradded process uid:UINT32 gid:UINT32 name:CHARBUF home:CHARBUF shell:CHARBUF
    container_id:CHARBUF
356 userdeleted process uid:UINT32 gid:UINT32 name:CHARBUF home:CHARBUF shell:CHARBUF
    container_id:CHARBUF
358 groupadded process gid:UINT32 name:CHARBUF container_id:CHARBUF
360 groupdeleted process gid:UINT32 name:CHARBUF container_id:CHARBUF
362 dup2 IO_other fd:FD
363 dup2 IO_other res:FD oldfd:FD newfd:FD
364 dup3 IO_other fd:FD
365 dup3 IO_other res:FD oldfd:FD newfd:FD flags:FLAGS32/file_flags
366 dup IO_other fd:FD
367 dup IO_other res:FD oldfd:FD
368 bpf other cmd:INT64
369 bpf other fd:FD cmd:ENUMFLAGS32/bpf_commands
370 mlock2 memory
371 mlock2 memory res:ERRNO addr:UINT64%x len:UINT64 flags:FLAGS32/mlock2_flags
372 fsconfig system
373 fsconfig system res:ERRNO fd:FD cmd:ENUMFLAGS32/fsconfig_cmds key:CHARBUF
    value_bytebuf:BYTEBUF value_charbuf:CHARBUF aux:INT32
374 epoll_create wait size:INT32
375 epoll_create wait res:ERRNO size:INT32
376 epoll_create1 wait flags:FLAGS32/epoll_create1_flags
377 epoll_create1 wait res:ERRNO flags:FLAGS32/epoll_create1_flags
378 chown file
379 chown file res:ERRNO path:FSPATH uid:UINT32 gid:UINT32
380 lchown file
381 lchown file res:ERRNO path:FSPATH uid:UINT32 gid:UINT32
382 fchown file
383 fchown file res:ERRNO fd:FD uid:UINT32 gid:UINT32
384 fchownat file
385 fchownat file res:ERRNO dirfd:FD pathname:FSRELPATH@1 uid:UINT32 gid:UINT32
    flags:FLAGS32/fchownat_flags
386 umount file
387 umount file res:ERRNO name:FSPATH
388 accept4 net flags:INT32%x
389 accept4 net fd:FD tuple:SOCKTUPLE queuepct:UINT8 queuelen:UINT32 queuemax:UINT32
    flags:INT32%x
390 umount2 file flags:FLAGS32/umount_flags
391 umount2 file res:ERRNO name:FSPATH flags:FLAGS32/umount_flags
392 pipe2 ipc
393 pipe2 ipc res:ERRNO fd1:FD fd2:FD ino:UINT64 flags:FLAGS32/file_flags
394 inotify_init1 ipc
395 inotify_init1 ipc res:FD flags:FLAGS16/file_flags
396 eventfd2 ipc initval:UINT64
397 eventfd2 ipc res:FD flags:FLAGS16/file_flags initval:UINT64
398 signalfd4 signal fd:FD mask:UINT32%x
399 signalfd4 signal res:FD flags:FLAGS16/file_flags fd:FD mask:UINT32%x
400 prctl process
401 prctl process res:ERRNO option:ENUMFLAGS32/prctl_options arg2_str:CHARBUF arg2_int:INT64
402 asyncevent other plugin_id:UINT32 name:CHARBUF data:BYTEBUF
404 memfd_create memory
405 memfd_create memory fd:FD name:CHARBUF flags:FLAGS32/memfd_create_flags
406 pidfd_getfd process
407 pidfd_getfd process fd:FD pid_fd:FD target_fd:FD flags:UINT32%x
408 pidfd_open process
409 pidfd_open process fd:FD pid:PID flags:FLAGS32/pidfd_open_flags
410 init_module other
411 init_module other res:ERRNO img:BYTEBUF length:UINT64 uargs:CHARBUF
412 finit_module other
413 finit_module other res:ERRNO fd:FD uargs:CHARBUF flags:FLAGS32/finit_module_flags
414 mknod other
415 mknod other res:ERRNO path:FSPATH mode:MODE/mknod_mode%o dev:UINT32
416 mknodat other
417 mknodat other res:ERRNO dirfd:FD path:FSRELPATH@1 mode:MODE/mknod_mode%o dev:UINT32
418 newfstatat file
419 newfstatat file res:ERRNO dirfd:FD path:FSRELPATH@1 flags:FLAGS32/newfstatat_flags
420 process_vm_readv ipc
421 process_vm_readv ipc res:INT64 pid:PID data:BYTEBUF
422 process_vm_writev ipc
423 process_vm_writev ipc res:INT64 pid:PID data:BYTEBUF
424 delete_module other
425 delete_module other res:ERRNO name:CHARBUF flags:FLAGS32/delete_module_flags
426 setreuid user
427 setreuid user res:ERRNO ruid:UID euid:UID
428 setregid user
429 setregid user res:ERRNO rgid:UID egid:UID
430 task process ppid:PID32 pgid:PID32 vpgid:PID32 sid:PID32 comm:CHARBUF argv:CHARBUFARRAY
    exepath:FSPATH flags:FLAGS32/execve_flags env:CHARBUFARRAY cwd:CHARBUF fdlimit:UINT64
    euid:UID egid:GID cap_permitted:UINT64%x cap_effective:UINT64%x cap_inheritable:UINT64%x
    exe_ino_num:UINT64 exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME vm_size:UINT32 vm_rss:UINT32
    vm_swap:UINT32 pgft_maj:UINT64 pgft_min:UINT64 vtgid:PID32 vpid:PID32
    pidns_init_start_ts:UINT64 cgroups:CHARBUFARRAY root:FSPATH start_time:ABSTIME tty:UINT32
    loginuid:UID
432 task_file_pipe file fd:FD32 path:FSPATH ino_num:UINT64
434 task_file_memfd file fd:FD32 path:FSPATH ino_num:UINT64
436 task_file_regular file fd:FD32 path:FSPATH flags:FLAGS32/file_flags mnt_id:UINT32
    ino_num:UINT64
438 task_file_directory file fd:FD32 path:FSPATH ino_num:UINT64
440 task_file_socket_inet file fd:FD32 sk_type:UINT16 sk_proto:UINT16 local_ip:IPV4ADDR%x
    local_port:PORT%x remote_ip:IPV4ADDR%x remote_port:PORT%x ino_num:UINT64
442 task_file_socket_inet6 file fd:FD32 sk_type:UINT16 sk_proto:UINT16 local_ip:IPV6ADDR%x
    local_port:PORT%x remote_ip:IPV6ADDR%x remote_port:PORT%x ino_num:UINT64
444 task_file_socket_unix file fd:FD32 sk_type:UINT16 sk_proto:UINT16 sk_pointer:UINT64
    sun_path:FSPATH ino_num:UINT64
446 task_file_socket_netlink file fd:FD32 sk_type:UINT16 sk_proto:UINT16 ino_num:UINT64
448 task_file_anon_inode file fd:FD32 fd_type:FLAGS8/anon_inode_fd_types path:FSPATH
    ino_num:UINT64
451 close_range IO_other res:ERRNO first:UINT32 last:UINT32 flags:FLAGS32/close_range_flags
453 keyctl other res:ERRNO operation:ENUMFLAGS32/keyctl_operations
    arg2:DYN/keyctl_dynamic_param arg3:DYN/keyctl_dynamic_param arg4:DYN/keyctl_dynamic_param
    arg5:DYN/keyctl_dynamic_param
"""

# libscap's system-independent syscall codes (``PPM_SC_*``, in code order from 0): a generic
# ``syscall`` event's ``ID`` parameter indexes this list, and Falco names the event after it.
_SYSCALLS = """
unknown restart_syscall exit read write open close creat link unlink chdir time mknod chmod
stat lseek getpid mount ptrace alarm fstat pause utime access sync kill rename mkdir rmdir dup
pipe times brk acct ioctl fcntl setpgid umask chroot ustat dup2 getppid getpgrp setsid
sethostname setrlimit getrusage gettimeofday settimeofday symlink lstat readlink uselib swapon
reboot mmap munmap truncate ftruncate fchmod getpriority setpriority statfs fstatfs syslog
setitimer getitimer uname vhangup wait4 swapoff sysinfo fsync setdomainname adjtimex mprotect
init_module delete_module quotactl getpgid fchdir sysfs personality getdents select flock msync
readv writev getsid fdatasync mlock munlock mlockall munlockall sched_setparam sched_getparam
sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min
sched_rr_get_interval nanosleep mremap poll prctl rt_sigaction rt_sigprocmask rt_sigpending
rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend getcwd capget capset sendfile getrlimit lchown
getuid getgid geteuid getegid setreuid setregid getgroups setgroups fchown setresuid getresuid
setresgid getresgid chown setuid setgid setfsuid setfsgid pivot_root mincore madvise gettid
setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
removexattr lremovexattr fremovexattr tkill futex sched_setaffinity sched_getaffinity
set_thread_area get_thread_area io_setup io_destroy io_getevents io_submit io_cancel exit_group
epoll_create epoll_ctl epoll_wait remap_file_pages set_tid_address timer_create timer_settime
timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres
clock_nanosleep tgkill utimes mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify
mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get inotify_init
inotify_add_watch inotify_rm_watch openat mkdirat mknodat fchownat futimesat unlinkat renameat
linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare set_robust_list
get_robust_list splice tee vmsplice getcpu epoll_pwait utimensat signalfd timerfd_create
eventfd timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2
inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open fanotify_init prlimit64
clock_adjtime syncfs setns getdents64 socket bind connect listen accept getsockname getpeername
socketpair sendto recvfrom shutdown setsockopt getsockopt sendmsg sendmmsg recvmsg recvmmsg
accept4 semop semget semctl msgsnd msgrcv msgget msgctl shmdt shmget shmctl statfs64 fstatfs64
fstatat64 sendfile64 ugetrlimit bdflush sigprocmask ipc socketcall stat64 lstat64 fstat64
fcntl64 mmap2 _newselect sgetmask ssetmask sigpending olduname umount signal nice stime _llseek
waitpid pread64 pwrite64 arch_prctl shmat rt_sigreturn fallocate newfstatat process_vm_readv
process_vm_writev fork vfork setuid32 getuid32 setgid32 geteuid32 getgid32 setresuid32
setresgid32 getresuid32 getresgid32 finit_module bpf seccomp sigaltstack getrandom fadvise64
renameat2 userfaultfd openat2 umount2 execve execveat copy_file_range clone clone3
open_by_handle_at io_uring_setup io_uring_enter io_uring_register mlock2 getegid32 fsconfig
fspick fsmount fsopen open_tree move_mount mount_setattr memfd_create memfd_secret ioperm
kexec_file_load pidfd_getfd pidfd_open pidfd_send_signal pkey_alloc pkey_mprotect pkey_free
landlock_create_ruleset quotactl_fd landlock_restrict_self landlock_add_rule epoll_pwait2
migrate_pages move_pages preadv2 pwritev2 kcmp sched_setattr mbind epoll_ctl_old lookup_dcookie
modify_ldt statx set_mempolicy io_pgetevents set_mempolicy_home_node semtimedop get_kernel_syms
readahead futex_waitv getpmsg name_to_handle_at process_mrelease nfsservctl epoll_wait_old rseq
create_module na_1 sched_getattr faccessat2 _sysctl query_module get_mempolicy sync_file_range
process_madvise membarrier iopl close_range fanotify_mark recv send sched_process_exit
sched_switch page_fault_user page_fault_kernel signal_deliver timerfd s390_pci_mmio_read
sigaction s390_pci_mmio_write readdir s390_sthyi sigsuspend idle s390_runtime_instr sigreturn
s390_guarded_storage cachestat fchmodat2 map_shadow_stack riscv_flush_icache riscv_hwprobe
futex_wake futex_requeue futex_wait oldstat switch_endian multiplexer oldlstat spu_create
sync_file_range2 oldfstat spu_run swapcontext pciconfig_write rtas pciconfig_read
sys_debug_setcontext vm86 oldolduname subpage_prot pciconfig_iobase listmount statmount
lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal uretprobe removexattrat listxattrat
getxattrat setxattrat open_tree_attr file_getattr file_setattr listns uprobe rseq_slice_yield
"""
SYSCALL_NAMES: tuple[str, ...] = tuple(_SYSCALLS.split())

# Dynamic parameters (libs `driver/dynamic_params_table.c`): the first byte indexes these rows.
DYNAMIC_PARAMS: dict[str, tuple[str, ...]] = {
    "sockopt_dynamic_param": (
        ParamType.BYTEBUF,
        ParamType.ERRNO,
        ParamType.UINT32,
        ParamType.UINT64,
        ParamType.RELTIME,
    ),
    "ptrace_dynamic_param": (ParamType.UINT64, ParamType.SIGTYPE),
    "bpf_dynamic_param": (ParamType.FD, ParamType.ERRNO),
    "keyctl_dynamic_param": (ParamType.INT64, ParamType.CHARBUF),
}

_WIRE_ONLY = {"FD32": ParamType.FD, "PID32": ParamType.PID, "DYN": ParamType.DYNAMIC}
_FORMATS = {"x": "HEX", "o": "OCT"}


@dataclass(frozen=True, slots=True)
class ScapParamSpec(ParamSpec):
    """A `ParamSpec` plus what reading and printing a .scap parameter needs.

    - `fmt`: Falco's print format for numbers: ``DEC``, ``HEX`` (``%X``) or ``OCT`` (``%#o``)
    - `wire`: the on-disk type when it differs from `type` (``FD32``, ``PID32``, ``DYN``)
    - `dirfd`: for a relative path, the index of the parameter holding its directory fd
    - `dynamic`: for a ``DYNAMIC`` parameter, its `DYNAMIC_PARAMS` row name
    """

    fmt: str = "DEC"
    wire: str = ""
    dirfd: int | None = None
    dynamic: str | None = None


@dataclass(frozen=True, slots=True)
class ScapEventInfo:
    """One PPME event code; `specs` (name -> spec) is built once and shared by its events."""

    code: int
    name: str
    dir: str
    category: str
    params: tuple[ScapParamSpec, ...]
    specs: dict[str, ParamSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.specs.update((p.name, p) for p in self.params)


def _param(token: str) -> ScapParamSpec:
    name, _, rest = token.partition(":")
    rest, _, fmt = rest.partition("%")
    rest, _, dirfd = rest.partition("@")
    wire, _, table = rest.partition("/")
    ptype = _WIRE_ONLY.get(wire, wire)
    if not hasattr(ParamType, ptype):
        raise ValueError(f"scap_events: unknown parameter type {wire!r} in {token!r}")
    dynamic = table if ptype == ParamType.DYNAMIC else None
    return ScapParamSpec(
        name,
        ptype,
        None if dynamic else (table or None),
        fmt=_FORMATS.get(fmt, "DEC"),
        wire=wire if wire in _WIRE_ONLY else "",
        dirfd=int(dirfd) if dirfd else None,
        dynamic=dynamic,
    )


def _parse(text: str) -> dict[int, ScapEventInfo]:
    events: dict[int, ScapEventInfo] = {}
    for row in text.replace("\n    ", " ").strip().splitlines():
        code_text, name, category, *tokens = row.split()
        code = int(code_text)
        direction = Direction.EXIT if code & 1 else Direction.ENTER
        params = tuple(_param(token) for token in tokens)
        events[code] = ScapEventInfo(code, name, direction, category, params)
    return events


EVENTS: dict[int, ScapEventInfo] = _parse(_TABLE)
"""Every known PPME code to its `ScapEventInfo`."""

_LATEST: dict[tuple[str, str], ScapEventInfo] = {}
for _info in EVENTS.values():  # codes ascend, so the newest version of a name wins
    _LATEST[_info.name, _info.dir] = _info


def latest(name: str, direction: str = Direction.EXIT) -> ScapEventInfo | None:
    """The newest event code for a Falco event name and direction (``execve`` exit: 293)."""
    return _LATEST.get((name, direction))
