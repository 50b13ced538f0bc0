"""Stage 7, the road: how far a learner (or a class) has come along the roadmap's phases.

    model      what progress is: per assignment, per phase, per learner, for a class
    build      the model from the gradebook's rows; stuck learners, pass rates, mistakes
    next_step  the next assignment to take, by prerequisites or along a reading track
    words      the words and marks the views share
    terminal   the rich terminal view
    page       the self-contained HTML page, with figures (the roadmap graph, phase bars)
    figures    the pictures, drawn with matplotlib into inline SVG
    spreadsheet  CSV, one row per learner and assignment
"""
