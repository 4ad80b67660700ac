"""Error types that the CLI turns into one clear sentence and an exit code."""

EXIT_OK = 0
EXIT_FAILURE = 1  # a playbook or job failed
EXIT_USAGE = 2  # bad input or a missing prerequisite; nothing was changed


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 2."""

    exit_code = EXIT_USAGE


class Interrupted(Exception):
    """SIGINT (Ctrl-C) or SIGTERM stopped a run; exit code 128 + the signal's number (130, 143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


class RunFailed(Exception):
    """A playbook or job ran and failed; exit code 1."""

    exit_code = EXIT_FAILURE
