"""Transcript and log formats written by real mail software.

``FORMATS`` lists them most specific first; each is a
:class:`smtplens.sources.textfile.TextFormat`.
"""

from __future__ import annotations

from smtplens.sources.logs.curl import CurlLog
from smtplens.sources.logs.exchange import ExchangeProtocolLog
from smtplens.sources.logs.exim_client import EximClientTranscript
from smtplens.sources.logs.exim_debug import EximDebug
from smtplens.sources.logs.exim_summary import EximMainlog
from smtplens.sources.logs.phpmailer import PHPMailerDebug
from smtplens.sources.logs.postfix import PostfixDebugLog
from smtplens.sources.logs.postfix_summary import PostfixSummaryLog
from smtplens.sources.logs.sendmail import SendmailTrace
from smtplens.sources.logs.smtplib import SmtplibDebug
from smtplens.sources.logs.swaks import SwaksTranscript
from smtplens.sources.textfile import TextFormat

FORMATS: list[TextFormat] = []
FORMATS += [SwaksTranscript(), EximClientTranscript(), EximDebug(), CurlLog()]
FORMATS += [PostfixDebugLog(), ExchangeProtocolLog(), SendmailTrace(), SmtplibDebug(),
            PHPMailerDebug()]
# summary logs (no transcript) last: a debug log with transcripts keeps its own format
FORMATS += [PostfixSummaryLog(), EximMainlog()]
