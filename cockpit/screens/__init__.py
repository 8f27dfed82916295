"""Modal screens: confirmations (AUTO, flatten, cancel, quit), the help screen and
the order / signal details."""
from .confirm import ConfirmScreen
from .detail import OrderDetailScreen, SignalDetailScreen
from .help import HelpScreen

__all__ = ["ConfirmScreen", "HelpScreen", "OrderDetailScreen", "SignalDetailScreen"]
