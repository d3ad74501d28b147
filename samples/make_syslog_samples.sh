#!/bin/sh
# Regenerate the ordinary server syslog samples from real servers (smtplens issue 13).
#
#   sudo sh samples/make_syslog_samples.sh [sendmail|courier|dovecot|qmail ...]
#   OUT=/tmp/x sh samples/make_syslog_samples.sh qmail      # write elsewhere
#
# Mail servers conflict with each other as Debian packages, so each runs in its own
# chroot copied from a minimal Debian 12 root (/tmp/roots/base, made by debootstrap),
# with /proc bound and the root's own /dev (debootstrap's nodes: no shared /dev/log, so
# each chroot's rsyslogd has its own), rsyslog writing /var/log/mail.log in the
# traditional format. The clients run on the host: samples/syslog_clients.py (Python's
# smtplib; user alice, password s3cret!, both fake). Ports 2700-2705 on 127.0.0.1.
#
#   sendmail  8.17.1.9 (Debian 8.17.1.9-2+deb12u2), Cyrus SASL 2.1.28 sasldb (PLAIN LOGIN),
#             STARTTLS with a self-signed certificate, LogLevel 10, port 2700
#             -> sendmail-maillog.log (as logged)
#   courier   Courier 1.0.16 (Debian courier-mta 1.0.16-3+b6), courier-authlib 0.71.4
#             authpam, port 2701 -> courier-maillog.log (courierd's "Waiting." and
#             "Purging" housekeeping lines left out)
#   dovecot   Dovecot 2.3.19.1 (Debian 2.3.19.1+dfsg1-2.1+deb12u6) submission on 2702,
#             passwd-file, relaying to an aiosmtpd on 2705 (samples/syslog_relay.py)
#             -> dovecot-submission.log (the master's start-up line left out)
#   qmail     ucspi-tcp 0.88 (Debian 1:0.88-7) tcpserver -v + rblsmtpd in front of
#             samples/syslog_responder.py, tcprules giving 127.0.0.2 / 127.0.0.3 an
#             RBLSMTPD text (553 / 451), tai64n from daemontools 0.76 -> the tcpserver and
#             rblsmtpd lines of qmail-rblsmtpd.log; its qmail-smtpd lines and the
#             domino-log.txt / kerio-mail.log samples are written by hand from the
#             documented layouts (commercial software / qmail not in Debian 12).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
PY=${PY:-$HERE/../.venv/bin/python}
ROOTS=/tmp/roots
WHAT=${*:-sendmail courier dovecot qmail}

chroot_for() {  # name packages...: a chroot with the packages, /proc bound
    name=$1; shift
    R=$ROOTS/$name
    if [ ! -d "$R" ]; then
        cp -a "$ROOTS/base" "$R"
        cp /etc/resolv.conf "$R/etc/resolv.conf"
    fi
    mountpoint -q "$R/proc" || mount --bind /proc "$R/proc"
    chroot "$R" sh -c "DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $*"
    printf '127.0.0.1 localhost\n127.0.0.1 mail.example.test mail\n' > "$R/etc/hosts"
    grep -q TraditionalFileFormat "$R/etc/rsyslog.conf" ||
        sed -i '1i $ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat' "$R/etc/rsyslog.conf"
    sed -i 's/^module(load="imklog"/#&/' "$R/etc/rsyslog.conf"  # no kernel log in a chroot
    chroot "$R" sh -c 'id alice >/dev/null 2>&1 || useradd -m alice
        [ -f /run/rsyslogd.pid ] && kill "$(cat /run/rsyslogd.pid)" 2>/dev/null; sleep 1
        rm -f /var/log/mail.log; rsyslogd'
}

sendmail_sample() {
    chroot_for sendmail sendmail sasl2-bin rsyslog
    R=$ROOTS/sendmail
    cat > "$R/etc/mail/sendmail.mc" <<'EOF'
divert(-1)dnl
divert(0)dnl
define(`_USE_ETC_MAIL_')dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`smtplens sample config: sendmail on 127.0.0.1:2700')
OSTYPE(`debian')dnl
DOMAIN(`debian-mta')dnl
undefine(`confHOST_STATUS_DIRECTORY')dnl
FEATURE(`no_default_msa')dnl
DAEMON_OPTIONS(`Family=inet,  Name=MTA-v4, Port=2700, Addr=127.0.0.1')dnl
define(`confLOG_LEVEL', `10')dnl
define(`confPRIVACY_FLAGS', `authwarnings,needmailhelo')dnl
define(`confTO_IDLE', `20s')dnl
define(`confTO_COMMAND', `20s')dnl
define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl
TRUST_AUTH_MECH(`PLAIN LOGIN')dnl
define(`confAUTH_OPTIONS', `A')dnl
define(`confCACERT_PATH', `/etc/mail/tls')dnl
define(`confCACERT', `/etc/mail/tls/cert.pem')dnl
define(`confSERVER_CERT', `/etc/mail/tls/cert.pem')dnl
define(`confSERVER_KEY', `/etc/mail/tls/key.pem')dnl
FEATURE(`use_cw_file')dnl
FEATURE(`access_db')dnl
FEATURE(`blocklist_recipients')dnl
MAILER_DEFINITIONS
MAILER(`local')dnl
MAILER(`smtp')dnl
EOF
    printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n' \
        | tee "$R/etc/mail/sasl/Sendmail.conf" > /dev/null
    mkdir -p "$R/etc/sasl2"; cp "$R/etc/mail/sasl/Sendmail.conf" "$R/etc/sasl2/"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mail.example.test \
        -keyout "$R/etc/mail/tls/key.pem" -out "$R/etc/mail/tls/cert.pem" 2>/dev/null
    chmod 600 "$R/etc/mail/tls/key.pem"
    chroot "$R" sh -c '
        echo "s3cret!" | saslpasswd2 -p -c -u mail.example.test alice
        chown root:smmsp /etc/sasldb2; chmod 640 /etc/sasldb2
        echo mail.example.test >> /etc/mail/local-host-names
        printf "To:blocked.example.test\tERROR:5.7.1:550 Relaying to blocked.example.test is denied\n" > /etc/mail/access
        make -C /etc/mail >/dev/null 2>&1
        [ -f /run/sendmail/mta/sendmail.pid ] && kill "$(head -1 /run/sendmail/mta/sendmail.pid)"; sleep 1
        /usr/sbin/sendmail-mta -L sm-mta -bd -q1h; sleep 2; : > /var/log/mail.log'
    python3 "$HERE/syslog_clients.py" 2700 mail.example.test --user=alice@mail.example.test
    sleep 2
    cp "$R/var/log/mail.log" "$OUT/sendmail-maillog.log"
}

courier_sample() {
    chroot_for courier courier-mta courier-authdaemon rsyslog
    R=$ROOTS/courier
    sed -i 's/^PORT=smtp/PORT=2701/; s/^ESMTPAUTH=""/ESMTPAUTH="PLAIN LOGIN"/;
            s/^ESMTPAUTH_TLS=""/ESMTPAUTH_TLS="PLAIN LOGIN"/; s/^TARPIT=1/TARPIT=0/;
            s/^BOFHCHECKDNS=1/BOFHCHECKDNS=0/' "$R/etc/courier/esmtpd"
    for f in me defaultdomain locals; do echo mail.example.test > "$R/etc/courier/$f"; done
    chroot "$R" sh -c 'echo "alice:s3cret!" | chpasswd
        /etc/init.d/courier-authdaemon restart; /etc/init.d/courier-mta restart
        /etc/init.d/courier restart; sleep 2; : > /var/log/mail.log'
    python3 "$HERE/syslog_clients.py" 2701 mail.example.test --no-timeout
    sleep 2
    grep -v 'courierd: Waiting\.\|courierd: Purging' "$R/var/log/mail.log" \
        > "$OUT/courier-maillog.log"
}

dovecot_sample() {
    chroot_for dovecot dovecot-core dovecot-submissiond rsyslog
    R=$ROOTS/dovecot
    cat > "$R/etc/dovecot/dovecot.conf" <<'EOF'
# smtplens sample config: Dovecot submission on 127.0.0.1:2702, relaying to 127.0.0.1:2705
protocols = submission
listen = 127.0.0.1
hostname = mail.example.test
syslog_facility = mail
auth_verbose = yes
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = yes
ssl_cert = </etc/dovecot/private/dovecot.pem
ssl_key = </etc/dovecot/private/dovecot.key
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u /etc/dovecot/users
}
userdb {
  driver = static
  args = uid=1000 gid=1000 home=/home/%u
}
service submission-login {
  inet_listener submission {
    port = 2702
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = 2705
submission_relay_trusted = yes
mail_location = maildir:~/Maildir
EOF
    echo 'alice:{PLAIN}s3cret!' > "$R/etc/dovecot/users"
    "$PY" "$HERE/syslog_relay.py" 2705 & relay=$!
    chroot "$R" sh -c 'doveadm stop 2>/dev/null; sleep 1; dovecot; sleep 2; : > /var/log/mail.log'
    python3 "$HERE/syslog_clients.py" 2702 example.test --no-timeout --auth-all
    sleep 2
    kill "$relay"
    grep -v 'dovecot: master: ' "$R/var/log/mail.log" > "$OUT/dovecot-submission.log"
}

qmail_sample() {
    dir=$(mktemp -d)
    printf '%s\n' \
        '127.0.0.2:allow,RBLSMTPD="-You are listed in rbl.example.test: see http://rbl.example.test/"' \
        '127.0.0.3:allow,RBLSMTPD="Temporarily blocked: try again later"' \
        ':allow,RBLSMTPD=""' > "$dir/rules.txt"
    tcprules "$dir/rules.cdb" "$dir/rules.tmp" < "$dir/rules.txt"
    mkfifo "$dir/fifo"
    tai64n < "$dir/fifo" > "$dir/raw.log" &
    tcpserver -v -R -H -x "$dir/rules.cdb" 127.0.0.1 2703 rblsmtpd -r rbl.example.test \
        python3 "$HERE/syslog_responder.py" > "$dir/fifo" 2>&1 & server=$!
    sleep 1
    python3 - <<'EOF'
import smtplib, socket, time
def sess(src):  # MAIL, RCPT, DATA from a loopback source address
    s = smtplib.SMTP(local_hostname="client.example.test", timeout=30, source_address=(src, 0))
    s.connect("127.0.0.1", 2703)
    try:
        s.ehlo(); s.mail("alice@example.test"); s.rcpt("bob@example.test")
        s.data(b"Subject: hi\r\n\r\nhello\r\n"); s.quit()
    except smtplib.SMTPException:
        try: s.quit()
        except Exception: pass
sess("127.0.0.1"); time.sleep(1)
sess("127.0.0.2"); time.sleep(1)   # rblsmtpd: 553
sess("127.0.0.3"); time.sleep(1)   # rblsmtpd: 451
r = socket.create_connection(("127.0.0.1", 2703)); r.recv(100); r.close(); time.sleep(1)
sess("127.0.0.1"); time.sleep(1)
EOF
    kill "$server"
    sleep 1
    echo "raw tcpserver/rblsmtpd log: $dir/raw.log (the sample adds documented" \
         "qmail-smtpd lines and a header by hand)"
}

for w in $WHAT; do "${w}_sample"; done
