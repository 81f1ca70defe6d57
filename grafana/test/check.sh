#!/usr/bin/env bash
# Checks grafana/dashboards/earlypipe.json without Grafana or Docker:
#   1. the JSON parses, panel ids are unique; the template variables are there ($datasource of type datasource /
#      prometheus, $instance, $listener, $direction from label_values(...)); every panel but a row has a unit, a
#      description and the ${datasource} datasource, and so has each of its query targets; every metric selector of
#      every expr filters on instance=~"$instance";
#   2. every expr, with $instance/$listener/$direction -> .* and $__rate_interval -> 1m, is valid PromQL
#      (written as recording rules and checked with `promtool check rules`);
#   3. with --live: a throw-away Prometheus on 127.0.0.1 scrapes fake_exporter.py (the metric catalogue with
#      made-up values) and every expr must evaluate to a non-empty result, as must the template variables'
#      label_values queries. Needs the `prometheus` binary (Debian: apt-get install prometheus; this script
#      starts its own instance on a free loopback port and stops it, nothing else).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dashboard="$here/../dashboards/earlypipe.json"
live=false
[[ "${1:-}" == "--live" ]] && live=true

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Expressions as "title<TAB>expr" lines, variables substituted for a given rate interval.
exprs() {
    python3 - "$dashboard" "$1" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
variables = {v["name"]: v for v in d["templating"]["list"]}
assert {"datasource", "instance", "listener", "direction"} <= set(variables), set(variables)
ds = variables["datasource"]
assert ds["type"] == "datasource" and ds["query"] == "prometheus", ds
for name in ("instance", "listener", "direction"):
    v = variables[name]
    assert v["type"] == "query" and v["datasource"]["uid"] == "${datasource}", (name, v)
    assert re.fullmatch(r"label_values\(earlypipe_\w+(\{[^}]*\})?, %s\)" % name, v["definition"]), (name, v["definition"])
    assert v["query"]["query"] == v["definition"], (name, v["query"])
ours = {"uid": "${datasource}", "type": "prometheus"}
selector = re.compile(r"(earlypipe_[a-z_]+)(\{[^}]*\})?")
for p in d["panels"]:
    if p["type"] == "row":
        continue
    assert p.get("description", "").strip(), ("no description", p["title"])
    assert p.get("fieldConfig", {}).get("defaults", {}).get("unit", "").strip(), ("no unit", p["title"])
    assert p.get("datasource") == ours, ("panel datasource is not ${datasource}", p["title"], p.get("datasource"))
    assert p.get("targets"), ("no targets", p["title"])
    for t in p["targets"]:
        assert t.get("expr") and t.get("refId"), (p["title"], t)
        assert t.get("datasource") == ours, ("target datasource is not ${datasource}", p["title"], t.get("datasource"))
        for m in selector.finditer(t["expr"]):
            assert m.group(2) and 'instance=~"$instance"' in m.group(2), ("selector without instance=~\"$instance\"", p["title"], m.group(0))
        e = (t["expr"].replace("$__rate_interval", sys.argv[2])
             .replace("$instance", ".*").replace("$listener", ".*").replace("$direction", ".*"))
        assert "$" not in e, ("unsubstituted variable", p["title"], e)
        print(p["title"] + "\t" + e)
PY
}

exprs 1m > "$work/exprs.tsv"
echo "dashboard: $(wc -l < "$work/exprs.tsv") expressions"
{
    echo "groups:"
    echo "  - name: dashboard"
    echo "    rules:"
    i=0
    while IFS=$'\t' read -r title expr; do
        i=$((i + 1))
        printf '      - record: dashboard:expr%d\n        expr: %s\n' "$i" "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$expr")"
    done < "$work/exprs.tsv"
} > "$work/rules.yml"
promtool check rules "$work/rules.yml"

$live || exit 0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
exporter_port="$(free_port)"
prom_port="$(free_port)"
python3 "$here/fake_exporter.py" "$exporter_port" & pids+=($!)
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: earlypipe
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
YML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 & pids+=($!)

query() { # $1 = PromQL; prints the number of series in the result, or fails
    curl -fsS --max-time 10 "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"]=="success", r; print(len(r["data"]["result"]))'
}

# Wait for about 15 one-second scrapes so that rate() over 10s has samples everywhere.
for _ in $(seq 1 60); do
    [[ "$(query 'count_over_time(earlypipe_listener_up[1m]) >= 15' 2>/dev/null || echo 0)" != 0 ]] && break
    sleep 1
done

exprs 10s > "$work/exprs-live.tsv"
failed=0
while IFS=$'\t' read -r title expr; do
    if n="$(query "$expr")" && [[ "$n" -gt 0 ]]; then
        printf 'ok    %2d series  %s\n' "$n" "$title"
    else
        printf 'FAIL  empty or error  %s: %s\n' "$title" "$expr"
        failed=$((failed + 1))
    fi
done < "$work/exprs-live.tsv"

# The template variables: label_values(earlypipe_listener_up, instance), ..., listener and ..., direction.
for label in instance listener direction; do
    values="$(curl -fsS --max-time 10 "http://127.0.0.1:$prom_port/api/v1/label/$label/values" \
        --data-urlencode 'match[]=earlypipe_listener_up' -G | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["data"]))')"
    if [[ -n "$values" ]]; then echo "ok    variable \$$label: $values"; else echo "FAIL  variable \$$label has no values"; failed=$((failed + 1)); fi
done

total="$(wc -l < "$work/exprs-live.tsv")"
echo "$((total + 3 - failed)) passed, $failed failed"
[[ "$failed" == 0 ]]
