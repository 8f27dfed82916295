"""Modal screens: confirmations (AUTO, flatten, cancel, quit) and the help screen."""
from .confirm import ConfirmScreen
from .help import HelpScreen

__all__ = ["ConfirmScreen", "HelpScreen"]
