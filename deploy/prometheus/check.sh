#!/usr/bin/env bash
# Checks the Prometheus rules of EarlyPipeProxy without a running proxy (needs promtool: Debian's prometheus package,
# which tests/peers/install.sh installs; python3 with PyYAML):
#   1. `promtool check rules earlypipe-rules.yml`;
#   2. `promtool test rules earlypipe-rules.test.yml`: series in, alerts out, for every alert;
#   3. every alert of the rules file has, in the test file, a case where it fires and one where it must not
#      (an eval with exp_alerts: []), so a new alert cannot come without its test;
#   4. `promtool check config` on docker/prometheus.yml next to this rules file, as compose.yaml mounts them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
promtool=${PROMTOOL:-promtool}

"$promtool" check rules "$here/earlypipe-rules.yml"
(cd "$here" && "$promtool" test rules earlypipe-rules.test.yml)

python3 - "$here/earlypipe-rules.yml" "$here/earlypipe-rules.test.yml" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
fires, silent = set(), set()
for t in tests["tests"]:
    for case in t.get("alert_rule_test", []):
        (fires if case.get("exp_alerts") else silent).add(case["alertname"])
missing = [f"{a}: no firing case" for a in alerts if a not in fires] + [f"{a}: no not-firing case" for a in alerts if a not in silent]
unknown = sorted((fires | silent) - set(alerts))
assert not missing and not unknown, (missing, unknown)
print(f"alert tests: {len(alerts)} alerts, each with a firing and a not-firing case")
PY

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$root/docker/prometheus.yml" "$here/earlypipe-rules.yml" "$work/"
"$promtool" check config "$work/prometheus.yml"
