"""Stage 2, the wall between the judge and the learner's code.

    plain_data     the only format that crosses: arrays, tensors, numbers, strings; never pickle
    channel        framed messages over a pair of pipes, with deadlines
    plan           the judge's side: a sandbox planned for one learner process, removed after it
    confine        the learner's side: the process confines itself before running learner code
    landlock       Linux Landlock, through its system calls
    namespace      what a scenario sees: the implementation under test, and its modules
    lazy_modules  matplotlib imported on first use by the course's own setup cells
    interpreter    the sandboxed learner process (`python -I -m grader.sandbox.interpreter`)
    handle         the judge's handle on it: calls, time limits, restarts; LearnerError
"""
