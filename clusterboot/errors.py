"""Error types that the CLI turns into one clear sentence and an exit code."""

EXIT_OK = 0
EXIT_FAILURE = 1  # a playbook or job failed
EXIT_USAGE = 2  # bad input or a missing prerequisite; nothing was changed


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 2."""

    exit_code = EXIT_USAGE


class RunFailed(Exception):
    """A playbook or job ran and failed; exit code 1."""

    exit_code = EXIT_FAILURE
