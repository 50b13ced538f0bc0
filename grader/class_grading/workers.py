"""Where `grader autograde`'s checks run: a local process pool, or a Dask cluster.

A worker is a long-lived process (a local pool worker, or a Dask worker) that calls
`grade(...)` once per submission and hands back plain data. It stays warm between submissions
(the judge's imports done, the trusted setup and reference namespaces cached by the judge),
which is safe because it never forks learner code: every submission gets a fresh sandboxed
interpreter started by grader.sandbox.handle (fork + exec: nothing of the worker's memory,
hidden tests included, survives the exec).

Whatever happens inside, `grade` returns a dict shaped like `CheckReport.to_dict()`; a failure
of the grader itself becomes a not-gradable report for that submission, never a crashed batch.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Iterator

from grader.class_grading import watchdog
from grader.judging.results import CheckReport
from grader.sandbox.plan import sweep

# grader.testing routes learner calls through one process-global judge, so two checks must
# never overlap in one process (a Dask worker may run several tasks in threads).
_one_check_at_a_time = threading.Lock()

GRADER_FAULT = "the grader itself failed on this notebook ({error}); this is not the learner's fault: tell the course staff, who can retry it with `grader check {assignment} {notebook}`"


def grade(course_root: str, assignment: str, learner: str, notebook: str) -> dict:
    """Judge `notebook` as `learner`'s answer to `assignment`: `CheckReport.to_dict()` shape.

    The judge runs under the limits of grader.class_grading.watchdog: a check over its budget
    is "not gradable: took too long", also when its worker had to be killed and it is retried.
    """
    from grader.course import Course
    from grader.judging.judge import check, warm_zygote

    with _one_check_at_a_time:
        course = Course(Path(course_root))
        limits = course.limits
        if watchdog.overrun_marker(notebook).exists():  # it already ran past the budget, once is enough
            return not_gradable_report(course, assignment, learner, notebook, watchdog.too_long_reason(watchdog.submission_budget(limits))).to_dict()
        _note_worker(notebook)
        budget = watchdog.submission_budget(limits)
        try:
            zygote = warm_zygote(course, assignment)  # before the limits: it outlives this submission
            with watchdog.judge_limits(limits, notebook):
                report = check(course, assignment, Path(notebook), learner=learner, zygote=zygote)
        except watchdog.TookTooLong:
            report = not_gradable_report(course, assignment, learner, notebook, watchdog.too_long_reason(budget))
        except MemoryError:
            report = not_gradable_report(course, assignment, learner, notebook, (
                f"the judge ran out of its memory ({limits.judge_memory_mb} MiB) on this notebook: a function returns "
                "values far larger than the tests ask for; check the shapes your functions return"))
        except Exception as error:  # noqa: BLE001 - a grader bug must cost one submission, not the batch
            reason = GRADER_FAULT.format(error=f"{type(error).__name__}: {error}", assignment=assignment, notebook=notebook)
            report = not_gradable_report(course, assignment, learner, notebook, reason, grader_fault=True)
    return report.to_dict()


def _note_worker(notebook: str) -> None:
    try:
        watchdog.worker_file(notebook).write_text(str(os.getpid()))
    except OSError:
        pass


def not_gradable_report(course, assignment: str, learner: str, notebook: str, reason: str, grader_fault: bool = False) -> CheckReport:
    """A report giving every test of `assignment` 0 points, because of `reason`."""
    from grader.notebook.cells import test_cells

    try:
        tests = test_cells(course.source_notebook(assignment))
    except Exception:  # noqa: BLE001 - the reason is what matters; the tests may be unreadable too
        tests = []
    return CheckReport.not_gradable_for(tests, reason, assignment=assignment, learner=learner, notebook=notebook, grader_fault=grader_fault)


# --- a local pool, or a Dask cluster ------------------------------------------------------


def _arguments(course, submission) -> tuple[str, str, str, str]:
    return (str(course.root), submission.assignment, submission.learner, str(getattr(submission, "graded_file", submission.notebook)))


def _died(course, submission, how: str) -> dict:
    reason = GRADER_FAULT.format(error=how, assignment=submission.assignment, notebook=submission.notebook)
    return not_gradable_report(course, submission.assignment, submission.learner, str(submission.notebook), reason, grader_fault=True).to_dict()


def pool_results(course, todo: list, workers: int, grade, arguments=_arguments, budget: float | None = None, grace: float = 15.0) -> Iterator[tuple[object, dict]]:
    """Results from a local process pool, in the order they finish.

    `grade(*arguments(course, item))` runs in a worker for each item of `todo` (by default the
    submission's course root, assignment, learner and notebook; `grader audit` passes its own).
    At most `workers` submissions are in flight, so when a worker process dies (which breaks
    the whole pool) the suspects are known: they are retried one at a time, alone, and one that
    kills its worker again becomes a not-gradable result. The rest carry on in a new pool.

    `budget`: the wall-clock seconds one submission may take (grader.class_grading.watchdog);
    a worker still busy with one past that and two graces is killed, that submission is "not
    gradable: took too long", and the others in flight are graded again in a new pool.
    """
    from concurrent.futures import FIRST_COMPLETED, ALL_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pending, suspects = deque(todo), deque()
    running: dict = {}  # future -> (submission, ran alone, when it was handed to the pool)
    overdue: set[int] = set()  # id() of submissions whose worker the watchdog killed
    pool, finished = _new_pool(workers), False
    patience = None if budget is None else budget + 2 * grace

    def submit(submission, alone: bool):
        running[pool.submit(grade, *arguments(course, submission))] = (submission, alone, time.monotonic())

    try:
        while pending or suspects or running:
            if suspects and not running:
                submit(suspects.popleft(), True)
            while not suspects and pending and len(running) < workers:
                submit(pending.popleft(), False)
            timeout = None if patience is None else max(min(t for _, _, t in running.values()) + patience - time.monotonic(), 0.05)
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:  # the oldest is overdue: its worker is stuck where its own watchdog cannot reach
                for submission, _, since in list(running.values()):
                    if time.monotonic() - since >= patience and _kill_worker_of(course, submission, arguments):
                        overdue.add(id(submission))
                continue
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                done, _ = wait(running, return_when=ALL_COMPLETED)  # every future of a broken pool fails
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(workers)
                sweep()  # the dead worker's learner folders and cgroups
            for future in done:
                submission, alone, _ = running.pop(future)
                error = future.exception()
                if error is None:
                    yield submission, future.result()
                elif id(submission) in overdue:
                    yield submission, _took_too_long(course, submission, budget)
                elif isinstance(error, BrokenProcessPool) and overdue:
                    pending.appendleft(submission)  # the watchdog broke the pool, not this one
                elif isinstance(error, BrokenProcessPool) and not alone:
                    suspects.append(submission)
                elif isinstance(error, BrokenProcessPool):
                    yield submission, _died(course, submission, "its worker process died while grading it, also when retried alone")
                else:
                    yield submission, _died(course, submission, f"{type(error).__name__}: {error}")
            overdue.intersection_update(id(s) for s, _, _ in running.values())
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop_pool(pool)


def _kill_worker_of(course, submission, arguments) -> bool:
    """Kill the worker grading `submission` (it wrote its pid beside the staged notebook); whether one was."""
    try:
        pid = int(watchdog.worker_file(arguments(course, submission)[3]).read_text())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return False
    return True


def _took_too_long(course, submission, budget: float) -> dict:
    reason = watchdog.too_long_reason(budget)
    return not_gradable_report(course, submission.assignment, submission.learner, str(submission.notebook), reason).to_dict()


def _new_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Never plain fork: this process may hold torch's threads and, after recording, hidden tests.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(warm_modules())
    me = os.getpid()
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context,
        initializer=start_pool_worker, initargs=(me, process_started(me)),
    )


def _stop_pool(pool) -> None:
    """Stop the workers now: SIGTERM unwinds each check in progress (its sandbox is removed)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


def dask_results(course, todo: list, scheduler, grade) -> Iterator[tuple[object, dict]]:
    """Results from a Dask cluster, in the order they finish; each worker runs the same sandbox.

    The workers must import this package and see the course folder at the same path. A task
    whose workers keep dying (Dask's KilledWorker) becomes a not-gradable result.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise LookupError('--scheduler needs Dask: pip install "dask[distributed]"') from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="30s") if own else scheduler
    except (OSError, TimeoutError) as error:
        raise LookupError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    batch = uuid.uuid4().hex[:8]
    futures = {
        client.submit(grade, *_arguments(course, s), key=f"grader-autograde-{batch}-{s.assignment}-{s.learner}", pure=False): s
        for s in todo
    }
    try:
        for future in as_completed(futures):
            submission = futures[future]
            try:
                data = future.result()
            except Exception as error:  # noqa: BLE001 - KilledWorker, a lost worker, a task error
                if watchdog.overrun_marker(_arguments(course, submission)[3]).exists():  # its watchdog killed the worker
                    data = _took_too_long(course, submission, watchdog.submission_budget(course.limits))
                else:
                    data = _died(course, submission, f"on the Dask cluster: {type(error).__name__}: {str(error)[:300]}")
            yield submission, data
    finally:
        client.cancel([f for f in futures if not f.done()])
        if own:
            client.close()


# --- inside a local pool worker -----------------------------------------------------------


def start_pool_worker(parent: int, parent_started: str | None) -> None:
    """Initializer of a local pool worker: warm up, and never outlive the batch.

    - Ctrl-C at the terminal reaches the whole process group: the parent decides what stops,
      so workers ignore SIGINT. SIGTERM (sent by the parent when it stops early) unwinds the
      check in progress, so its learner process is killed and its sandbox removed.
    - If the parent `grader autograde` process dies (kill -9), the worker notices within a
      second and stops the same way. (Its own parent is the fork server, which stays alive as
      long as any worker does, so the worker watches the grader process itself.)
    - One check per core: the judge's own numpy and torch calls stay on one thread.
    """
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"  # read when numpy and torch load, before any import below
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    threading.Thread(target=_watch_parent, args=(parent, parent_started), daemon=True, name="watch-parent").start()
    import grader.judging.judge  # noqa: F401 - the judge's imports, once per worker


def process_started(pid: int) -> str | None:
    """When `pid` started (Linux /proc), so a reused pid is not mistaken for the parent."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    if started is not None:
        return process_started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def _watch_parent(parent: int, started: str | None, grace: float = 10.0) -> None:
    while _alive(parent, started):
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)  # unwinds the check in progress: its sandbox is removed
    time.sleep(grace)
    os._exit(1)  # the pool's loop would otherwise wait forever for work from a dead parent


def warm_modules() -> list[str]:
    """Modules a fork server may preload for pool workers: code only, no course data."""
    return [__name__]
