#!/usr/bin/env python3
"""Writes packaging/grafana/ippoc.json, the Grafana dashboard over the node's
metrics (docs/metrics.md). Edit the panels here, then run this script: the
JSON is generated so that every panel has the same selectors and layout."""
import json
import os

panels = []
state = {"id": 0, "x": 0, "y": 0}


def sel(metric, extra=""):
    return metric + '{job=~"$job", instance=~"$instance"' + extra + "}"


def row(title):
    state["id"] += 1
    state["x"] = 0
    panels.append({"type": "row", "title": title, "id": state["id"], "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": state["y"]}, "panels": []})
    state["y"] += 1


def end_row():
    state["x"] = 0
    state["y"] += 8


def panel(title, exprs, unit="short", kind="timeseries", w=8, desc=""):
    state["id"] += 1
    if state["x"] + w > 24:
        end_row()
    options = ({"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries"
               else {"reduceOptions": {"calcs": ["lastNotNull"]}})
    p = {"type": kind, "title": title, "id": state["id"],
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"h": 8, "w": w, "x": state["x"], "y": state["y"]},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": options,
         "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend} for i, (e, legend) in enumerate(exprs)]}
    if desc:
        p["description"] = desc
    panels.append(p)
    state["x"] += w


def rate(metric, window="5m", extra=""):
    return f"rate({sel(metric, extra)}[{window}])"


row("Ledger")
panel("Own chain head", [(sel("ippoc_ledger_head_seq"), "{{instance}}{{node}}")], desc="Seq of the newest entry this node signed.")
panel("Entries received / s", [(f"sum by (instance, outcome) ({rate('ippoc_ledger_entries_received_total')})", "{{instance}}{{node}} {{outcome}}")], unit="ops")
panel("Pending entries and forks", [(sel("ippoc_ledger_pending_entries"), "{{instance}}{{node}} pending"), (sel("ippoc_ledger_forks"), "{{instance}}{{node}} forks")])
panel("Wallet balance (IPPC)", [(sel("ippoc_ledger_balance", ', account="wallet", currency="IPPC"'), "{{instance}}{{node}}")])
sink = sel("ippoc_ledger_balance", ', account="metabolism_sink", currency="IPPC"')
panel("Metabolism burnt (IPPC / h)", [(f"deriv({sink}[1h]) * 3600", "{{instance}}{{node}}")], desc="The swarm-wide sink as this node sees it.")
panel("Worker Mode", [(sel("ippoc_ledger_worker_mode"), "{{instance}}{{node}}")], kind="stat")
end_row()
row("Mesh")
panel("Peers", [(sel("ippoc_mesh_peers"), "{{instance}}{{node}}"), (sel("ippoc_swarm_members"), "{{instance}}{{node}} members")])
panel("Gossip by verdict / s", [(f"sum by (topic, verdict) ({rate('ippoc_mesh_gossip_messages_total')})", "{{topic}} {{verdict}}")], unit="ops")
panel("Bans by reason", [(f"sum by (reason) ({sel('ippoc_mesh_bans')})", "{{reason}}")])
panel("Sync rounds / min", [(f"sum by (instance, outcome) ({rate('ippoc_sync_rounds_total')}) * 60", "{{instance}}{{node}} {{outcome}}")])
panel("Sync bytes: moved vs missing", [(rate("ippoc_sync_received_bytes_total"), "{{instance}}{{node}} received"), (rate("ippoc_sync_missing_bytes_total"), "{{instance}}{{node}} missing")], unit="Bps")
panel("Checkpoint votes (newest tally)", [(f"sum by (instance, agreement) ({sel('ippoc_checkpoint_tally_votes')})", "{{instance}}{{node}} {{agreement}}")])
end_row()
row("Sandbox")
panel("Runs by outcome / min", [(f"sum by (outcome) ({rate('ippoc_sandbox_runs_total')}) * 60", "{{outcome}}")])
buckets = rate("ippoc_sandbox_run_duration_seconds_bucket")
panel("Run duration p50 / p99", [(f"histogram_quantile(0.5, sum by (le) ({buckets}))", "p50"), (f"histogram_quantile(0.99, sum by (le) ({buckets}))", "p99")], unit="s")
panel("Fuel / s and module loads", [(rate("ippoc_sandbox_fuel_total"), "{{instance}}{{node}} fuel"), (f"sum by (source) ({rate('ippoc_sandbox_module_loads_total')})", "loads {{source}}")])
end_row()
row("DAO and anchoring")
panel("Epochs: now, voted, anchored", [(sel("ippoc_checkpoint_epoch"), "{{instance}}{{node}} now"), (sel("ippoc_checkpoint_voted_epoch"), "{{instance}}{{node}} voted"), (sel("ippoc_checkpoint_anchored_epoch"), "{{instance}}{{node}} anchored")])
panel("Anchor submissions / h", [(f"sum by (outcome) (increase({sel('ippoc_anchor_submissions_total')}[1h]))", "{{outcome}}"), (f"increase({sel('ippoc_anchor_conflicts_total')}[1h])", "{{instance}}{{node}} conflicts")])
panel("Chain read age", [(f"time() - {sel('ippoc_governance_last_read_timestamp_seconds')}", "{{instance}}{{node}}")], unit="s")
panel("Parameter table version", [(sel("ippoc_governance_parameters_version"), "{{instance}}{{node}}")], kind="stat")
panel("L2 block read", [(sel("ippoc_governance_chain_block"), "{{instance}}{{node}}")], kind="stat")
panel("Skills", [(f"sum by (state) ({sel('ippoc_governance_skills')})", "{{state}}")], kind="stat")
end_row()
row("Integrity and issuance")
panel("GI vs tier floor", [(sel("ippoc_gi"), "{{instance}}{{node}} GI"), (sel("ippoc_integrity_tier_floor"), "{{instance}}{{node}} floor"), (sel("ippoc_gi_swarm"), "{{instance}}{{node}} swarm GI")], unit="percentunit")
panel("Tier", [(f"{sel('ippoc_integrity_tier')} == 1", "{{instance}}{{node}} {{tier}}")], kind="stat")
panel("Band and mint gate", [(f"{sel('ippoc_issuance_band')} == 1", "{{instance}}{{node}} {{band}}"), (sel("ippoc_issuance_mint_open"), "{{instance}}{{node}} mint open"), (sel("ippoc_issuance_tripwires"), "{{instance}}{{node}} tripwires")])
panel("Reserve (units)", [(sel("ippoc_issuance_reserve_accrued"), "{{instance}}{{node}} accrued"), (sel("ippoc_issuance_reserve_unsealed"), "{{instance}}{{node}} unsealed")])
panel("Tranches", [(f"sum by (instance, state) ({sel('ippoc_issuance_tranches')})", "{{instance}}{{node}} {{state}}")])
end_row()
row("Process")
panel("Resident memory", [(sel("process_resident_memory_bytes"), "{{instance}}{{node}}")], unit="bytes")
panel("CPU", [(rate("process_cpu_seconds_total"), "{{instance}}{{node}}")], unit="percentunit")
panel("Open fds and free disk", [(sel("process_open_fds"), "{{instance}}{{node}} fds"), (sel("ippoc_storage_free_bytes"), "{{instance}}{{node}} free bytes")])
end_row()

query = {"type": "prometheus", "uid": "${datasource}"}
dashboard = {
    "title": "IPPOC node", "uid": "ippoc-node", "schemaVersion": 39, "version": 1, "editable": True,
    "tags": ["ippoc"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
    "description": "IPPOC node metrics (docs/metrics.md), for live nodes and for the simulator's metrics.prom.",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "job", "type": "query", "datasource": query, "query": "label_values(ippoc_build_info, job)",
         "includeAll": True, "allValue": ".*", "multi": True, "current": {"text": "All", "value": "$__all"}},
        {"name": "instance", "type": "query", "datasource": query,
         "query": 'label_values(ippoc_build_info{job=~"$job"}, instance)',
         "includeAll": True, "allValue": ".*", "multi": True, "current": {"text": "All", "value": "$__all"}},
    ]},
    "panels": panels,
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packaging", "grafana", "ippoc.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
