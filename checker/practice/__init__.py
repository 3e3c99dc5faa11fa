"""Shared logic of the practice commands (hint, watch, progress, reset,
solution, mock, drill): pristine stubs, backups, drill scheduling, mock
sessions, resource limits for graded candidates, and terminal output.

Nothing here prints on import, and nothing here grades by itself: grading
always goes through `checker.runner.run_graders`.
"""
