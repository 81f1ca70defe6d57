#!/usr/bin/env python3
"""Serves the metric catalogue of issue 6 with made-up, steadily growing values, for checking the dashboard's
queries against a real Prometheus before the proxy serves /metrics itself (grafana/test/check.sh --live).

Every series the catalogue names is here, with every label value it allows, for two listeners:
"smtp" (inbound) and "smarthost" (outbound). Counters grow linearly with time; gauges are constant.

usage: fake_exporter.py PORT   (listens on 127.0.0.1 only; GET /metrics, GET /healthz)
"""
import itertools
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTENERS = [("smtp", "inbound"), ("smarthost", "outbound")]
BUCKETS = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
START = time.monotonic()


def labels(**kv):
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def combos(**choices):
    keys = list(choices)
    for values in itertools.product(*(choices[k] for k in keys)):
        yield dict(zip(keys, values))


def render():
    t = time.monotonic() - START + 1.0
    out = []

    def family(name, kind, help_text):
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    def sample(name, value, **kv):
        out.append(f"{name}{labels(**kv) if kv else ''} {value}")

    per_listener = [dict(listener=l, direction=d) for l, d in LISTENERS]

    family("earlypipe_sessions_total", "counter", "SMTP sessions.")
    for base in per_listener:
        for i, c in enumerate(combos(early=["used", "advertised", "not_advertised"], tls=["none", "starttls", "implicit"],
                                     outcome=["completed", "closed", "error"])):
            sample("earlypipe_sessions_total", round(t * (0.2 + 0.05 * i), 3), **base, **c)

    family("earlypipe_messages_total", "counter", "Messages at end of data.")
    for base in per_listener:
        for i, outcome in enumerate(["accepted", "rejected"]):
            sample("earlypipe_messages_total", round(t * (2.0 - i * 1.5), 3), **base, outcome=outcome)

    family("earlypipe_round_trips_saved_total", "counter", "Round trips a lockstep exchange would have taken minus those used.")
    for base in per_listener:
        sample("earlypipe_round_trips_saved_total", round(t * 3.0, 3), **base)
    family("earlypipe_saved_seconds_total", "counter", "Round trips saved times the session's measured RTT.")
    for base in per_listener:
        sample("earlypipe_saved_seconds_total", round(t * 0.15, 4), **base)

    family("earlypipe_early_input_total", "counter", "Inbound input before the banner.")
    for l, d in LISTENERS:
        if d == "inbound":
            sample("earlypipe_early_input_total", round(t * 1.0, 3), listener=l, decision="accepted")
            sample("earlypipe_early_input_total", round(t * 0.1, 3), listener=l, decision="refused")

    family("earlypipe_ehlo_cache_lookups_total", "counter", "EHLO cache lookups.")
    sample("earlypipe_ehlo_cache_lookups_total", round(t * 1.6, 3), result="hit")
    sample("earlypipe_ehlo_cache_lookups_total", round(t * 0.4, 3), result="miss")

    family("earlypipe_ehlo_cache_changes_total", "counter", "EHLO cache entries stored, rewritten or confirmed.")
    for i, change in enumerate(["stored", "rewritten", "confirmed"]):
        sample("earlypipe_ehlo_cache_changes_total", round(t * (0.3 + 0.1 * i), 3), change=change)

    family("earlypipe_ehlo_cache_flushes_total", "counter", "EHLO cache entries flushed, by reason.")
    for i, reason in enumerate(["keyword_withdrawn", "bad_banner", "connection_failed", "transient_rejection",
                                "permanent_rejection", "expired", "operator", "evicted", "early_input_refused"]):
        sample("earlypipe_ehlo_cache_flushes_total", round(t * 0.01 * (i + 1), 4), reason=reason)

    family("earlypipe_ehlo_cache_entries", "gauge", "Entries in the EHLO cache.")
    sample("earlypipe_ehlo_cache_entries", 42)

    for name, scale in [("earlypipe_upstream_connect_seconds", 0.3), ("earlypipe_upstream_reply_seconds", 1.0)]:
        family(name, "histogram", "Upstream latency.")
        for base in per_listener:
            count = t * 2.0
            for i, le in enumerate(BUCKETS):
                share = min(1.0, (i + 1) / 10 * scale) if le != "+Inf" else 1.0
                sample(f"{name}_bucket", round(count * share, 3), **base, le=le)
            sample(f"{name}_sum", round(count * 0.05 * scale, 4), **base)
            sample(f"{name}_count", round(count, 3), **base)

    family("earlypipe_replies_total", "counter", "Replies relayed to clients, by class.")
    for base in per_listener:
        for i, cls in enumerate(["2xx", "3xx", "4xx", "5xx"]):
            sample("earlypipe_replies_total", round(t * [8.0, 2.0, 0.2, 0.1][i], 3), **base, **{"class": cls})

    family("earlypipe_active_connections", "gauge", "Client connections open.")
    for base in per_listener:
        sample("earlypipe_active_connections", 3, **base)

    family("earlypipe_bytes_total", "counter", "Bytes relayed.")
    for base in per_listener:
        sample("earlypipe_bytes_total", round(t * 4000.0), **base, flow="from_client")
        sample("earlypipe_bytes_total", round(t * 600.0), **base, flow="to_client")

    family("earlypipe_tls_handshakes_total", "counter", "TLS handshakes.")
    for base in per_listener:
        for c in combos(side=["client", "upstream"], resumed=["true", "false"]):
            sample("earlypipe_tls_handshakes_total", round(t * (0.6 if c["resumed"] == "true" else 0.4), 3), **base, **c)

    family("earlypipe_listener_up", "gauge", "1 while the listener accepts connections.")
    for base in per_listener:
        sample("earlypipe_listener_up", 1, **base)
    family("earlypipe_upstream_up", "gauge", "1 when the upstream answered its last probe.")
    for base in per_listener:
        sample("earlypipe_upstream_up", 1, **base)

    return "\n".join(out) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/metrics":
            body, status, ctype = render().encode(), 200, "text/plain; version=0.0.4; charset=utf-8"
        elif self.path == "/healthz":
            body, status, ctype = b"healthy\n", 200, "text/plain"
        else:
            body, status, ctype = b"not found\n", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
