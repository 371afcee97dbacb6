#!/usr/bin/env bash
# Regenerates grafana/schema/*.schema.json: JSON Schemas derived from the
# TypeScript types of Grafana's @grafana/schema package (Apache-2.0), at the
# version that matches the grafana-foundation-sdk flavour we generate with
# (11.6). Needs node and npm; the tests only read the committed result, so
# neither CI nor developers need npm otherwise.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund @grafana/schema@11.6.16 ts-json-schema-generator@2.4.0 \
    typescript@5 >/dev/null
raw=node_modules/@grafana/schema/dist/esm/raw
out="$repo/grafana/schema"

# The dashboard itself: panels may carry fields the types do not list.
npx ts-json-schema-generator --path "$raw/dashboard/x/dashboard_types.gen.d.ts" \
    --type Dashboard --no-type-check --additional-properties \
    -o "$out/dashboard.schema.json"

# Per panel type, the strict schemas of its options and custom field config.
for pair in timeseries:TimeSeries:Options timeseries:TimeSeries:FieldConfig \
            stat:Stat:Options statetimeline:StateTimeline:Options \
            statetimeline:StateTimeline:FieldConfig; do
    IFS=: read -r dir name type <<<"$pair"
    npx ts-json-schema-generator \
        --path "$raw/composable/$dir/panelcfg/x/${name}PanelCfg_types.gen.d.ts" \
        --type "$type" --no-type-check -o "$out/$dir.$type.schema.json"
done
echo "wrote $out"
