"""One error type for everything the user can fix; the CLI prints it as one line."""


class LdpruneError(Exception):
    """A problem with the user's input or environment, with the fix spelled out.

    ``message`` names the problem, ``fix`` tells the user what to do. The CLI prints
    both without a traceback and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class GateFailed(LdpruneError):
    """The evaluator's budget/quality gate did not pass (exit code 3)."""

    exit_code = 3


class Infeasible(LdpruneError):
    """No selection of modifications can meet the budget(s) under the current predictor."""


class BudgetMissed(GateFailed):
    """plan --verify measured every plan it tried over the budget (the best one is still written)."""
