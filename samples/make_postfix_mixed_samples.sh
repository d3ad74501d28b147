#!/bin/sh
# Regenerate samples/postfix-mixed.log and samples/postscreen.log from a real Postfix.
#
# Needs root and the Debian packages postfix, libsasl2-modules and sasl2-bin on the host
# (installed with debconf "No configuration"; this script writes /etc/postfix itself and
# must not run on a host whose Postfix serves mail). What it sets up:
#
#   127.0.0.1:2750  smtpd  (Cyrus SASL, sasldb; debug_peer_list = 127.0.0.2)
#   127.0.0.1:2751  smtps  (implicit TLS, self-signed cert: postfix/smtps/smtpd)
#   127.0.0.1:2753  smtpd  whose SASL back-end is saslauthd, which is not running
#                          ("SASL LOGIN authentication failed: generic failure")
#   127.0.0.1:2754  smtpd  with anvil rate limits (connection and message rate)
#   127.0.0.1:2752  postscreen (PREGREET, HANGUP, PASS NEW, COMMAND PIPELINING)
#
# Logging goes to maillog_file (postlogd), no syslog daemon needed. The sessions are
# driven by samples/drive_postfix_mixed.py (the venv's smtplib and raw sockets): clients
# bound to 127.0.0.2 get debug transcript lines, clients on 127.0.0.1 only the summary.
# Credentials are fake: alice@example.test / s3cret!
#
#   sudo sh samples/make_postfix_mixed_samples.sh      (from the repository root)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-$HERE/../.venv/bin/python}
LOG=/var/log/postfix-smtplens.log

postfix stop >/dev/null 2>&1 || true
mkdir -p /etc/postfix/sasl
cat > /etc/postfix/main.cf <<'EOF'
compatibility_level = 3.6
myhostname = mx.example.test
mydomain = example.test
myorigin = $mydomain
mydestination = example.test, localhost
mynetworks = 192.0.2.250/32
inet_interfaces = loopback-only
inet_protocols = ipv4
local_recipient_maps =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
maillog_file = /var/log/postfix-smtplens.log
debug_peer_list = 127.0.0.2
debug_peer_level = 2
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_security_options = noanonymous
broken_sasl_auth_clients = no
smtpd_recipient_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_soft_error_limit = 2
smtpd_hard_error_limit = 3
smtpd_error_sleep_time = 0
smtpd_tls_cert_file = /etc/postfix/smtplens-cert.pem
smtpd_tls_key_file = /etc/postfix/smtplens-key.pem
smtpd_tls_loglevel = 1
smtpd_tls_security_level = may
anvil_status_update_time = 20s
postscreen_greet_action = enforce
postscreen_pipelining_enable = yes
postscreen_pipelining_action = enforce
postscreen_greet_wait = 2s
postscreen_cache_map = btree:$data_directory/postscreen_cache
EOF
cat > /etc/postfix/master.cf <<'EOF'
127.0.0.1:2750 inet  n - n - - smtpd
127.0.0.1:2751 inet  n - n - - smtpd -o syslog_name=postfix/smtps -o smtpd_tls_wrappermode=yes
127.0.0.1:2753 inet  n - n - - smtpd -o syslog_name=postfix/backend -o smtpd_sasl_path=smtpd-down
127.0.0.1:2754 inet  n - n - - smtpd -o syslog_name=postfix/limited
  -o smtpd_client_connection_rate_limit=2 -o smtpd_client_message_rate_limit=1
  -o smtpd_client_event_limit_exceptions=
127.0.0.1:2752 inet  n - n - 1 postscreen
smtpd      pass  - - n - - smtpd
dnsblog    unix  - - n - 0 dnsblog
tlsproxy   unix  - - n - 0 tlsproxy
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
local      unix  - n n - - local
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n' \
    > /etc/postfix/sasl/smtpd.conf
# the back-end fault: saslauthd is named but not running
printf 'pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\n' > /etc/postfix/sasl/smtpd-down.conf
[ -f /etc/postfix/smtplens-cert.pem ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
    -subj /CN=mx.example.test -keyout /etc/postfix/smtplens-key.pem \
    -out /etc/postfix/smtplens-cert.pem >/dev/null 2>&1
echo 's3cret!' | saslpasswd2 -p -c -u example.test alice
chgrp postfix /etc/sasldb2 && chmod 640 /etc/sasldb2
rm -f "$LOG"
postfix check
postfix start
sleep 2
"$PY" "$HERE/drive_postfix_mixed.py"
sleep 25   # anvil writes its statistics every anvil_status_update_time
postfix stop
sleep 1
# the postscreen lines (and what they pass to smtpd) go to their own sample; the bulk of
# debug_peer_level 2's internal tracing (attribute exchanges with other daemons, address
# rewriting, restriction evaluation) is dropped to keep the sample a few KB: every
# protocol line ("< ", "> ") and every summary line is kept as Postfix wrote it
TRACE='input attribute|send attr|wanted attribute|connect to subsystem|rewrite|resolve_clnt'
TRACE="$TRACE|ctable_|maps_find|generic_checks|>>> |extract_addr|fsspace|permit_|reject_unauth"
TRACE="$TRACE|smtpd_check|smtpd_acl|mail_addr_find|auto_clnt|input_transp|match_string"
TRACE="$TRACE|private/|public/|match_|watchdog_pat|name_mask|sasl_mech_filter|smtp_stream_setup|xsasl_cyrus_server_(first|create)"
grep -v 'postfix/postscreen\|postfix/dnsblog\|\[127\.0\.0\.3\]' "$LOG" \
    | grep -Ev "postfix/[a-z/]*smtpd\[[0-9]+\]: ($TRACE)" > "$HERE/postfix-mixed.log"
grep 'postfix/postscreen\|\[127\.0\.0\.3\]' "$LOG" > "$HERE/postscreen.log"
wc -l "$HERE/postfix-mixed.log" "$HERE/postscreen.log"
