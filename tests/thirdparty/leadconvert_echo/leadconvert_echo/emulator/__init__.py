"""Echo CRM's emulator: the org in ``_org.py``, the protocol in ``_server.py``."""

from ._server import EchoEmulator

__all__ = ["EchoEmulator"]
