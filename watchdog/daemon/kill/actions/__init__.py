"""The local kill actions and the default factory list the daemon is built with."""

from watchdog.daemon.kill.action import ActionFactory
from watchdog.daemon.kill.actions.alert import alert_factory
from watchdog.daemon.kill.actions.credential import revoke_credential_factory
from watchdog.daemon.kill.actions.process import stop_process_factory

DEFAULT_FACTORIES: tuple[ActionFactory, ...] = (
    stop_process_factory,
    revoke_credential_factory,
    alert_factory,
)

__all__ = [
    "DEFAULT_FACTORIES",
    "alert_factory",
    "revoke_credential_factory",
    "stop_process_factory",
]
