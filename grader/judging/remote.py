"""The judge as a child of the zygote, for `grader check`: torch is imported once, by the zygote.

`grader check` starts a zygote that imports what both the learner process and the test cells
need, and asks it to fork `judge` below with the check's arguments and a pipe for the answer.
This child, a copy of the warm and secret-free zygote, then loads the source notebook (hidden
tests and reference included), judges the notebook exactly as `grader.judging.judge.check`
does, asking the zygote through its own connection for each learner process, and writes the
report as JSON to the pipe. It never forks anything itself. Meanwhile the command, in its own
process, gets the gradebook ready.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path


def judge(arguments: dict, fds: list[int], zygote) -> None:
    """Judge `arguments['notebook']` and write CheckReport.to_dict() as JSON to fds[0] (or {"fault": ...})."""
    (answer,) = fds
    try:
        from grader.course import Course
        from grader.judging.judge import check

        course = Course(Path(arguments["course_root"]))
        _bound_this_judge(course.limits)
        report = check(course, arguments["assignment"], Path(arguments["notebook"]), learner=arguments.get("learner", ""),
                       diagnose=arguments.get("diagnose", True), zygote=zygote)
        data = report.to_dict()
    except Exception as error:  # noqa: BLE001 - told to the command as a fault of the grader
        data = {"fault": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)}
    payload = json.dumps(data).encode()
    view = memoryview(payload)
    while view:
        view = view[os.write(answer, view):]
    os.close(answer)


def _bound_this_judge(limits) -> None:
    """This judge process, made for one check, may add `judge_memory_mb` of memory and use its time budget of CPU."""
    import resource

    with open("/proc/self/status") as status:
        size = next((int(line.split()[1]) << 10 for line in status if line.startswith("VmSize:")), 0)
    memory = size + (limits.judge_memory_mb << 20)
    cpu = int(limits.time_to_load + limits.time_per_submission + limits.judge_extra)
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu)):
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, hard))


def check_in_zygote(course, assignment: str, notebook: Path, learner: str = "", diagnose: bool = True, meanwhile=None):
    """`grader.judging.judge.check`, run in a judge forked from a fresh zygote; `meanwhile()` runs here as it judges.

    Returns the CheckReport; a judge that fails or dies gives a not-gradable report marked as
    the grader's own fault.
    """
    import select
    import time

    from grader.judging.results import CheckReport
    from grader.notebook.cells import test_cells
    from grader.sandbox.handle import preload_modules, start_zygote
    from grader.sandbox.plan import sweep

    source = course.source_notebook(assignment)
    zygote = start_zygote(preload_modules(source, judge_too=True))
    try:
        reader, writer = os.pipe()
        arguments = {"course_root": str(course.root), "assignment": assignment, "notebook": str(Path(notebook).resolve()),
                     "learner": learner, "diagnose": diagnose}
        zygote.run("grader.judging.remote", arguments, [writer])
        os.close(writer)
        if meanwhile is not None:
            meanwhile()
        limits = course.limits
        deadline = time.monotonic() + limits.time_to_load + limits.time_per_submission + 120
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([reader], [], [], left)[0]:
                raise TimeoutError("the judge did not answer in time")
            chunk = os.read(reader, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(reader)
        data = json.loads(b"".join(chunks) or b"{}")
        if "fault" in data or "results" not in data:
            raise RuntimeError(data.get("fault") or zygote.failure() or "the judge ended without an answer")
        return CheckReport.from_dict(data)
    except (OSError, RuntimeError, TimeoutError, ValueError) as error:
        reason = f"the grader itself failed on this notebook ({error}); this is not your fault: tell the course staff"
        return CheckReport.not_gradable_for(test_cells(source), reason, assignment=assignment, learner=learner,
                                            notebook=str(notebook), grader_fault=True)
    finally:
        zygote.close()
        sweep()  # a judge that was killed or timed out leaves its learners' folders and cgroups
