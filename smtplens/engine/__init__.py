"""The sans-I/O SMTP conversation engine: bytes in, events out.

Nothing in this package opens files or imports scapy, pandas, typer or rich.
"""

from smtplens.engine.conversation import ClientState, Conversation
from smtplens.engine.dotdata import END_OF_DATA, DotReader, unstuff

__all__ = ["END_OF_DATA", "ClientState", "Conversation", "DotReader", "unstuff"]
