"""The code sandbox: untrusted programs are isolated, bounded, cannot forge a pass, and every one gets an Outcome."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from lm_eval_ja.scorers import sandbox as sb
from lm_eval_ja.scorers.sandbox import Outcome, Program, Sandbox, UnsafeExecutionRefused

needs_isolation = pytest.mark.skipif(sb.isolation() is None, reason="bubblewrap (bwrap) not available here")

#: a HumanEval-shaped program: the completion's function, the benchmark's test, the call of check
GOOD = "def add(a, b):\n    return a + b\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n\ncheck(add)\n"
WRONG = GOOD.replace("return a + b", "return a * b")


def test_program_that_runs_to_the_end_passes_and_a_failing_assert_fails():
    box = Sandbox(timeout=10, workers=2, allow_unsafe=True)
    good, wrong, forked = box.run([Program(GOOD), Program(WRONG), Program("import os\nos.fork()\n" + GOOD)])
    assert isinstance(good, Outcome) and good.passed and good.status == "passed" and good.detail == ""
    assert wrong.status == "failed" and wrong.detail == "AssertionError" and not wrong.passed
    # a process the program forks and that runs to the end too does not spoil the pass
    assert forked.passed
    assert good.seconds > 0 and box.run([]) == []


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    """A file of the user's that no program may read or change, and a TCP server on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("victim")
    path = folder / "secret.txt"
    path.write_text("untouched", encoding="utf-8")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield {"path": path, "folder": folder, "port": server.getsockname()[1], "accepted": accepted}
    stop.set()
    thread.join(timeout=5)
    server.close()


def hostile_programs(victim) -> dict[str, str]:
    """Programs that would pass if what they try worked; every one must fail (or time out)."""
    path, port = str(victim["path"]), victim["port"]
    after = "\nassert True\n"
    return {
        "socket to a server on 127.0.0.1": (
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=3)\ns.sendall(b'leak')\n"),
        "socket to the internet": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\n",
        "write outside its folder": f"open({path!r}, 'w').write('overwritten')\n",
        "create a file beside the user's": f"open({str(victim['folder'] / 'new.txt')!r}, 'w').write('x')\n",
        "read the user's file": f"assert open({path!r}).read() == 'untouched'\n",
        "read the API key": "import os\nassert os.environ['OPENAI_API_KEY'] == 'sk-test'\n",
        "read the API key of the parent": (
            "import os\nassert b'sk-test' in open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"),
        "fork without bound": "import os\nwhile True:\n    os.fork()\n",
        "allocate 8 GB": "x = bytearray(8 << 30)\nx[-1] = 1\n",
        "loop forever": "while True:\n    pass\n",
        "sleep forever": "import time\ntime.sleep(3600)\n",
        "print 100 MB": "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n",
        "write a huge file": "open('big', 'wb').write(b'x' * (200 << 20))\n",
        "exit 0 before the tests": "import sys\nsys.exit(0)\nassert False\n",
        "exit() before the tests": "exit()\nassert False\n",
        "os._exit(0)": "import os\nos._exit(0)\nassert False\n",
        "kill the parent": "import os\nos.kill(os.getppid(), 9)\nimport time\ntime.sleep(1)\n",
        "kill every process it can see": (
            "import os, signal\nfor pid in os.listdir('/proc'):\n    if pid.isdigit() and int(pid) != os.getpid():\n"
            "        try:\n            os.kill(int(pid), signal.SIGKILL)\n        except OSError:\n            pass\n"
            "assert False\n"),
        "monkeypatch check": (
            "def add(a, b):\n    return 0\ndef check(candidate):\n    pass\nimport builtins\n"
            "builtins.check = lambda candidate: None\n"
            "def check(candidate):\n    assert candidate(2, 3) == 5\n\ncheck(add)\n"),
        "monkeypatch the harness's exits": (
            "import os, sys\nos._exit = lambda code: None\nsys.exit = lambda *a: None\nos.write = lambda *a: 0\n"
            "raise SystemExit(0)\n"),
        "print passed": "print('passed')\nprint('{\"status\": \"passed\"}')\nraise AssertionError\n",
        "write a fake result on every fd": (
            "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'S' + bytes(16))\n"
            "    except OSError:\n        pass\nos._exit(0)\n"),
        "SystemExit from atexit": "import atexit, os\natexit.register(lambda: os._exit(0))\nraise ValueError\n",
        "new user namespace": (
            "import subprocess\nsubprocess.run(['unshare', '--user', '--map-root-user', 'true'], check=True)\n"),
        "daemon left behind": (
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(3600)\nraise ValueError\n"),
    } | {"positive control: writes in its own folder": "open('mine.txt', 'w').write('x')" + after}


@pytest.fixture(scope="module")
def hostile(victim):
    programs = hostile_programs(victim)
    saved = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        box = Sandbox(timeout=5, memory_mb=512, max_processes=16, max_output_bytes=1 << 20, workers=2)
        start = time.monotonic()
        outcomes = box.run([Program(src, name) for name, src in programs.items()])
        elapsed = time.monotonic() - start
    finally:
        if saved is None:
            del os.environ["OPENAI_API_KEY"]
        else:
            os.environ["OPENAI_API_KEY"] = saved
    return dict(zip(programs, outcomes)), elapsed, box


@needs_isolation
def test_hostile_programs_are_contained_and_fail(hostile, victim):
    outcomes, elapsed, _ = hostile
    assert len(outcomes) == len(hostile_programs(victim))
    for name, outcome in outcomes.items():
        if name.startswith("positive control"):
            assert outcome.passed, (name, outcome)
        else:
            assert outcome.status in ("failed", "timed out"), (name, outcome)
        assert outcome.isolation == "bubblewrap"
    # nothing reached the server, the user's file is as it was, no file appeared beside it
    assert victim["accepted"] == []
    assert victim["path"].read_text(encoding="utf-8") == "untouched"
    assert sorted(p.name for p in victim["folder"].iterdir()) == ["secret.txt"]
    # the endless ones were stopped at the limit (5 s), not at their end
    assert outcomes["loop forever"].status == "timed out" and outcomes["loop forever"].seconds < 10
    assert outcomes["sleep forever"].status == "timed out"
    assert "output limit" in outcomes["print 100 MB"].detail
    assert "MemoryError" in outcomes["allocate 8 GB"].detail
    assert elapsed < 60


@needs_isolation
def test_the_details_say_what_happened(hostile):
    outcomes, _, _ = hostile
    assert outcomes["exit 0 before the tests"].detail.startswith("SystemExit: 0")
    assert outcomes["os._exit(0)"].detail == "exited before the end of the program"
    assert outcomes["kill the parent"].detail.startswith("killed by SIGKILL")
    assert outcomes["monkeypatch check"].detail == "AssertionError"
    assert "KeyError" in outcomes["read the API key"].detail


@needs_isolation
def test_describe_names_the_isolation_and_the_limits(hostile):
    _, _, box = hostile
    d = box.describe()
    assert d["isolation"] == "bubblewrap" and d["network"] == "none"
    assert d["timeout_s"] == 5.0 and d["memory_mb_per_process"] == 512 and d["max_processes"] == 16
    assert d["max_output_bytes"] == 1 << 20 and d["workers"] == 2


@needs_isolation
def test_only_the_interpreter_and_stdlib_are_visible():
    probe = ("import os, sys\n"
             "assert os.getcwd() == '/tmp'\n"
             f"assert not os.path.exists({os.getcwd()!r})\n"
             f"assert not os.path.exists({os.path.expanduser('~')!r} + '/.bash_history')\n"
             "import json, hashlib, math, re, collections, itertools, fractions, heapq, string\n"
             "for name in ('numpy', 'torch', 'lm_eval', 'lm_eval_ja', 'pytest'):\n"
             "    try:\n        __import__(name)\n    except ImportError:\n        pass\n"
             "    else:\n        raise AssertionError(name + ' importable')\n"
             "assert os.geteuid() != 0\n"
             "assert sorted(k for k in os.environ if k != 'PWD') == ['HOME', 'LANG', 'PATH', 'TMPDIR']\n")
    (outcome,) = Sandbox(timeout=10, workers=1).run([Program(probe)])
    assert outcome.passed, outcome


@needs_isolation
def test_outcomes_come_back_in_program_order():
    programs = [Program(f"import time\ntime.sleep({0.4 if i % 2 else 0})\nassert {i} % 3 != 0\n") for i in range(8)]
    outcomes = Sandbox(timeout=10, workers=2).run(programs)
    assert [o.status for o in outcomes] == ["failed" if i % 3 == 0 else "passed" for i in range(8)]


@needs_isolation
def test_a_sandbox_that_cannot_start_is_an_error_and_the_caller_goes_on(monkeypatch):
    box = Sandbox(timeout=10, workers=2)
    monkeypatch.setattr(sb, "_interpreter", lambda: "/nonexistent/python3")
    outcomes = box.run([Program(GOOD), Program(WRONG)])
    assert [o.status for o in outcomes] == ["error", "error"]
    assert all(o.detail for o in outcomes)


def test_without_isolation_it_refuses_unless_unsafe_is_allowed(monkeypatch):
    monkeypatch.setattr(sb, "isolation", lambda: None)
    with pytest.raises(UnsafeExecutionRefused, match="--confirm_run_unsafe_code"):
        Sandbox()
    box = Sandbox(timeout=5, workers=2, allow_unsafe=True)
    assert box.describe()["isolation"] == "none (--confirm_run_unsafe_code)"
    programs = [GOOD, WRONG, "import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
                "import os\nos.kill(os.getppid(), 9)\n", "print('passed')\nraise SystemExit(1)\n",
                "while True:\n    pass\n", "import os\nassert os.environ['OPENAI_API_KEY'] == 'sk-test'\n"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    outcomes = box.run([Program(p) for p in programs])
    assert [o.status for o in outcomes] == ["passed"] + ["failed"] * 5 + ["timed out", "failed"]
    assert {o.isolation for o in outcomes} == {"none (--confirm_run_unsafe_code)"}


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        Sandbox(timeout=0, allow_unsafe=True)


def test_seccomp_filter_is_whole_instructions():
    prog = sb._seccomp_filter()
    if prog is None:
        pytest.skip("no seccomp filter for this architecture")
    assert len(prog) % 8 == 0 and len(prog) // 8 == 13
