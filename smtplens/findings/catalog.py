"""The findings catalog: every finding's id, severity and text, in one place.

Checks emit :class:`~smtplens.findings.finding.Finding` records carrying only an id,
a severity and evidence; every human text (title, description, when you see it, how to
fix it, the RFC rule) is looked up here. Ids are stable: reports, filters and
translations key on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtplens.findings.finding import Severity

I, W, E = Severity.INFO, Severity.WARNING, Severity.ERROR  # noqa: E741


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """The catalog entry of one finding id."""

    id: str
    severity: Severity  #: default severity
    title: str
    description: str
    when: str  #: "when you see this": the usual causes
    fix: str  #: how to fix it
    rfc: str  #: the rule it rests on
    exact_bytes: bool = False  #: needs the exact bytes (CR/LF, segmenting) to be decided

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


_SPECS = [
    # ---------------------------------------------------------------- DATA / BDAT
    FindingSpec(
        "data.terminator-missing", E, "Message never ended",
        "The client was sending a message (after DATA/354 or inside BDAT) when the stream "
        "or capture ended: the end-of-data sequence <CRLF>.<CRLF> never came.",
        "The client crashed or timed out mid-message, the connection was cut, a proxy "
        "dropped the tail, or the capture stopped too early.",
        "Check the client's logs for a timeout or write error; look for the server's "
        "data-block timeout (3 min, RFC 5321 §4.5.3.2.6). Re-capture with a larger buffer "
        "if the capture was cut.",
        "RFC 5321 §4.1.1.4, §4.5.3.2"),
    FindingSpec(
        "data.unstuffed-dot", W, "Line starting with '.' was not dot-stuffed",
        "A line of the message starts with a single '.' followed by other text. The "
        "sender must double a leading dot; the receiver deletes the first dot of every "
        "such line, so this line reaches the recipient with its dot removed.",
        "Hand-written SMTP clients and scripts that write the body without transparency; "
        "a relay that un-stuffed before forwarding.",
        "Make the client prepend '.' to every line that begins with '.' (RFC 5321 "
        "§4.5.2), or use a library (smtplib, swaks) that does.",
        "RFC 5321 §4.5.2", exact_bytes=True),
    FindingSpec(
        "data.premature-end", E, "A bare '.' line ended the message early",
        "The message ended at a line holding only '.', but the client kept sending "
        "message text afterwards: the server read the rest of the body as SMTP commands "
        "(and answered them with errors).",
        "The body contained a line with a single '.' that the client did not dot-stuff; "
        "the tail of the message is lost and the commands it produced may have done "
        "harm.",
        "Dot-stuff the body (RFC 5321 §4.5.2): a body line '.' must be sent as '..'.",
        "RFC 5321 §4.5.2, §4.1.1.4"),
    FindingSpec(
        "data.smuggling-sequence", E, "SMTP-smuggling end-of-data sequence in message",
        "The message contains a non-standard end-of-data sequence such as <LF>.<LF>, "
        "<LF>.<CR><LF> or <CR>.<CR>. A receiver that accepts it as the end of data "
        "will see the text that follows as a second, smuggled message (SMTP smuggling, "
        "CVE-2023-51764/51765/51766).",
        "An attacker probing for or exploiting SMTP smuggling (more certain when SMTP "
        "verbs follow the sequence); rarely a broken client mixing line endings.",
        "Upgrade the receiving MTA (Postfix >= 3.8.4 with smtpd_forbid_bare_newline, "
        "sendmail srv_features 'o', Exim >= 4.97.1) and have the sending MTA reject or "
        "normalise bare CR and LF.",
        "RFC 5321 §4.1.1.4 (servers MUST NOT treat <LF>.<LF> as end of data), §2.3.8",
        exact_bytes=True),
    FindingSpec(
        "data.bare-lf", W, "Bare LF in message",
        "A line of the message ends in LF without CR. CR and LF must only occur "
        "together as CRLF; receivers disagree about bare LF, which is what SMTP "
        "smuggling exploits.",
        "Unix-style line endings written straight to the socket by a script or a "
        "broken client library.",
        "Convert line endings to CRLF before sending; on the receiver, reject or "
        "normalise bare LF (Postfix smtpd_forbid_bare_newline).",
        "RFC 5321 §2.3.8; RFC 5322 §2.3", exact_bytes=True),
    FindingSpec(
        "data.bare-cr", W, "Bare CR in message",
        "The message contains a CR not followed by LF.",
        "Old Mac line endings or binary content sent without encoding.",
        "Send text with CRLF line endings and binary content Base64-encoded.",
        "RFC 5321 §2.3.8; RFC 5322 §2.3", exact_bytes=True),
    FindingSpec(
        "data.nul-byte", W, "NUL byte in message",
        "The message contains a NUL (0x00) byte, which is not allowed in SMTP text and "
        "is used in some SMTP-smuggling variants (<CR><LF>\\0.<CR><LF>).",
        "Binary content sent without encoding, or a smuggling probe.",
        "Encode binary parts (Base64) or use BDAT with BODY=BINARYMIME.",
        "RFC 5321 §4.5.2; RFC 5322 §2.3", exact_bytes=True),
    FindingSpec(
        "data.line-too-long", W, "Message line over 1000 octets",
        "A line of the message is longer than 998 characters plus CRLF. Servers may "
        "reject the message, truncate or wrap the line (breaking signatures).",
        "HTML or encoded content written without line wrapping.",
        "Wrap lines or use quoted-printable/Base64 content transfer encoding.",
        "RFC 5321 §4.5.3.1.6; RFC 5322 §2.1.1", exact_bytes=True),
    FindingSpec(
        "data.8bit-without-8bitmime", W, "8-bit data without 8BITMIME",
        "The message contains bytes above 127, but the server did not advertise "
        "8BITMIME or the client did not declare BODY=8BITMIME.",
        "UTF-8 or Latin-1 text sent raw by a client that ignored the EHLO reply.",
        "Declare BODY=8BITMIME where the server offers it, or encode the content as "
        "quoted-printable or Base64.",
        "RFC 6152 §3; RFC 5321 §2.4"),
    FindingSpec(
        "data.size-exceeded", W, "Message larger than declared or allowed SIZE",
        "The message is larger than the SIZE the client declared in MAIL FROM or the "
        "limit the server advertised in EHLO.",
        "A client that estimated SIZE wrongly, or ignored the server's limit.",
        "Declare the real size (octets including CRLF, without stuffing dots) and stay "
        "under the advertised limit.",
        "RFC 1870 §4, §6"),
    FindingSpec(
        "data.body-after-refused-data", E, "Message text sent although DATA was refused",
        "The server refused DATA (no 354), but the client sent the message anyway; the "
        "server read the message lines as commands.",
        "A client that does not wait for 354 (or pipelines past DATA) after every "
        "recipient was refused.",
        "Wait for the 354 reply before sending the message; after a refused DATA send "
        "RSET (RFC 2920 §3.1).",
        "RFC 5321 §4.1.1.4; RFC 2920 §3.1"),
    FindingSpec(
        "data.binarymime-with-data", E, "BODY=BINARYMIME sent with DATA",
        "The transaction declared BODY=BINARYMIME but used DATA; binary MIME can only "
        "be transferred with BDAT.",
        "A client that sets BODY=BINARYMIME without switching to BDAT.",
        "Use BDAT for BINARYMIME messages, or encode the content and use BODY=8BITMIME.",
        "RFC 3030 §3"),
    FindingSpec(
        "bdat.size-mismatch", E, "BDAT chunk size does not match the data",
        "The octet count of a BDAT command does not match what the client sent: the "
        "stream ended inside the chunk, or what followed the counted octets was not a "
        "command.",
        "A client that counted characters instead of octets, or counted before "
        "changing line endings or dot-stuffing.",
        "Send exactly the declared number of octets after BDAT n (RFC 3030 §2).",
        "RFC 3030 §2"),
    FindingSpec(
        "bdat.mixed-with-data", E, "BDAT and DATA mixed in one transaction",
        "A transaction used both DATA and BDAT.",
        "A client that falls back to DATA after a BDAT error without RSET.",
        "Use one method per transaction; after a BDAT error send RSET.",
        "RFC 3030 §2"),
    FindingSpec(
        "bdat.after-last", E, "BDAT after BDAT LAST",
        "A BDAT command came after the transaction's LAST chunk.",
        "A client that miscounted its chunks or did not start a new transaction.",
        "Start a new transaction (MAIL FROM) after BDAT ... LAST, or RSET.",
        "RFC 3030 §2"),
    FindingSpec(
        "bdat.invalid", E, "Invalid BDAT command",
        "The BDAT command has no valid chunk size (missing, negative, not a number, "
        "too large) or an unknown argument; the stream cannot be followed after it.",
        "A broken client, or an attempt to confuse a filter or analyzer.",
        "Send 'BDAT <octets> [LAST]' with a decimal octet count.",
        "RFC 3030 §2"),
    FindingSpec(
        "bdat.not-advertised", W, "BDAT used without CHUNKING",
        "The client used BDAT although the server did not advertise CHUNKING.",
        "A client that assumes CHUNKING, or a capture that missed the EHLO.",
        "Use BDAT only after the EHLO reply lists CHUNKING.",
        "RFC 3030 §2"),
    FindingSpec(
        "bdat.dot-stuffed", W, "BDAT chunk looks dot-stuffed",
        "A BDAT chunk ends in <CRLF>.<CRLF> or holds '..' at line starts: BDAT data is "
        "sent as is, so the recipient gets the dots.",
        "A client library that applies DATA transparency to BDAT (e.g. angus-mail#209).",
        "Send BDAT content unmodified: no dot-stuffing, no terminator.",
        "RFC 3030 §2"),
    # ---------------------------------------------------------------- AUTH
    FindingSpec(
        "auth.invalid-base64", E, "AUTH data is not valid Base64",
        "A 334 challenge or a client answer during AUTH is not valid Base64; it is shown "
        "raw. The server must answer a non-decodable client answer with 501.",
        "A client that sends the password in clear instead of Base64, a server that "
        "puts text in its 334, or a line cut in transit.",
        "Encode every SASL message in Base64 with no extra text (RFC 4954 §4).",
        "RFC 4954 §4, §7"),
    FindingSpec(
        "auth.cleartext", E, "Credentials sent without TLS",
        "The client authenticated with a mechanism that exposes the password or token "
        "(PLAIN, LOGIN, XOAUTH2, OAUTHBEARER...) on an unencrypted connection: anyone "
        "on the path can read them.",
        "A client configured without STARTTLS, a server that offers AUTH before TLS, or "
        "a STARTTLS-stripping attack.",
        "Require TLS before AUTH (Postfix smtpd_tls_auth_only=yes, Exim "
        "auth_advertise_hosts), use port 465/587 with TLS, and change the exposed "
        "password.",
        "RFC 4954 §4, §14; RFC 8314 §3"),
    FindingSpec(
        "auth.not-advertised", W, "AUTH mechanism not advertised",
        "The client used an AUTH mechanism that the server's EHLO reply did not list "
        "(or the server did not advertise AUTH at all).",
        "A client with a fixed mechanism, or credentials stuffing without reading EHLO.",
        "Pick a mechanism from the server's EHLO AUTH list.",
        "RFC 4954 §3, §4"),
    FindingSpec(
        "auth.failed", W, "Authentication failed",
        "The server refused the credentials or the exchange (535, 454, 534, 538, 501, "
        "504...).",
        "A wrong password, an expired token, a mechanism the account may not use, or a "
        "server-side problem (454).",
        "Check the user and password; for 534 use a stronger mechanism, for 538 use "
        "TLS, for 454 look at the server's authentication back-end.",
        "RFC 4954 §6"),
    FindingSpec(
        "auth.cancelled", I, "Authentication cancelled by the client",
        "The client answered a 334 challenge with '*', which cancels the exchange; the "
        "server must reply 501.",
        "A client that could not answer the challenge (missing credentials, unsupported "
        "option) or is probing mechanisms.",
        "Usually harmless; if unexpected, check the client's credentials configuration.",
        "RFC 4954 §4"),
    FindingSpec(
        "auth.before-ehlo", W, "AUTH before EHLO",
        "The client sent AUTH before EHLO: AUTH is an ESMTP extension and is only "
        "available after EHLO advertised it.",
        "Scripts and bots that skip EHLO.",
        "Send EHLO first and check that it advertises AUTH.",
        "RFC 4954 §4; RFC 5321 §4.1.4"),
    FindingSpec(
        "auth.in-transaction", W, "AUTH inside a mail transaction",
        "AUTH was sent after MAIL FROM and before the transaction ended; servers must "
        "reject it with 503.",
        "A client that authenticates lazily.",
        "Authenticate before MAIL FROM.",
        "RFC 4954 §4"),
    FindingSpec(
        "auth.after-success", W, "AUTH after a successful AUTH",
        "The client sent AUTH again after a successful authentication; servers must "
        "reject it with 503.",
        "A client re-using a connection without tracking its state.",
        "Authenticate once per session.",
        "RFC 4954 §4"),
    FindingSpec(
        "auth.repeated-failures", E, "Repeated authentication failures",
        "Several AUTH attempts failed in one session.",
        "Password guessing (brute force or credential stuffing), or a misconfigured "
        "client retrying.",
        "Rate-limit or block the client (Postfix anvil, fail2ban); check which accounts "
        "were tried.",
        "RFC 4954 §4 (servers may limit failures)"),
    FindingSpec(
        "auth.out-of-step", W, "Credential-like line after the AUTH exchange ended",
        "The client sent a line that is not a command right after an AUTH exchange had "
        "ended (a 535 failure, a 501 after '*', a 504 refusal): it is out of step with "
        "the server, and the line is most likely its next user name or password. "
        "smtplens treats it as a credential and redacts it everywhere.",
        "Password-guessing bots that send their list without reading replies, clients "
        "that pipeline AUTH answers (not allowed: RFC 2920 §3.1 puts AUTH last in a "
        "group) or that ignore a refusal.",
        "Make the client wait for each 334 before answering and stop on 4xx/5xx; if the "
        "client is not yours, treat it as password guessing and block it.",
        "RFC 4954 §4; RFC 2920 §3.1"),
    FindingSpec(
        "auth.plain-empty-authcid", W, "AUTH PLAIN with an empty user name",
        "The AUTH PLAIN message has an empty authentication identity (authcid): it is "
        "'[authzid] NUL NUL password'. RFC 4616 requires a non-empty authcid; servers "
        "refuse it, or worse, look up the password of an empty or default account.",
        "A client whose user name setting is empty, a script that put the user in the "
        "authzid slot ('alice NUL NUL password' instead of 'NUL alice NUL password'), "
        "or a probe for servers that accept an empty user.",
        "Send 'NUL user NUL password' (authzid empty, authcid set); configure the "
        "client's user name.",
        "RFC 4616 §2"),
    # ---------------------------------------------------------------- protocol
    FindingSpec(
        "protocol.path-without-brackets", W, "MAIL FROM/RCPT TO address without '<' '>'",
        "The address after MAIL FROM: or RCPT TO: is not enclosed in angle brackets "
        "(MAIL FROM:alice@example.test). The grammar requires a Path, '<' mailbox '>'; "
        "many servers accept it anyway, strict ones (and some filters) answer 501 or 553.",
        "Hand-written scripts and old or minimal clients that format the command "
        "themselves; tools that pass the address through without quoting it.",
        "Send MAIL FROM:<alice@example.test> and RCPT TO:<bob@example.test>, with the "
        "brackets (and '<>' for the null sender).",
        "RFC 5321 §4.1.2, §3.3, §4.1.1.2, §4.1.1.3"),
    FindingSpec(
        "protocol.space-after-colon", I, "Space after MAIL FROM: or RCPT TO:",
        "The command has a space between the colon and the address (MAIL FROM: <...>). "
        "The grammar writes 'MAIL FROM:' directly followed by the path; most servers "
        "tolerate the space (Postfix unless strict_rfc821_envelopes), some refuse it.",
        "Hand-written clients and scripts, and a few libraries, that add the space for "
        "readability.",
        "Write the path right after the colon: MAIL FROM:<alice@example.test>.",
        "RFC 5321 §4.1.1.2, §4.1.1.3"),
    FindingSpec(
        "protocol.helo-without-domain", W, "EHLO/HELO without a domain",
        "The client sent EHLO or HELO with nothing after it. The command must name the "
        "client: its domain or an address literal such as [192.0.2.1]; servers answer "
        "501, and the session has no client name for logs and checks.",
        "Hand-written scripts, probes and scanners; a client whose host name setting "
        "is empty.",
        "Send 'EHLO' followed by the client's fully qualified domain name, or an "
        "address literal when it has none.",
        "RFC 5321 §4.1.1.1, §4.1.4"),
    FindingSpec(
        "protocol.early-talker", W, "Client talked before the greeting",
        "The client sent data before the server's 220 greeting.",
        "Spam bots and badly written clients; Postfix postscreen and sendmail "
        "greet_pause reject such clients.",
        "Wait for the 220 greeting before sending EHLO.",
        "RFC 5321 §3.1, §4.3.1"),
    FindingSpec(
        "protocol.greeting-refused", I, "Server refused the connection in its greeting",
        "The server greeted with 554 (or another non-220 code): no mail is accepted on "
        "this connection.",
        "The client's address is blocked, or the server is overloaded.",
        "Check the greeting text for the reason; the client should send QUIT.",
        "RFC 5321 §3.1, §4.3.1"),
    FindingSpec(
        "protocol.pipelining-not-advertised", W, "Pipelining without PIPELINING",
        "The client sent a command before receiving the reply to the previous one, but "
        "the server did not advertise PIPELINING.",
        "A client that pipelines unconditionally, or a spam bot.",
        "Only pipeline after EHLO lists PIPELINING; servers may reject such clients "
        "(Postfix reject_unauth_pipelining).",
        "RFC 2920 §3.1"),
    FindingSpec(
        "protocol.pipelining-violation", W, "Command pipelined after a group-ending command",
        "A command was sent before the reply to EHLO, DATA, VRFY, EXPN, TURN, QUIT or "
        "NOOP, which may only be the last command of a pipelined group.",
        "A client that pipelines too eagerly; an attempt at smuggling commands past a "
        "filter.",
        "Wait for the reply to these commands before sending anything else.",
        "RFC 2920 §3.1"),
    FindingSpec(
        "protocol.starttls-injection", E, "Plaintext sent after STARTTLS",
        "Bytes arrived after STARTTLS and before the server's reply (or before the TLS "
        "handshake): a vulnerable server would execute them as commands inside the TLS "
        "session (STARTTLS command injection, CVE-2011-0411 class).",
        "An attack on the STARTTLS upgrade, or a broken client that pipelines after "
        "STARTTLS.",
        "Servers must discard buffered input when TLS starts; clients must wait for 220 "
        "before the handshake.",
        "RFC 3207 §4, §5; RFC 2920 §3.1"),
    FindingSpec(
        "protocol.starttls-readvertised", W, "STARTTLS advertised again after TLS",
        "After TLS started, the server's new EHLO reply still advertised STARTTLS.",
        "A server (or proxy) that does not track the TLS state.",
        "Do not advertise STARTTLS inside TLS.",
        "RFC 3207 §4.2"),
    FindingSpec(
        "protocol.starttls-refused", W, "STARTTLS refused",
        "The server answered STARTTLS with an error (454 TLS not available, 501): the "
        "session continues in clear text.",
        "A server without a certificate or with a broken TLS set-up.",
        "Fix the server's TLS configuration; clients that require TLS should give up.",
        "RFC 3207 §4"),
    FindingSpec(
        "protocol.mixed-reply-codes", E, "Multi-line reply with different codes",
        "The lines of one multi-line reply do not all carry the same reply code.",
        "A buggy server or proxy interleaving two replies.",
        "Every line of a multi-line reply must repeat the same code.",
        "RFC 5321 §4.2.1"),
    FindingSpec(
        "protocol.malformed-reply", E, "Malformed reply line",
        "A server line does not start with a three-digit code (2-5, 0-5, 0-9) followed "
        "by a space, hyphen or the line end.",
        "A server or proxy bug, a non-SMTP service on the port, or lost bytes.",
        "Fix the server so that every reply line follows the Reply-line grammar.",
        "RFC 5321 §4.2"),
    FindingSpec(
        "protocol.command-too-long", W, "Command line over 512 octets",
        "A command line is longer than 512 octets including CRLF.",
        "Very long addresses or parameters, or a buffer-overflow probe.",
        "Keep command lines within 512 octets (servers may accept more after EHLO "
        "extensions, but must not rely on it).",
        "RFC 5321 §4.5.3.1.4"),
    FindingSpec(
        "protocol.reply-too-long", I, "Reply line over 512 octets",
        "A reply line is longer than 512 octets including CRLF.",
        "A server with very long texts.",
        "Keep reply lines within 512 octets.",
        "RFC 5321 §4.5.3.1.5"),
    FindingSpec(
        "protocol.out-of-sequence", W, "Command out of sequence",
        "A command came where the SMTP state does not allow it: MAIL before EHLO/HELO, "
        "RCPT before MAIL, DATA without an accepted RCPT, MAIL inside a transaction.",
        "A client that ignores failed replies, or scripts written by hand.",
        "Follow the order EHLO, MAIL, RCPT..., DATA; after a failure send RSET.",
        "RFC 5321 §3.3, §4.1.4"),
    FindingSpec(
        "protocol.unmatched-reply", W, "Reply without a command",
        "The server sent a reply that no pending command was waiting for.",
        "Lost client bytes, a server that replies twice, or a receiver that saw more "
        "commands than this analysis (e.g. it accepted a smuggled end of data).",
        "Compare with the server's log; if smuggling findings exist in the session, "
        "treat the server as vulnerable.",
        "RFC 5321 §4.2; RFC 2920 §3.2"),
    FindingSpec(
        "protocol.no-reply", W, "Command without a reply",
        "The connection ended while a command was still waiting for its reply.",
        "A server that stopped answering, a cut connection, or a one-sided capture.",
        "Check the server for crashes or timeouts.",
        "RFC 5321 §4.2, §4.5.3.2"),
    FindingSpec(
        "protocol.no-quit", I, "Connection closed without QUIT",
        "The session ended without a QUIT command and 221 reply.",
        "Clients that drop the connection after the last message; timeouts; aborted "
        "sessions.",
        "Send QUIT and wait for 221 before closing.",
        "RFC 5321 §4.1.1.10, §3.8"),
    FindingSpec(
        "protocol.unknown-command", I, "Unknown command",
        "The client sent a line that is not a known SMTP command.",
        "Typos, non-SMTP clients (HTTP on port 25), or message text read as commands.",
        "Send only commands the server supports (check its EHLO reply).",
        "RFC 5321 §4.1, §4.2.4"),
    FindingSpec(
        "protocol.smtputf8-without-8bitmime", W, "SMTPUTF8 without 8BITMIME",
        "The server advertised SMTPUTF8 but not 8BITMIME; a server offering SMTPUTF8 "
        "must also offer 8BITMIME.",
        "A misconfigured server.",
        "Advertise 8BITMIME together with SMTPUTF8.",
        "RFC 6531 §3.1"),
    FindingSpec(
        "protocol.utf8-address-without-smtputf8", W, "Non-ASCII address without SMTPUTF8",
        "A MAIL or RCPT address contains non-ASCII characters, but the transaction did "
        "not use the SMTPUTF8 parameter.",
        "A client sending internationalised addresses without the extension.",
        "Use MAIL FROM:<...> SMTPUTF8 where the server advertises SMTPUTF8.",
        "RFC 6531 §3.3, §3.4"),
    FindingSpec(
        "protocol.address-too-long", W, "Address over the RFC limits",
        "A path, local-part or domain is longer than the RFC 5321 limits (256, 64, "
        "255 octets).",
        "Generated addresses (VERP, SRS) that grew too long, or a probe.",
        "Keep paths within 256 octets and local-parts within 64.",
        "RFC 5321 §4.5.3.1.1-3"),
    # ---------------------------------------------------------------- capture
    FindingSpec(
        "capture.gap", W, "Bytes missing from the capture",
        "Part of the stream was not captured; the analysis resynchronised at the next "
        "line and what fell in the gap is unknown.",
        "Packet loss at the capture point (busy sensor, small snap buffer).",
        "Capture with a larger buffer (tcpdump -B), closer to the host, or with a "
        "capture filter that keeps only SMTP.",
        "-"),
    FindingSpec(
        "capture.one-sided", I, "Only one side of the conversation was seen",
        "The capture holds only the client's or only the server's bytes; replies or "
        "commands are missing, and checks that need both sides were skipped.",
        "Asymmetric routing, a SPAN port seeing one direction, or a capture filter on "
        "one address.",
        "Capture where both directions pass.",
        "-"),
    FindingSpec(
        "capture.encrypted", I, "Encrypted session",
        "The session runs inside TLS (implicit TLS on port 465, or after STARTTLS): "
        "its content is counted, not read.",
        "Normal for submission over TLS.",
        "To see the content, analyze a decrypted capture or the server's log.",
        "RFC 8314 §3; RFC 3207"),
    FindingSpec(
        "capture.overlap-conflict", W, "Retransmission with different content",
        "Two TCP segments covered the same sequence numbers with different bytes; the "
        "first copy was kept.",
        "Evasion attempts against IDSs, or broken middleboxes.",
        "Investigate the path; receivers may have used the other copy.",
        "RFC 9293 §3.10.7.4"),
    FindingSpec(
        "capture.midstream", I, "Capture started mid-connection",
        "The connection's start (SYN) was not captured; the analysis started at the "
        "first line it could read.",
        "The capture began after the connection opened.",
        "Start the capture before the sessions you want to see.",
        "-"),
    FindingSpec(
        "capture.memcap-closed", W, "Connection closed to keep within the memory budget",
        "All open connections share one memory budget (--memcap, default 512M). Over it, "
        "the least recently active ones are closed early, as if the capture ended for "
        "them: this session stops there (a message in progress is incomplete), and "
        "whatever its connection sent later is read as a new session, mid-stream.",
        "Very many connections open at once: a SYN flood or port scan, thousands of "
        "clients stalled inside DATA (a slow-send attack), a busy server whose "
        "connections never close; or a budget set too low for the capture.",
        "Analyse again with a larger budget (--memcap 4G) where the memory is there, or "
        "filter the capture down to the hosts of interest first (tcpdump -r in.pcap "
        "-w out.pcap 'host 192.0.2.25').",
        "-"),
    # ---------------------------------------------------------------- mail logs
    FindingSpec(
        "log.lost-connection", W, "Connection lost during the session",
        "The mail log says the connection was lost (or timed out) after a given "
        "command.",
        "Network trouble, a client that gave up, or a smuggling/pipelining probe "
        "(after DATA or END-OF-MESSAGE).",
        "Look at the command it was lost after: after DATA or in the message, check "
        "for size limits and timeouts.",
        "RFC 5321 §4.5.3.2"),
    FindingSpec(
        "log.tls-failed", W, "TLS negotiation failed",
        "The mail log reports a failed TLS handshake or TLS library error.",
        "Protocol or cipher mismatch, an expired certificate, or a scanner.",
        "Compare the TLS versions and ciphers both sides allow; renew certificates.",
        "RFC 3207; RFC 8314"),
    FindingSpec(
        "log.rejected", I, "Command rejected",
        "The mail log reports a rejected command (relay denied, unknown user, policy "
        "rejection) with its reply code.",
        "Normal for spam and mistyped addresses; many at once may be an attack or a "
        "misconfiguration.",
        "Read the reply text and the restriction that rejected it.",
        "RFC 5321 §4.2"),
    FindingSpec(
        "log.sasl-backend-fault", E, "Authentication back-end unavailable",
        "The server could not check the client's credentials: its SASL back-end "
        "(Dovecot auth, saslauthd, an LDAP or SQL directory) did not answer, so AUTH "
        "failed whatever the client sent. A server fault, not the client's failure: it "
        "does not count as a failed or guessed password.",
        "Postfix 'SASL LOGIN authentication failed: Connection lost to authentication "
        "server' or 'generic failure' after 'cannot connect to saslauthd server'; Exim "
        "'435 Unable to authenticate at present'.",
        "Check that dovecot-auth or saslauthd runs and that the MTA can reach its socket "
        "(Postfix smtpd_sasl_path and the chroot column of master.cf; Exim's "
        "authenticator server_socket), then the back-end's own log.",
        "RFC 4954 §6 (454 4.7.0 temporary authentication failure)"),
    FindingSpec(
        "log.too-many-errors", W, "Session ended after too many errors",
        "The server counted too many errors in the session (refused recipients, bad "
        "commands, failed AUTH) and closed the connection.",
        "Dictionary attacks on recipients or passwords, a broken client, or a scanner; "
        "Postfix smtpd_hard_error_limit, Exim smtp_max_synprot_errors.",
        "Look at the errors before it; if the client is legitimate, fix its addresses "
        "or credentials, otherwise block it (postscreen, fail2ban).",
        "RFC 5321 §4.3.2; RFC 5321 §7.8"),
    FindingSpec(
        "log.rate-limited", W, "Client over a rate limit",
        "The server refused the client because it went over a connection, message or "
        "recipient rate limit (Postfix anvil limits).",
        "Bulk senders, a mail loop, a misbehaving client or a brute-force run.",
        "If the client is legitimate, raise its limit or list it in "
        "smtpd_client_event_limit_exceptions; otherwise the limit did its job.",
        "RFC 5321 §4.5.3.2 (421 or 450 replies)"),
    FindingSpec(
        "log.secret-in-log", E, "Credentials written into a log file",
        "The log file holds AUTH data a reader can turn back into a password or token: "
        "a client debug log (smtplib, swaks, curl, PHPMailer) records the Base64 AUTH "
        "lines, and Postfix with debug_peer_level >= 2 writes the decoded SASL response "
        "('xsasl_cyrus_server_next: decoded response: ...') in clear text; some servers "
        "quote the failed command with its Base64 (Courier's 'cmd: AUTH PLAIN ...'), and "
        "Haraka at loglevel protocol logs every AUTH line. Anyone who can read the log, "
        "its backups or the ticket it was pasted into has the secret.",
        "Debug logging left on (Postfix debug_peer_list / -v, smtplib set_debuglevel, "
        "swaks, curl -v, PHPMailer SMTPDebug, Haraka loglevel protocol) while real accounts "
        "authenticate; a server that logs failed commands whole (Courier).",
        "Turn the debug level down (Postfix: remove the peer from debug_peer_list or "
        "lower debug_peer_level; Haraka: loglevel info), restrict who can read the mail "
        "log of a server that quotes AUTH commands, purge the log and its rotated copies "
        "and backups, and change the passwords of the accounts it shows.",
        "RFC 4954 §4, §9 (Base64 is an encoding, not a protection); RFC 6331"),
    FindingSpec(
        "log.read-by-guess", I, "Transcript read by guessing its layout",
        "The input matched no known format; smtplens found SMTP in it by learning the "
        "per-line prefix (timestamps, logger names) and the direction markers ('C:'/'S:', "
        "'-->'/'<--', 'Sent:'/'Got:', none), or by telling replies from commands by "
        "their content. The detail says the prefix, the markers and how many lines were "
        "read. Line ends and exact bytes are not known, so findings that need them are "
        "not decided.",
        "SMTP debug output pasted from a program smtplens has no reader for (a mail "
        "library behind an application logger, a mobile client's logcat, a telnet "
        "session).",
        "Check that the commands and replies shown match the log; for exact-byte checks "
        "use a packet capture or a format smtplens knows (--input-format).",
        "RFC 5321 §4.1, §4.2 (command and reply syntax)"),
    # ------------------------------------------------- across sessions (smtplens audit)
    FindingSpec(
        "audit.password-guessing", E, "Password guessing from one client",
        "One client address failed AUTH many times within a short window, across "
        "sessions (and files): the pattern fail2ban's postfix-sasl filter bans (by "
        "default 5 failures in 10 minutes).",
        "A brute-force bot or credential stuffing; sometimes one misconfigured client "
        "retrying a stale password.",
        "Block or rate-limit the address (fail2ban, Postfix anvil smtpd_client_auth_rate_"
        "limit), require TLS and strong passwords; if it is your own client, fix its "
        "stored password.",
        "RFC 4954 §4 (servers may limit failed attempts), §9"),
    FindingSpec(
        "audit.password-spraying", E, "Password spraying: one client, many users",
        "One client address failed AUTH for many distinct user names within the "
        "window: a few passwords tried against many accounts.",
        "A spraying bot working through a list of addresses or common user names.",
        "Block the address; check the listed accounts for weak passwords; enable "
        "lockout or rate limits per client.",
        "RFC 4954 §4, §9"),
    FindingSpec(
        "audit.distributed-guessing", E, "Distributed guessing: one user, many clients",
        "AUTH for one user failed from many distinct client addresses within the "
        "window: a botnet shares the work so that no single address trips a limit.",
        "A botnet guessing the password of a known account.",
        "Protect the account itself (a strong, changed password; an app password or "
        "OAuth; per-account failure limits), not only per-address bans.",
        "RFC 4954 §4, §9"),
    FindingSpec(
        "audit.guessed-password", E, "Success after many failures: a guessed password",
        "A client address that had failed AUTH many times then authenticated "
        "successfully: the password was probably guessed.",
        "A brute-force bot that found the password; less often a user who finally typed "
        "it right.",
        "Treat the account as compromised: change its password, revoke its sessions, "
        "look at what the client sent after authenticating, and block the address.",
        "RFC 4954 §4, §9"),
    FindingSpec(
        "audit.broken-client", W, "The same client software keeps breaking SMTP",
        "The same client (address, EHLO name, user agent) showed the same protocol "
        "fault in several sessions: unterminated messages, unstuffed dots or bare LF "
        "line endings. One session may be an accident; many are a bug in the software.",
        "A hand-written script or an old library that writes the message without "
        "dot-stuffing or with Unix line endings, or that drops the connection mid-message.",
        "Find the software by its EHLO name and user agent and fix or replace it: "
        "dot-stuff (RFC 5321 §4.5.2), send CRLF, end DATA with <CRLF>.<CRLF>.",
        "RFC 5321 §4.5.2, §2.3.8, §4.1.1.4"),
    FindingSpec(
        "audit.smuggling-accepted", E, "Server accepted a smuggled message",
        "The server answered the commands hidden after a non-standard end-of-data "
        "sequence as if they had been sent on their own: it took <LF>.<LF> (or a "
        "similar sequence) as the end of the message, so it is open to SMTP smuggling.",
        "An unpatched MTA (Postfix before 3.8.4 without smtpd_forbid_bare_newline, "
        "sendmail without srv_features 'o', Exim before 4.97.1) probed or exploited "
        "through a relay that passes bare LF.",
        "Upgrade the server and turn on bare-newline rejection (Postfix "
        "smtpd_forbid_bare_newline = normalize or reject).",
        "RFC 5321 §4.1.1.4, §2.3.8; CVE-2023-51764/51765/51766"),
    FindingSpec(
        "audit.auth-before-tls", W, "Server offers AUTH before TLS",
        "The server's clear-text EHLO reply offers AUTH while it also offers STARTTLS: "
        "a client may send its password before starting TLS.",
        "Default configurations (Postfix without smtpd_tls_auth_only = yes, Exim "
        "without auth_advertise_hosts limited to TLS).",
        "Offer AUTH only after STARTTLS (Postfix smtpd_tls_auth_only = yes; Exim "
        "auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}), or use implicit TLS "
        "on 465.",
        "RFC 3207 §4.2; RFC 4954 §4; RFC 8314 §3"),
    FindingSpec(
        "audit.starttls-stripped", E, "STARTTLS missing for some clients",
        "The same server offered STARTTLS to some clients and not to others: something "
        "between them removed it from the EHLO reply (STARTTLS stripping), or the "
        "server's TLS setting differs per client.",
        "A middlebox or firewall with SMTP 'fixup' that removes STARTTLS, an attacker "
        "on the path, or a per-network TLS policy.",
        "Look at the path of the clients that did not see it; enforce TLS with MTA-STS "
        "(RFC 8461) or DANE (RFC 7672) so clients refuse a session without it.",
        "RFC 3207 §6 (man-in-the-middle removal of STARTTLS); RFC 8461"),
]

CATALOG: dict[str, FindingSpec] = {spec.id: spec for spec in _SPECS}


def spec(finding_id: str) -> FindingSpec:
    """The catalog entry for ``finding_id`` (KeyError for unknown ids)."""
    return CATALOG[finding_id]


def all_specs() -> list[FindingSpec]:
    """Every entry, in catalog order (families grouped)."""
    return list(_SPECS)
