#!/bin/sh
# Regenerate samples/exim-syslog.log: Exim 4.96 (Debian 12 exim4-daemon-heavy) logging to
# syslog (log_file_path = syslog) through rsyslog, in a chroot copy of the minimal Debian
# root (Exim conflicts with the Postfix the Postfix samples need on the host):
#
#   cp -a /tmp/roots/base /tmp/roots/exim && mount --bind /proc /tmp/roots/exim/proc
#   chroot /tmp/roots/exim apt-get install -y exim4-daemon-heavy rsyslog
#   sudo sh samples/make_exim_syslog_samples.sh       (from the repository root)
#
# The Exim configuration (written below): port 2760, AUTH offered only to
# 127.0.0.2, smtp_max_synprot_errors = 2, a DROP ACL for drop@example.test, sender
# verification against a router that fails unknown local parts. The sessions are driven
# from the host with the venv's Python (fake credentials: alice@example.test / s3cret!):
# an AUTH failure and a success from 127.0.0.2; from 127.0.0.1 AUTH where it was not
# advertised, too many syntax errors, a sender verify failure and a DROP.
# rsyslog writes the traditional format ("Dec  2 05:50:01 mx exim[123]: 2026-12-02
# 05:50:01 ...", Exim's own time after the syslog tag: syslog_timestamp = true).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-$HERE/../.venv/bin/python}
R=${ROOT:-/tmp/roots/exim}
cat > "$R/etc/exim4/smtplens.conf" <<'CONF'
# Exim 4.96 configuration for samples/make_exim_syslog_samples.sh (see there)
primary_hostname = mx.example.test
daemon_smtp_ports = 2760
local_interfaces = 127.0.0.1
log_file_path = syslog
syslog_timestamp = true
syslog_processname = exim
syslog_duplication = false
log_selector = +smtp_connection +incoming_port +incoming_interface +smtp_protocol_error +smtp_syntax_error
smtp_max_synprot_errors = 2
# AUTH is offered only to 127.0.0.2: 127.0.0.1 gets "AUTH command used when not advertised"
auth_advertise_hosts = 127.0.0.2
acl_smtp_rcpt = acl_rcpt
host_lookup = !*
rfc1413_hosts =
never_users = root
exim_user = Debian-exim
exim_group = Debian-exim

begin acl
acl_rcpt:
  drop    recipients = drop@example.test
          message = go away
  deny    !verify = sender
  accept  authenticated = *
  accept  domains = example.test
  deny    message = relay not permitted

begin routers
unknown:
  driver = redirect
  domains = example.test
  local_parts = ! alice : ! bob : ! drop
  allow_fail
  data = :fail: Unknown user
deliver:
  driver = accept
  transport = devnull

begin transports
devnull:
  driver = appendfile
  file = /dev/null
  user = Debian-exim

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and{{eq{$auth2}{alice@example.test}}{eq{$auth3}{s3cret!}}}}
  server_set_id = $auth2
login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and{{eq{$auth1}{alice@example.test}}{eq{$auth2}{s3cret!}}}}
  server_set_id = $auth1
CONF
echo /etc/exim4/smtplens.conf > "$R/etc/exim4/trusted_configs"
cat > "$R/etc/rsyslog-smtplens.conf" <<'CONF'
global(localHostname="mx")
module(load="imuxsock" SysSock.Name="/dev/log")
mail.* action(type="omfile" file="/var/log/exim-syslog.log" template="RSYSLOG_TraditionalFileFormat")
CONF
rm -f "$R/var/log/exim-syslog.log" "$R/run/rsyslogd.pid"
chroot "$R" rsyslogd -f /etc/rsyslog-smtplens.conf -i /run/rsyslogd.pid
sleep 1
chroot "$R" exim4 -C /etc/exim4/smtplens.conf -bd -oX 2760 -oP /run/exim-smtplens.pid
sleep 1
"$PY" - <<'PYEOF'
import base64, smtplib, socket, time

def client(src):
    return smtplib.SMTP("127.0.0.1", 2760, local_hostname="client.example.test",
                        source_address=(src, 0), timeout=10)

def raw(src, lines):
    s = socket.create_connection(("127.0.0.1", 2760), source_address=(src, 0))
    f = s.makefile("rb")
    f.readline()
    for line in lines:
        s.sendall(line + b"\r\n")
        reply = f.readline()
        while reply[3:4] == b"-":
            reply = f.readline()
        if not reply:
            break
    s.close()

# 127.0.0.2: AUTH offered; a wrong password, then the right one and a message
s = client("127.0.0.2"); s.ehlo()
try:
    s.login("alice@example.test", "wrong-password")
except smtplib.SMTPException:
    pass
s.login("alice@example.test", "s3cret!")
s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: hi\r\n\r\nhello\r\n")
s.quit()
# 127.0.0.1: AUTH where it was not advertised (the initial response is logged)
token = base64.b64encode(b"\0alice@example.test\0s3cret!")
raw("127.0.0.1", [b"EHLO client.example.test", b"AUTH PLAIN " + token, b"QUIT"])
# too many syntax or protocol errors
raw("127.0.0.1", [b"EHLO client.example.test", b"XYZZY", b"MAIL FROM:<bad address",
                  b"FOO", b"BAR", b"QUIT"])
# sender verification fails
raw("127.0.0.1", [b"EHLO client.example.test", b"MAIL FROM:<nosuch@example.test>",
                  b"RCPT TO:<bob@example.test>", b"QUIT"])
# DROP in the RCPT ACL
raw("127.0.0.1", [b"EHLO client.example.test", b"MAIL FROM:<carol@example.test>",
                  b"RCPT TO:<drop@example.test>", b"QUIT"])
time.sleep(1)
PYEOF
kill "$(cat "$R/run/exim-smtplens.pid")"
sleep 1
kill "$(cat "$R/run/rsyslogd.pid")"
sleep 1
grep ' exim\[' "$R/var/log/exim-syslog.log" > "$HERE/exim-syslog.log"
wc -l "$HERE/exim-syslog.log"
