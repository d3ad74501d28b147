"""Proxy tunnels that SMTP is often seen through: how long their set-up is.

Spam bots and some mail clients reach the SMTP server through a proxy; the capture then
shows a connection to the proxy that starts with the tunnel set-up and goes on with
plain SMTP. :func:`preamble` measures that set-up on the first bytes each side sent,
so detection can look for SMTP right after it and the streams can start there:

* HTTP CONNECT (RFC 9110 §9.3.6): a ``CONNECT host:port`` request head, a 2xx response
  head, each ended by an empty line;
* SOCKS 5 (RFC 1928 §3-§6) with no authentication or username/password (RFC 1929 §2);
* SOCKS 4 and 4a (the 1992 "SOCKS: A protocol for TCP proxy across firewalls" memo, and
  its 4A extension): an 8-byte request, a user id and maybe a host name, each
  NUL-ended; an 8-byte reply with code 90 (0x5A, granted).

Each parser answers ``(client bytes, server bytes)`` of set-up, ``None`` when more bytes
are needed to tell, or ``False`` when the bytes are not that tunnel (or it was refused).
"""

from __future__ import annotations

Verdict = tuple[int, int] | None | bool

_END_OF_HEAD = b"\r\n\r\n"


def preamble(client: bytes, server: bytes) -> tuple[int, int] | bool | None:
    """The tunnel set-up lengths at the start of ``client`` and ``server`` bytes."""
    if client.startswith(b"CONNECT "):
        return _http_connect(client, server)
    if b"CONNECT ".startswith(client):
        return None  # (also when nothing was sent yet)
    first = client[0]
    if first == 5:
        return _socks5(client, server)
    if first == 4:
        return _socks4(client, server)
    return False


def _http_connect(client: bytes, server: bytes) -> Verdict:
    cend = client.find(_END_OF_HEAD)
    if cend < 0:
        return None
    if len(server) < 12:  # "HTTP/1.1 200"
        return None if b"HTTP/1.".startswith(server[:7]) else False
    if not server.startswith(b"HTTP/1.") or server[8:10] != b" 2":
        return False  # not HTTP, or the proxy refused the tunnel
    send = server.find(_END_OF_HEAD)
    if send < 0:
        return None
    return cend + 4, send + 4


def _socks_address(buf: bytes, i: int) -> int | bool | None:
    """RFC 1928 §5: length of ATYP, the address and the port at ``buf[i]``."""
    if len(buf) <= i:
        return None
    atyp = buf[i]
    if atyp == 1:
        return 1 + 4 + 2
    if atyp == 4:
        return 1 + 16 + 2
    if atyp == 3:  # a domain name with its length byte
        if len(buf) <= i + 1:
            return None
        return 1 + 1 + buf[i + 1] + 2
    return False


def _socks5(client: bytes, server: bytes) -> Verdict:
    # §3: VER NMETHODS METHODS / VER METHOD
    if len(client) < 2 or len(server) < 2:
        return None
    c = 2 + client[1]
    if server[0] != 5:
        return False
    s = 2
    if server[1] == 2:  # RFC 1929 §2: VER ULEN UNAME PLEN PASSWD / VER STATUS
        if len(client) < c + 2:
            return None
        if client[c] != 1:
            return False
        ulen = client[c + 1]
        if len(client) < c + 3 + ulen:
            return None
        c += 3 + ulen + client[c + 2 + ulen]
        if len(server) < 4:
            return None
        if server[2] != 1 or server[3] != 0:
            return False
        s = 4
    elif server[1] != 0:
        return False  # GSSAPI, or no acceptable method
    # §4: VER CMD RSV ATYP DST.ADDR DST.PORT, CMD 1 = CONNECT
    if len(client) < c + 4:
        return None
    if client[c] != 5 or client[c + 1] != 1:
        return False
    request = _socks_address(client, c + 3)
    if request is None or request is False:
        return request
    c += 3 + int(request)
    # §6: VER REP RSV ATYP BND.ADDR BND.PORT, REP 0 = succeeded
    if len(server) < s + 4:
        return None
    if server[s] != 5 or server[s + 1] != 0:
        return False
    reply = _socks_address(server, s + 3)
    if reply is None or reply is False:
        return reply
    s += 3 + int(reply)
    if len(client) < c or len(server) < s:
        return None
    return c, s


def _socks4(client: bytes, server: bytes) -> Verdict:
    # VN=4 CD=1 DSTPORT DSTIP USERID NUL [4a: host NUL when DSTIP is 0.0.0.x, x != 0]
    if len(client) < 9:
        return None
    if client[1] != 1:
        return False
    nul = client.find(b"\0", 8)
    if nul < 0:
        return None
    c = nul + 1
    if client[4:7] == b"\0\0\0" and client[7]:
        nul = client.find(b"\0", c)
        if nul < 0:
            return None
        c = nul + 1
    if len(server) < 8:
        return None
    if server[0] != 0 or server[1] != 0x5A:
        return False
    return c, 8
