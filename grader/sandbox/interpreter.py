"""The sandboxed interpreter that runs a learner's code: `python -I -m grader.sandbox.interpreter`.

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
import traceback

from grader.sandbox import channel
from grader.sandbox.confine import confine
from grader.sandbox.lazy_plotting import lazy_builtins  # imported before confinement, like everything of ours
from grader.sandbox.namespace import NamespaceView, scenario_globals
from grader.sandbox.plain_data import NotPlainData
from grader.sandbox.plan import plan_from_json

CELL_PREFIX = "<cell "


def main() -> None:
    plan = plan_from_json(sys.argv[1])
    requests, replies = int(sys.argv[2]), int(sys.argv[3])
    log = os.open(os.path.join(plan.workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(plan.workdir)
    protections = confine(plan)
    for entry in list(sys.path):
        if entry and not any(entry == p or entry.startswith(p.rstrip("/") + "/") for p in plan.read):
            sys.path.remove(entry)
    channel.send(replies, {"ready": protections})
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
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


def _load(namespace: dict, request) -> dict:
    problems = []
    for name, code, trusted in request["cells"]:
        filename = f"{CELL_PREFIX}{name}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        # the course's setup cells import matplotlib lazily; the learner's cells import normally
        namespace["__builtins__"] = lazy_builtins() if trusted else __builtins__
        try:
            exec(compile(code, filename, "exec"), namespace)
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
    exec(compile(request["source"], "<test scenario>", "exec"), scope)
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


if __name__ == "__main__":
    main()
