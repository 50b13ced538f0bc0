"""The sandboxed learner process: a child of the zygote (grader.sandbox.zygote) that runs a learner's code.

It confines itself first (grader.sandbox.confine), then serves the judge's requests:

- `load`: define the learner's answer, cell by cell, in a fresh namespace;
- `call`: call one of the learner's functions with plain-data arguments;
- `scenario`: run a test scenario's source against the learner's namespace.

Every reply is plain data. An exception is described by its class names, its message and the
traceback lines that belong to the learner's own cells, nothing else. Output the learner's code
prints goes to a log file and never costs points.
"""

from __future__ import annotations

import linecache
import os
import sys
import tempfile
import threading
import traceback

from grader.sandbox import channel
from grader.sandbox.confine import confine
from grader.sandbox.lazy_modules import lazy_builtins  # imported before confinement, like everything of ours
from grader.sandbox.namespace import NamespaceView, scenario_globals
from grader.sandbox.plain_data import NotPlainData
from grader.sandbox.plan import plan_from_json

CELL_PREFIX = "<cell "


def serve(plan_json: str, fds: list[int]) -> None:
    """Become the learner process of `plan_json` (in a fresh child of the zygote), and never return.

    `fds`: the read end of the judge's requests, the write end of the replies, and a pair for
    the judge's "where are you?" probe (which learner functions are running, after a timeout).
    """
    plan = plan_from_json(plan_json)
    requests, replies, probe_in, probe_out = fds
    os.setsid()  # a process group of its own: the judge kills it and everything it started at once
    os.environ.update(HOME=plan.workdir, TMPDIR=plan.workdir, MPLCONFIGDIR=os.path.join(plan.workdir, ".matplotlib"))
    tempfile.tempdir = None  # the zygote's choice of temporary folder is not this learner's
    log = os.open(os.path.join(plan.workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(plan.workdir)
    protections = confine(plan)
    for entry in list(sys.path):
        if entry and not any(entry == p or entry.startswith(p.rstrip("/") + "/") for p in plan.read):
            sys.path.remove(entry)
    sys.path.insert(0, plan.workdir)  # modules shipped beside the notebook (course_model.py) import as in its kernel
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    threading.Thread(target=_answer_probes, args=(probe_in, probe_out, namespace), daemon=True).start()
    channel.send(replies, {"ready": protections})
    handlers = {"load": _load, "call": _call, "scenario": _scenario}
    while True:
        try:
            request = channel.receive(requests)
        except channel.ChannelClosed:
            os._exit(0)
        try:
            reply = handlers[request["op"]](namespace, request)
        except BaseException as error:  # noqa: BLE001 - anything the learner's code raises
            reply = {"error": describe(error)}
        try:
            channel.send(replies, reply)
        except NotPlainData as error:
            problem = describe(error)
            problem["message"] = problem["message"].replace("value['ok']", "the value your function returned")
            channel.send(replies, {"error": problem})


def _answer_probes(probe_in: int, probe_out: int, namespace: dict) -> None:
    """For each byte the judge sends: the learner's functions on the main thread's stack, outermost first."""
    main_id = threading.main_thread().ident
    while os.read(probe_in, 1):
        frame = sys._current_frames().get(main_id)
        running = []
        while frame is not None:
            code = frame.f_code
            outer = getattr(code, "co_qualname", code.co_name).split(".")[0]  # a method: its class
            if code.co_filename.startswith(CELL_PREFIX) and namespace.get(outer) is not None and outer not in running:
                running.append(outer)
            frame = frame.f_back
        os.write(probe_out, (",".join(reversed(running)) + "\n").encode())


def _load(namespace: dict, request) -> dict:
    problems = []
    for name, code, trusted in request["cells"]:
        filename = f"{CELL_PREFIX}{name}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        # the course's setup cells import matplotlib lazily; the learner's cells import normally
        namespace["__builtins__"] = lazy_builtins() if trusted else __builtins__
        try:
            exec(compile(code, filename, "exec", dont_inherit=True), namespace)
        except BaseException as error:  # noqa: BLE001
            problems.append([name, describe(error)])
    namespace["__builtins__"] = __builtins__
    return {"ok": problems}


def _call(namespace: dict, request) -> dict:
    function = namespace.get(request["name"])
    if not callable(function):
        raise NameError(f"your notebook defines no function called {request['name']!r}")
    return {"ok": function(*request["args"], **request["kwargs"])}


def _scenario(namespace: dict, request) -> dict:
    scope = scenario_globals()
    exec(compile(request["source"], "<test scenario>", "exec", dont_inherit=True), scope)
    function = scope[request["name"]]
    return {"ok": function(NamespaceView(namespace), *request["args"], **request["kwargs"])}


def describe(error: BaseException) -> dict:
    """An exception as plain data: class names, message, the learner's own traceback lines."""
    names = [cls.__name__ for cls in type(error).__mro__ if cls is not object]
    try:
        message = str(error)
    except BaseException:  # noqa: BLE001 - a learner's exception whose __str__ raises
        message = "(the exception's message could not be shown)"
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(CELL_PREFIX):
            cell = frame.filename[len(CELL_PREFIX) : -1]
            lines.append(f"cell '{cell}', line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}")
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith(CELL_PREFIX):
        lines.append(f"cell '{error.filename[len(CELL_PREFIX):-1]}', line {error.lineno}: {(error.text or '').strip()}")
    return {"types": [str(n) for n in names], "message": message[:2000], "traceback": lines[-8:]}

