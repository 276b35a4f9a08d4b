"""logstep show EXECUTION_ARN: one execution's step-by-step summary from its history."""

from logstep.executions import add_show_arguments as add_arguments
from logstep.executions import run_show as run

__all__ = ["add_arguments", "run"]
