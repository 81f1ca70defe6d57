#!/usr/bin/python3
"""Per-connection SMTP latency from a pcap, measured in round trips.

usage: pcap_rtt.py CAPTURE.pcap PORT [--rtt-ms MS] [--skip N] [--keylog FILE] [--json] [-q] [--timeline]

For every TCP connection to PORT in the capture (take it with tcpdump in the
*client's* network namespace, so times are what the client sees) it prints:

  * eom:   time from the client's SYN to the arrival of the server's reply to
           end-of-message (the reply to the final "." of DATA, or to
           "BDAT n LAST"), in ms and in RTTs;
  * early: EARLY if the client's first data segment carried EHLO before the
           220 banner had arrived (early pipelining / PIPECONNECT), else WAIT;
  * what the client wrote before the banner arrived (e.g. EHLO,MAIL,RCPT,BDAT);
  * first: time from the SYN to the arrival of the server's first reply (the
           banner), and syn_data: whether the SYN carried data that the
           server's SYN-ACK acknowledged (TCP Fast Open: the server took it).

The RTT is --rtt-ms if given, else the median SYN -> SYN-ACK time over the
connections in the capture (with the capture on the client side that is one
network round trip).

TLS (--keylog FILE): with STARTTLS (the client's STARTTLS line and the reply
to it end the cleartext) or TLS on connect (the client's stream starts with a
TLS record), the TLS records that follow are decrypted with the client's NSS
key log (SSLKEYLOGFILE format, as GnuTLS/Exim and OpenSSL write it; TLS 1.3
only, AES-GCM or ChaCha20-Poly1305; needs python3-cryptography) and their
application data is appended to the cleartext, so commands and replies are
matched exactly as without TLS.  A decrypted byte counts as arrived when the
last segment of its TLS record has arrived.  "early" then means: the client's
first command (cleartext EHLO, or the first application data record with TLS
on connect) was on the wire before the banner arrived.  Without --keylog, TLS
connections report no end-of-message reply (eom_ms=NA).

The two byte streams are reassembled by TCP sequence number (retransmissions
and duplicates are ignored; a byte counts as arrived when it first becomes
contiguous).  Client commands are matched to server replies by position, as
SMTP pipelining guarantees: reply 0 is the banner, reply k answers the k-th
command.  A DATA body is only assumed when the DATA reply was 354.

Output, one block per connection, each ending with a machine-readable line:
  RESULT conn=1 client=198.18.0.1:40312 early=1 eom_ms=106.2 eom_rtt=2.12 eom_code=250 body=BDAT before_banner=EHLO,MAIL,RCPT,BDAT tls=no first_ms=52.0 first_rtt=1.04 syn_data=1
(eom_ms=NA when no end-of-message reply was seen) and finally
  SUMMARY conns=N rtt_ms=.. median_eom_ms=.. median_eom_rtt=.. early=K with_eom=.. median_first_ms=.. median_first_rtt=.. syn_data=K
  (after --skip N)
--timeline also lists every segment (time from SYN, direction, flags, text);
-q prints only the RESULT and SUMMARY lines; --json prints one JSON document.  Standard library only.
Reads classic pcap (tcpdump -w), microsecond or nanosecond, any byte order;
link types Ethernet, raw IP (tun), Linux cooked v1/v2, BSD loopback.
"""
import json
import statistics
import struct
import sys


# ---------------------------------------------------------------- pcap input

def read_pcap(path):
    """Yield (time, ipv4_packet_bytes)."""
    with open(path, 'rb') as f:
        head = f.read(24)
        if len(head) < 24:
            raise SystemExit('%s: not a pcap file (too short)' % path)
        if head[:4] == b'\x0a\x0d\x0d\x0a':
            raise SystemExit('%s: pcapng is not supported; capture with tcpdump -w (pcap) or convert with editcap -F pcap' % path)
        for order in '<>':
            magic = struct.unpack(order + 'I', head[:4])[0]
            if magic in (0xA1B2C3D4, 0xA1B23C4D):
                break
        else:
            raise SystemExit('%s: not a pcap file (magic %s)' % (path, head[:4].hex()))
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack(order + 'I', head[20:24])[0] & 0x0FFFFFFF
        rec = struct.Struct(order + 'IIII')
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, caplen, _ = rec.unpack(h)
            frame = f.read(caplen)
            if len(frame) < caplen:
                return                          # truncated last record
            ip = link_payload(link, frame)
            if ip is not None:
                yield sec + frac * scale, ip


def link_payload(link, frame):
    if link == 1:                               # Ethernet (+ 802.1Q tags)
        off, etype = 12, None
        while off + 2 <= len(frame):
            etype = frame[off:off + 2]
            if etype in (b'\x81\x00', b'\x88\xa8'):
                off += 4
                continue
            break
        return frame[off + 2:] if etype == b'\x08\x00' else None
    if link in (12, 14, 101, 228):              # raw IP (tun devices)
        return frame if frame and frame[0] >> 4 == 4 else None
    if link == 113:                             # Linux cooked v1
        return frame[16:] if frame[14:16] == b'\x08\x00' else None
    if link == 276:                             # Linux cooked v2
        return frame[20:] if frame[0:2] == b'\x08\x00' else None
    if link == 0:                               # BSD loopback
        return frame[4:] if frame[:4] in (b'\x02\x00\x00\x00', b'\x00\x00\x00\x02') else None
    raise SystemExit('unsupported pcap link type %d' % link)


def tcp_segments(path):
    """Yield (t, src, sport, dst, dport, seq, ack, flags, payload) for TCP/IPv4."""
    for t, ip in read_pcap(path):
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack('>H', ip[2:4])[0] or len(ip)
        if struct.unpack('>H', ip[6:8])[0] & 0x1FFF:
            continue                            # non-first fragment
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq, ack = struct.unpack('>HHII', tcp[:12])
        doff = (tcp[12] >> 4) * 4
        yield (t, ip[12:16], sport, ip[16:20], dport, seq, ack, tcp[13], tcp[doff:])


def addr(raw, port):
    return '%d.%d.%d.%d:%d' % (raw[0], raw[1], raw[2], raw[3], port)


# ---------------------------------------------------------- stream assembly

class Stream:
    """One direction of a TCP connection, reassembled by sequence number.
    `arrivals` is a list of (stream_offset_end, time): the prefix of the byte
    stream up to that offset was available at that time."""

    def __init__(self, isn):
        self.base = (isn + 1) & 0xFFFFFFFF       # SYN takes one sequence number
        self.data = bytearray()
        self.pending = {}                       # offset -> payload (out of order)
        self.arrivals = []
        self.first_payload_t = None

    def add(self, t, seq, payload, syn=False):
        if not payload:
            return
        start = ((seq + (1 if syn else 0)) - self.base) & 0xFFFFFFFF
        if start >= 0x80000000:                 # before the stream start
            return
        if self.first_payload_t is None:
            self.first_payload_t = t
        self.pending.setdefault(start, payload)
        grew = False
        while True:
            have = len(self.data)
            best = None
            for off in list(self.pending):
                p = self.pending[off]
                if off + len(p) <= have:
                    del self.pending[off]       # duplicate / retransmission
                elif off <= have:
                    best = off
                    break
            if best is None:
                break
            p = self.pending.pop(best)
            self.data += p[have - best:]
            grew = True
        if grew:
            self.arrivals.append((len(self.data), t))

    def time_of(self, offset):
        """Time at which byte `offset` (0-based) had arrived."""
        for end, t in self.arrivals:
            if end > offset:
                return t
        return None


class Conn:
    def __init__(self, n, client, server, t_syn, isn):
        self.n, self.client, self.server = n, client, server
        self.t_syn = t_syn
        self.t_synack = None
        self.c2s = Stream(isn)
        self.s2c = None
        self.fin = False
        self.syn_len = 0                        # octets of data the SYN carried (TCP Fast Open)
        self.syn_data_acked = False             # ... and the SYN-ACK acknowledged them: the server took them
        self.events = []                        # (t, 'C>S'|'S>C', flags, payload) for --timeline


def connections(path, port):
    conns, live = [], {}
    for t, src, sp, dst, dp, seq, ackno, fl, pl in tcp_segments(path):
        syn, ack, fin, rst = fl & 0x02, fl & 0x10, fl & 0x01, fl & 0x04
        if dp == port:
            key, to_server = (src, sp, dst), True
        elif sp == port:
            key, to_server = (dst, dp, src), False
        else:
            continue
        c = live.get(key)
        if syn and not ack and to_server:
            if c is not None and c.c2s.base == (seq + 1) & 0xFFFFFFFF:
                continue                        # retransmitted SYN
            c = Conn(len(conns) + 1, addr(src, sp), addr(dst, dp), t, seq)
            conns.append(c)
            live[key] = c
            c.events.append((t, 'C>S', fl, pl))
            c.syn_len = len(pl)
            c.c2s.add(t, seq, pl, syn=True)     # TCP Fast Open data
            continue
        if c is None:
            continue                            # connection began before the capture
        c.events.append((t, 'C>S' if to_server else 'S>C', fl, pl))
        if syn and ack and not to_server:
            if c.s2c is None:
                c.t_synack = t
                c.s2c = Stream(seq)
                c.syn_data_acked = c.syn_len > 0 and ackno == (c.c2s.base + c.syn_len) & 0xFFFFFFFF
            continue
        if to_server:
            c.c2s.add(t, seq, pl)
        elif c.s2c is not None:
            c.s2c.add(t, seq, pl)
        if fin or rst:
            c.fin = True
    return conns


# ------------------------------------------------------- TLS 1.3 decryption

TLS13_SUITES = {0x1301: ('aesgcm', 16, 'sha256'), 0x1302: ('aesgcm', 32, 'sha384'),
                0x1303: ('chacha', 32, 'sha256')}


def read_keylog(path):
    keys = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and not line.startswith('#'):
                keys[(parts[0], parts[1].lower())] = bytes.fromhex(parts[2])
    return keys


def hkdf_expand_label(secret, label, length, hashname):
    import hashlib
    import hmac
    full = b'tls13 ' + label
    info = struct.pack('>H', length) + bytes([len(full)]) + full + b'\x00'
    out, block, i = b'', b'', 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), getattr(hashlib, hashname)).digest()
        out += block
        i += 1
    return out[:length]


class TlsDirection:
    """Decrypts one direction's records: handshake traffic keys first, then application traffic keys."""

    def __init__(self, suite, hs_secret, app_secret):
        kind, keylen, hashname = TLS13_SUITES[suite]
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        cls = AESGCM if kind == 'aesgcm' else ChaCha20Poly1305
        self.keys = []
        for secret in (hs_secret, app_secret):
            if secret is None:
                self.keys.append(None)
                continue
            self.keys.append((cls(hkdf_expand_label(secret, b'key', keylen, hashname)),
                              hkdf_expand_label(secret, b'iv', 12, hashname)))
        self.phase, self.seq = 0, 0

    def decrypt(self, header, body):
        """(inner content type, plaintext) or None if neither key opens the record."""
        from cryptography.exceptions import InvalidTag
        for phase in (self.phase, self.phase + 1):
            if phase > 1 or self.keys[phase] is None:
                continue
            aead, iv = self.keys[phase]
            seq = self.seq if phase == self.phase else 0
            nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, 'big')))
            try:
                plain = aead.decrypt(nonce, body, header)
            except InvalidTag:
                continue
            self.phase, self.seq = phase, seq + 1
            plain = plain.rstrip(b'\x00')
            return (plain[-1], plain[:-1]) if plain else (0, b'')
        return None


def tls_records(data, start):
    """[(header, body, end_offset)] of complete TLS records in data[start:]."""
    out, pos = [], start
    while pos + 5 <= len(data):
        length = struct.unpack('>H', data[pos + 3:pos + 5])[0]
        if pos + 5 + length > len(data):
            break
        out.append((data[pos:pos + 5], data[pos + 5:pos + 5 + length], pos + 5 + length))
        pos += 5 + length
    return out


class View:
    """A Stream-like plaintext view: cleartext prefix, then decrypted application data."""

    def __init__(self, stream, prefix_len):
        self.data = bytearray(stream.data[:prefix_len])
        self.arrivals = [(min(end, prefix_len), t) for end, t in stream.arrivals if prefix_len > 0]
        self.arrivals = [(e, t) for i, (e, t) in enumerate(self.arrivals)
                         if e > 0 and (i == 0 or self.arrivals[i - 1][0] < e)]
        self.first_payload_t = stream.first_payload_t if prefix_len > 0 else None

    def append(self, plain, t):
        if not plain:
            return
        if self.first_payload_t is None:
            self.first_payload_t = t
        self.data += plain
        self.arrivals.append((len(self.data), t))

    time_of = Stream.time_of


def tls_start(c):
    """(client_offset, server_offset) where TLS begins, or None for a cleartext connection."""
    cdata = bytes(c.c2s.data)
    if cdata[:1] == b'\x16' and cdata[1:2] == b'\x03':
        return 0, 0
    pos, n = 0, 0
    while True:
        eol = cdata.find(b'\r\n', pos)
        if eol < 0:
            return None
        n += 1
        if cdata[pos:eol].strip().upper() == b'STARTTLS':
            replies = parse_replies(c.s2c)
            if n >= len(replies) or not replies[n][0].startswith('2'):
                return None
            return eol + 2, replies[n][1]
        pos = eol + 2


def decrypt_views(c, keylog):
    """Replaces nothing; returns (client_view, server_view, tls_info) or None for cleartext."""
    start = tls_start(c)
    if start is None or c.s2c is None:
        return None
    cs, ss = start
    cdata, sdata = bytes(c.c2s.data), bytes(c.s2c.data)
    crecs, srecs = tls_records(cdata, cs), tls_records(sdata, ss)
    info = {'tls': 'starttls' if cs else 'on-connect', 'version': None, 'suite': None, 'decrypted': False}
    cview, sview = View(c.c2s, cs), View(c.s2c, ss)
    if not crecs or not srecs or crecs[0][0][0] != 22 or srecs[0][0][0] != 22:
        return cview, sview, info
    client_random = crecs[0][1][6:38].hex()
    sh = srecs[0][1]
    sid_len = sh[38]
    suite = struct.unpack('>H', sh[39 + sid_len:41 + sid_len])[0]
    info['suite'] = '0x%04x' % suite
    k = lambda label: keylog.get((label, client_random))
    if suite not in TLS13_SUITES or k('SERVER_TRAFFIC_SECRET_0') is None:
        info['version'] = 'TLS1.2 or older (not decrypted)' if k('CLIENT_RANDOM') else 'no keys in the key log'
        return cview, sview, info
    info['version'] = 'TLS1.3'
    for recs, view, stream, hs, app in (
            (crecs, cview, c.c2s, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0'),
            (srecs, sview, c.s2c, 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0')):
        d = TlsDirection(suite, k(hs), k(app))
        for header, body, end in recs:
            if header[0] != 23:
                continue                        # handshake in clear, change_cipher_spec, alerts
            r = d.decrypt(header, body)
            if r is None:
                raise SystemExit('conn %d: cannot decrypt a TLS record with the key log' % c.n)
            if r[0] == 23:
                view.append(r[1], stream.time_of(end - 1))
    info['decrypted'] = True
    return cview, sview, info


# ------------------------------------------------------------ SMTP parsing

def parse_replies(stream):
    """[(code, end_offset_exclusive, first_line)] for complete replies."""
    out, data, pos = [], bytes(stream.data) if stream else b'', 0
    first = None
    while True:
        eol = data.find(b'\r\n', pos)
        if eol < 0:
            return out
        line = data[pos:eol].decode('latin-1')
        pos = eol + 2
        if first is None:
            first = line
        if len(line) >= 4 and line[3] == '-':
            continue                            # continuation line
        out.append((line[:3], pos, first))
        first = None


def parse_commands(data, replies):
    """Walk the client stream. Returns a list of dicts:
    {verb, reply (index into replies), end (offset after the command/body), eom}."""
    cmds, pos, n = [], 0, 0
    while pos < len(data):
        eol = data.find(b'\r\n', pos)
        if eol < 0:
            break
        line = data[pos:eol].decode('latin-1')
        pos = eol + 2
        words = line.split()
        verb = words[0].upper() if words else ''
        n += 1                                  # reply 0 is the banner
        cmd = {'verb': verb, 'reply': n, 'end': pos, 'eom': False, 'body': None}
        cmds.append(cmd)
        if verb == 'BDAT' and len(words) >= 2 and words[1].isdigit():
            pos += int(words[1])
            cmd['end'] = pos
            cmd['eom'] = len(words) >= 3 and words[2].upper() == 'LAST'
            cmd['body'] = 'BDAT'
        elif verb == 'DATA':
            code = replies[n][0] if n < len(replies) else None
            if code is not None and not code.startswith('3'):
                continue                        # DATA refused: no body follows
            # body ends with CRLF.CRLF (or is just ".CRLF")
            end = 3 if data.startswith(b'.\r\n', pos) else None
            if end is None:
                i = data.find(b'\r\n.\r\n', pos)
                end = None if i < 0 else i - pos + 5
            if end is None:
                break                           # body not complete in capture
            pos += end
            n += 1
            cmds.append({'verb': '.', 'reply': n, 'end': pos, 'eom': True, 'body': 'DATA'})
    return cmds


def analyse(c, keylog=None):
    c2s, s2c, tls = c.c2s, c.s2c, None
    views = decrypt_views(c, keylog or {})
    if views is not None:
        c2s, s2c, tls = views
    replies = parse_replies(s2c)
    cmds = parse_commands(bytes(c2s.data), replies)
    r = {'conn': c.n, 'client': c.client, 'server': c.server, 'tls': tls,
         'handshake_ms': None if c.t_synack is None else (c.t_synack - c.t_syn) * 1000}
    banner_t = s2c.time_of(0) if s2c and replies else None
    first_c = c2s.first_payload_t
    first_verb = cmds[0]['verb'] if cmds else ''
    r['banner_ms'] = None if banner_t is None else (banner_t - c.t_syn) * 1000
    r['syn_data'] = c.syn_data_acked
    r['first_data_ms'] = None if first_c is None else (first_c - c.t_syn) * 1000
    r['early'] = bool(first_c is not None and first_verb in ('EHLO', 'HELO', 'LHLO') and
                      (banner_t is None or first_c < banner_t))
    before = []
    if banner_t is not None:
        for cmd in cmds:
            t = c2s.time_of(cmd['end'] - 1)
            if t is None or t >= banner_t:
                break
            if cmd['verb'] != '.':
                before.append(cmd['verb'])
    r['before_banner'] = before
    r['messages'] = []
    for cmd in cmds:
        if not cmd['eom']:
            continue
        rep = replies[cmd['reply']] if cmd['reply'] < len(replies) else None
        if rep is None:
            r['messages'].append({'body': cmd['body'], 'eom_ms': None, 'code': None})
            continue
        t = s2c.time_of(rep[1] - 1)
        r['messages'].append({'body': cmd['body'], 'eom_ms': (t - c.t_syn) * 1000,
                              'code': rep[0], 'reply': rep[2][:60]})
    first = r['messages'][0] if r['messages'] else {'body': None, 'eom_ms': None, 'code': None}
    r['eom_ms'], r['eom_code'], r['body'] = first['eom_ms'], first['code'], first['body']
    r['commands'] = [cmd['verb'] for cmd in cmds]
    return r


def print_timeline(c):
    names = ((0x02, 'SYN'), (0x10, 'ACK'), (0x08, 'PSH'), (0x01, 'FIN'), (0x04, 'RST'))
    for t, d, fl, pl in c.events:
        flags = '+'.join(n for bit, n in names if fl & bit)
        text = ' | '.join(l[:40] for l in pl.decode('latin-1').split('\r\n') if l)[:150]
        print('    %8.2f ms  %s  %-15s %5dB  %s' % ((t - c.t_syn) * 1000, d, flags, len(pl), text))


def fmt(x, spec='%.1f'):
    return 'NA' if x is None else spec % x


def main(argv):
    args = [a for a in argv[1:]]
    opts = {'--rtt-ms': None, '--skip': '0', '--keylog': None}
    for o in list(opts):
        if o in args:
            i = args.index(o)
            opts[o] = args[i + 1]
            del args[i:i + 2]
    as_json = '--json' in args
    quiet = '-q' in args
    timeline = '--timeline' in args
    args = [a for a in args if a not in ('--json', '-q', '--timeline')]
    if len(args) != 2 or not args[1].isdigit():
        sys.stderr.write(__doc__)
        return 2
    path, port = args[0], int(args[1])
    conns = connections(path, port)
    keylog = read_keylog(opts['--keylog']) if opts['--keylog'] else None
    results = [analyse(c, keylog) for c in conns]
    hs = [r['handshake_ms'] for r in results if r['handshake_ms'] is not None]
    if opts['--rtt-ms'] is not None:
        rtt, rtt_src = float(opts['--rtt-ms']), 'given'
    elif hs:
        rtt, rtt_src = statistics.median(hs), 'median SYN->SYN-ACK'
    else:
        rtt, rtt_src = None, 'unknown'
    for r in results:
        r['eom_rtt'] = None if rtt is None or r['eom_ms'] is None else r['eom_ms'] / rtt
        r['first_rtt'] = None if rtt is None or r['banner_ms'] is None else r['banner_ms'] / rtt
    counted = results[int(opts['--skip']):]
    eoms = [r['eom_ms'] for r in counted if r['eom_ms'] is not None]
    firsts = [r['banner_ms'] for r in counted if r['banner_ms'] is not None]
    summary = {'conns': len(counted), 'skipped': len(results) - len(counted), 'rtt_ms': rtt,
               'rtt_source': rtt_src, 'early': sum(r['early'] for r in counted),
               'with_eom': len(eoms),
               'median_eom_ms': statistics.median(eoms) if eoms else None,
               'median_first_ms': statistics.median(firsts) if firsts else None,
               'syn_data': sum(r['syn_data'] for r in counted)}
    summary['median_eom_rtt'] = (None if rtt is None or summary['median_eom_ms'] is None
                                 else summary['median_eom_ms'] / rtt)
    summary['median_first_rtt'] = (None if rtt is None or summary['median_first_ms'] is None
                                   else summary['median_first_ms'] / rtt)
    if as_json:
        json.dump({'port': port, 'connections': results, 'summary': summary}, sys.stdout, indent=1)
        print()
        return 0
    for r in results:
        if not quiet:
            print('=== connection %d  %s -> %s' % (r['conn'], r['client'], r['server']))
            print('  SYN->SYN-ACK %s ms, banner at %s ms, first client data at %s ms: %s' % (
                fmt(r['handshake_ms']), fmt(r['banner_ms']), fmt(r['first_data_ms']),
                'EARLY (EHLO before the banner)' if r['early'] else 'WAIT (client waited for the banner)'))
            if r['before_banner']:
                print('  written before the banner arrived: ' + ','.join(r['before_banner']))
            conn = conns[r['conn'] - 1]
            if conn.syn_len:
                print('  the SYN carried %d octets: %s' % (conn.syn_len, 'taken by the server (TCP Fast Open; its SYN-ACK acknowledged them)'
                      if r['syn_data'] else 'NOT acknowledged by the SYN-ACK (sent again after the handshake)'))
            if r['tls']:
                t = r['tls']
                print('  TLS (%s): %s, suite %s, %s' % (t['tls'], t['version'], t['suite'],
                      'decrypted' if t['decrypted'] else 'NOT decrypted (no --keylog or no keys): replies after the handshake unknown'))
            print('  commands: ' + ' '.join(r['commands']))
            if timeline:
                print_timeline(conns[r['conn'] - 1])
            for m in r['messages']:
                print('  SYN -> end-of-message reply (%s): %s ms%s  [%s]' % (
                    m['body'], fmt(m['eom_ms']),
                    '' if rtt is None or m['eom_ms'] is None else ' = %.2f RTT' % (m['eom_ms'] / rtt),
                    m.get('reply') or 'no reply'))
        print('RESULT conn=%d client=%s early=%d eom_ms=%s eom_rtt=%s eom_code=%s body=%s before_banner=%s tls=%s first_ms=%s first_rtt=%s syn_data=%d' % (
            r['conn'], r['client'], int(r['early']), fmt(r['eom_ms']), fmt(r['eom_rtt'], '%.2f'),
            r['eom_code'] or 'NA', r['body'] or 'NA', ','.join(r['before_banner']) or '-',
            'no' if not r['tls'] else '%s:%s' % (r['tls']['tls'], 'decrypted' if r['tls']['decrypted'] else 'opaque'),
            fmt(r['banner_ms']), fmt(r['first_rtt'], '%.2f'), int(r['syn_data'])))
    print('SUMMARY conns=%d skipped=%d rtt_ms=%s rtt_source=%s median_eom_ms=%s median_eom_rtt=%s early=%d with_eom=%d'
          ' median_first_ms=%s median_first_rtt=%s syn_data=%d' % (
              summary['conns'], summary['skipped'], fmt(rtt), rtt_src.replace(' ', '_'),
              fmt(summary['median_eom_ms']), fmt(summary['median_eom_rtt'], '%.2f'),
              summary['early'], summary['with_eom'],
              fmt(summary['median_first_ms']), fmt(summary['median_first_rtt'], '%.2f'), summary['syn_data']))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
