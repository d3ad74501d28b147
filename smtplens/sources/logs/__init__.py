"""Transcript and log formats written by real mail software.

``FORMATS`` lists them most specific first; each is a
:class:`smtplens.sources.textfile.TextFormat`.
"""

from __future__ import annotations

from smtplens.sources.logs.courier import CourierLog
from smtplens.sources.logs.curl import CurlLog
from smtplens.sources.logs.domino import DominoConsoleLog
from smtplens.sources.logs.dovecot import DovecotSubmissionLog
from smtplens.sources.logs.exchange import ExchangeProtocolLog
from smtplens.sources.logs.exim_client import EximClientTranscript
from smtplens.sources.logs.exim_debug import EximDebug
from smtplens.sources.logs.exim_summary import EximMainlog
from smtplens.sources.logs.haraka import HarakaProtocolLog
from smtplens.sources.logs.javamail import JavaMailDebug
from smtplens.sources.logs.kerio import KerioLog
from smtplens.sources.logs.mailkit import MailKitProtocolLog
from smtplens.sources.logs.mdaemon import MDaemonSMTPLog
from smtplens.sources.logs.msmtp import MsmtpVerbose
from smtplens.sources.logs.nodemailer import NodemailerLog
from smtplens.sources.logs.opensmtpd import OpenSMTPDLog
from smtplens.sources.logs.opensmtpd_trace import OpenSMTPDTrace
from smtplens.sources.logs.phpmailer import PHPMailerDebug
from smtplens.sources.logs.postfix import PostfixDebugLog
from smtplens.sources.logs.postfix_summary import PostfixSummaryLog
from smtplens.sources.logs.qmail import QmailLog
from smtplens.sources.logs.sendmail import SendmailTrace
from smtplens.sources.logs.sendmail_summary import SendmailSummaryLog
from smtplens.sources.logs.smtpcli import SmtpCliVerbose
from smtplens.sources.logs.smtplib import SmtplibDebug
from smtplens.sources.logs.swaks import SwaksTranscript
from smtplens.sources.textfile import TextFormat

FORMATS: list[TextFormat] = []
FORMATS += [SwaksTranscript(), EximClientTranscript(), EximDebug(), CurlLog()]
FORMATS += [PostfixDebugLog(), ExchangeProtocolLog(), SendmailTrace(), SmtplibDebug(),
            PHPMailerDebug()]
# server-side transcripts (smtplens issue 13)
FORMATS += [HarakaProtocolLog(), OpenSMTPDTrace(), MDaemonSMTPLog()]
# client debug output pasted by users (smtplens issue 13)
FORMATS += [MsmtpVerbose(), SmtpCliVerbose(), MailKitProtocolLog()]
FORMATS += [JavaMailDebug(), NodemailerLog()]
# summary logs (no transcript) last: a debug log with transcripts keeps its own format
FORMATS += [PostfixSummaryLog(), EximMainlog(), OpenSMTPDLog()]
# ordinary server syslogs read into partial sessions (smtplens issue 13)
FORMATS += [SendmailSummaryLog(), CourierLog(), DovecotSubmissionLog(), QmailLog(),
            DominoConsoleLog(), KerioLog()]
