"""The kill pipeline and the interface its actions implement.

Venue actions (cancel-all, key deletion) plug in through `KillAction` and an `ActionFactory`
appended to the list the daemon is built with; nothing else changes.
"""

from watchdog.daemon.errors import KillStepError
from watchdog.daemon.kill.action import ActionFactory, KillAction, KillContext
from watchdog.daemon.kill.pipeline import KillPipeline, KillStarted

__all__ = [
    "ActionFactory",
    "KillAction",
    "KillContext",
    "KillPipeline",
    "KillStarted",
    "KillStepError",
]
